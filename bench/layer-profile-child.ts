/**
 * Child process of the bigger-than-RAM bench: the per-layer figures a projection to larger models
 * needs, measured on the layer-streamed Engine in a process of its own.
 *
 * - mode "forward": a calibration pass (act² of every layer) over `sequences` × `seqLen` tokens;
 *   per layer: wall time since the previous layer and RSS when it finished; peak RSS.
 * - mode "load": reads and converts `layers` layers' weights (bf16 → f32) with the engine's
 *   LayerLoader and nothing else: the I/O + conversion part of a layer's time.
 *
 *   node --import tsx bench/layer-profile-child.ts '{"mode":"forward","dir":…,"sequences":2,"seqLen":512,"threads":2}'
 */
import { readModelConfig } from '../src/families/model-config.ts';
import { Engine } from '../src/engine/runner.ts';
import { LayerLoader } from '../src/engine/weights.ts';
import { openCheckpoint } from '../src/io/safetensors.ts';
import { peakRssMiB, reply } from './common.ts';

interface Options {
  mode: 'forward' | 'load';
  dir: string;
  sequences?: number;
  seqLen?: number;
  layers?: number;
  /** forward: stop after this layer (0-based); the steady state shows after a few layers. */
  lastLayer?: number;
  threads: number;
}

const o = JSON.parse(process.argv[2]!) as Options;
const rss = () => process.memoryUsage().rss / 2 ** 20;

if (o.mode === 'forward') {
  const engine = await Engine.open(o.dir, { threads: o.threads });
  const openRssMiB = rss();
  const V = engine.spec.vocabSize;
  // Deterministic ids spread over the vocabulary; speed and memory do not depend on the text.
  const seqs = Array.from({ length: o.sequences! }, (_, s) => Int32Array.from({ length: o.seqLen! }, (_, i) => (s * 104729 + i * 7919 + 11) % V));
  const layerMs: number[] = [];
  const layerRssMiB: number[] = [];
  let last = performance.now();
  const t0 = last;
  const r = await engine.forward(seqs, { act2: true, lastLayer: o.lastLayer }, () => {
    const now = performance.now();
    layerMs.push(now - last);
    layerRssMiB.push(rss());
    last = now;
  });
  await engine.close();
  reply({ openRssMiB, maxRssMiB: peakRssMiB(), seconds: (performance.now() - t0) / 1000, tokens: r.tokens, layerMs, layerRssMiB });
} else {
  const { spec } = readModelConfig(o.dir);
  const ckpt = await openCheckpoint(o.dir);
  const loader = new LayerLoader(spec, ckpt, 'f32');
  const loadMs: number[] = [];
  for (let l = 0; l < o.layers!; l++) {
    const t = performance.now();
    await loader.load(l);
    loadMs.push(performance.now() - t);
  }
  await ckpt.close();
  reply({ loadMs, maxRssMiB: peakRssMiB() });
}
