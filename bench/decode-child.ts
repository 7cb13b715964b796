/**
 * Child process of the decode bench (bench/decode-speed.ts). Prints one JSON line.
 *
 * - mode "memory": one model, one greedy generation; peak RSS of this process = that model's
 *   (f32 weights + cache + onnxruntime), alone.
 * - mode "speed": the dense model stays open while each variant is opened in turn; dense and
 *   variant generations alternate, so every ratio compares runs taken seconds apart in the same
 *   process (the machine is shared and noisy: only such ratios mean much).
 *
 *   node --import tsx bench/decode-child.ts '<DecodeChildOptions as JSON>'
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { KvDecoder, type GenerateResult } from '../src/engine/kv-decoder.ts';
import { loadTokenizer } from '../src/tokenizer/tokenize.ts';
import { peakRssMiB, reply } from './common.ts';

export interface DecodeChildOptions {
  mode: 'memory' | 'speed';
  /** memory: the model; speed: the dense model. */
  dense: string;
  variants?: { name: string; dir: string }[];
  textFile: string;
  promptTokens: number;
  newTokens: number;
  reps: number;
  threads: number;
}

/** Figures of one generation. */
export interface GenRun {
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  /** Decode time per token, split: the decoder layers and the final norm + lm_head. */
  decodeLayersMsPerToken: number;
  decodeHeadMsPerToken: number;
  prefillHeadMs: number;
  /** Load average (1 min) when the run ended. */
  load1: number;
}

const o = JSON.parse(process.argv[2]!) as DecodeChildOptions;
// Only the start of the text is needed; tokenizing 1.3 MB with the JS tokenizer would dominate.
const text = readFileSync(o.textFile, 'utf8').slice(0, 64 * o.promptTokens);

/** The same text as a prompt of exactly `promptTokens` ids of this model's own tokenizer. */
function promptFor(dir: string): Int32Array {
  const tok = loadTokenizer(dir);
  const ids = tok.encode(text);
  if (ids.length + 1 < o.promptTokens) throw new Error(`${o.textFile}: ${ids.length} tokens, fewer than the prompt's ${o.promptTokens}`);
  const out = new Int32Array(o.promptTokens);
  out[0] = tok.streamStartId;
  out.set(ids.subarray(0, o.promptTokens - 1), 1);
  return out;
}

function figures(r: GenerateResult): GenRun {
  return {
    prefillTokensPerSecond: o.promptTokens / r.prefillSeconds,
    decodeTokensPerSecond: r.decodeSteps / r.decodeSeconds,
    decodeLayersMsPerToken: r.decode.layersMs / r.decodeSteps,
    decodeHeadMsPerToken: r.decode.headMs / r.decodeSteps,
    prefillHeadMs: r.prefill.headMs,
    load1: loadavg()[0]!,
  };
}

async function open(dir: string): Promise<{ dec: KvDecoder; prompt: Int32Array }> {
  const prompt = promptFor(dir);
  const dec = await KvDecoder.open(dir, { threads: o.threads, capacity: o.promptTokens + o.newTokens });
  // Warm-up: session initialisation and ORT's arena growth are not the model's speed.
  await dec.generate(prompt.subarray(0, Math.min(16, prompt.length)), 2);
  return { dec, prompt };
}

if (o.mode === 'memory') {
  const rssBefore = process.memoryUsage().rss / 2 ** 20;
  const { dec, prompt } = await open(o.dense);
  const afterOpen = process.memoryUsage().rss / 2 ** 20;
  const r = await dec.generate(prompt, o.newTokens);
  await dec.close();
  reply({ maxRssMiB: peakRssMiB(), afterOpenRssMiB: afterOpen, baseRssMiB: rssBefore, run: figures(r) });
} else {
  const dense = await open(o.dense);
  const out: Record<string, { dense: GenRun[]; variant: GenRun[] }> = {};
  for (const v of o.variants ?? []) {
    const variant = await open(v.dir);
    const runs = { dense: [] as GenRun[], variant: [] as GenRun[] };
    for (let rep = 0; rep < o.reps; rep++) {
      // Alternate the order each rep so neither side always runs on a warmer or quieter machine.
      const order = rep % 2 === 0 ? ['dense', 'variant'] : ['variant', 'dense'];
      for (const which of order) {
        const m = which === 'dense' ? dense : variant;
        runs[which as 'dense' | 'variant'].push(figures(await m.dec.generate(m.prompt, o.newTokens)));
      }
    }
    await variant.dec.close();
    out[v.name] = runs;
  }
  await dense.dec.close();
  reply(out);
}
