/**
 * Greedy generation with a KV cache on onnxruntime-node: how fast a (pruned) checkpoint runs as a
 * language model, prefill and decode, not how fast it calibrates.
 *
 * Unlike the layer-streamed `Engine`, the whole model stays resident (this is for models that fit):
 * every weight is read once into f32 and fed to one graph per layer shape as zero-copy inputs, so
 * memory is the f32 model + the cache. A decode step runs each layer on one token against its cache,
 * then the final norm and lm_head on that token only; the time of the lm_head is kept apart from
 * the layers' so a benchmark can say how much of a speed-up comes from the vocabulary (lm_head
 * rows) and how much from the FFN (layer width).
 *
 * Batch size 1, f32 (the precision calibration uses, so the decoder can be checked against
 * `Engine.forward` logits).
 */
import { availableParallelism } from 'node:os';
import ort from './ort.ts';
import { CompactError } from '../errors.ts';
import { readModelConfig } from '../families/model-config.ts';
import type { AttentionKind, ModelSpec, TensorRole } from '../families/types.ts';
import { openCheckpoint } from '../io/safetensors.ts';
import { buildHeadGraph, HEAD_IO } from './head-graph.ts';
import { buildKvLayerGraph, KV_LAYER_IO } from './kv-layer-graph.ts';
import { weightInput } from './decoder-layer.ts';
import { ropeTables } from './rope-tables.ts';
import { sessionOptions } from './session-options.ts';
import { globalPlan, layerPlan, loadTensor, validateCheckpoint } from './weights.ts';

export interface KvDecoderOptions {
  /** Intra-op threads; default: all cores. */
  threads?: number;
  /** Longest prompt + generation the cache and rope tables are sized for; default min(max_position_embeddings, 4096). */
  capacity?: number;
}

/** Milliseconds spent so far, by part of the model. */
export interface DecoderTimings {
  embedMs: number;
  layersMs: number;
  headMs: number;
}

export interface GenerateResult {
  /** The generated ids (not the prompt). */
  ids: Int32Array;
  prefillSeconds: number;
  /** Time of the steps after the prefill (each one token in, one token out). */
  decodeSeconds: number;
  /** Decode steps run (ids.length − 1: the first new token comes from the prefill's logits). */
  decodeSteps: number;
  /** Split of prefill and decode time by part. */
  prefill: DecoderTimings;
  decode: DecoderTimings;
}

interface Cache {
  key: ort.Tensor;
  value: ort.Tensor;
}

export class KvDecoder {
  readonly #layerWeights: Map<TensorRole, ort.Tensor>[];
  readonly #embed: Float32Array;
  readonly #norm: ort.Tensor;
  readonly #lmHead: ort.Tensor;
  readonly #layerSessions: Record<AttentionKind, ort.InferenceSession | null>;
  readonly #head: ort.InferenceSession;
  readonly #rope: Record<AttentionKind, { cos: ort.Tensor; sin: ort.Tensor }>;
  #cache: Cache[] = [];
  #pos = 0;
  #closed = false;
  readonly timings: DecoderTimings = { embedMs: 0, layersMs: 0, headMs: 0 };

  private constructor(
    readonly dir: string,
    readonly spec: ModelSpec,
    readonly capacity: number,
    parts: {
      layerWeights: Map<TensorRole, ort.Tensor>[];
      embed: Float32Array;
      norm: ort.Tensor;
      lmHead: ort.Tensor;
      layerSessions: Record<AttentionKind, ort.InferenceSession | null>;
      head: ort.InferenceSession;
      rope: Record<AttentionKind, { cos: ort.Tensor; sin: ort.Tensor }>;
    },
  ) {
    this.#layerWeights = parts.layerWeights;
    this.#embed = parts.embed;
    this.#norm = parts.norm;
    this.#lmHead = parts.lmHead;
    this.#layerSessions = parts.layerSessions;
    this.#head = parts.head;
    this.#rope = parts.rope;
    this.reset();
  }

  /** Reads config.json and every weight (as f32) and builds the sessions. */
  static async open(dir: string, opts: KvDecoderOptions = {}): Promise<KvDecoder> {
    const { spec } = readModelConfig(dir);
    const threads = opts.threads ?? availableParallelism();
    if (!(Number.isInteger(threads) && threads >= 1)) throw new CompactError(`decoder: threads must be a positive integer, got ${threads}`);
    const capacity = opts.capacity ?? Math.min(spec.maxPositions, 4096);
    if (!(Number.isInteger(capacity) && capacity >= 1 && capacity <= spec.maxPositions)) {
      throw new CompactError(`decoder: capacity must be an integer in [1, ${spec.maxPositions}] (max_position_embeddings), got ${capacity}`);
    }
    const options = sessionOptions({ threads });
    const ckpt = await openCheckpoint(dir);
    const created: ort.InferenceSession[] = [];
    try {
      validateCheckpoint(spec, ckpt);
      const layerWeights: Map<TensorRole, ort.Tensor>[] = [];
      for (let l = 0; l < spec.layers; l++) {
        const m = new Map<TensorRole, ort.Tensor>();
        for (const t of layerPlan(spec, l)) m.set(t.role, await loadTensor(spec, ckpt, t, 'f32'));
        layerWeights.push(m);
      }
      const plan = globalPlan(spec);
      const embed = await ckpt.readFloat32(plan.embed.name);
      const norm = await loadTensor(spec, ckpt, plan.finalNorm, 'f32');
      // Tied: the lm_head is the embedding itself, one buffer for both.
      const lmHead = spec.tied ? new ort.Tensor('float32', embed, plan.lmHead.shape) : await loadTensor(spec, ckpt, plan.lmHead, 'f32');

      const session = async (model: Uint8Array) => {
        const s = await ort.InferenceSession.create(model, options);
        created.push(s);
        return s;
      };
      const kinds = new Set(spec.layerTypes);
      const layerSessions: Record<AttentionKind, ort.InferenceSession | null> = {
        full: kinds.has('full') ? await session(buildKvLayerGraph(spec, 'full')) : null,
        sliding: kinds.has('sliding') ? await session(buildKvLayerGraph(spec, 'sliding')) : null,
      };
      const head = await session(buildHeadGraph(spec, { normed: false, logits: true, logprobs: false, precision: 'f32' }));
      const ropeFor = (kind: AttentionKind) => {
        const t = ropeTables(spec.rope[kind], spec.rotaryDim, capacity);
        return { cos: new ort.Tensor('float32', t.cos, [capacity, t.half]), sin: new ort.Tensor('float32', t.sin, [capacity, t.half]) };
      };
      const full = ropeFor('full');
      const sameRope = JSON.stringify(spec.rope.full) === JSON.stringify(spec.rope.sliding);
      const rope = { full, sliding: sameRope ? full : ropeFor('sliding') };
      return new KvDecoder(dir, spec, capacity, { layerWeights, embed, norm, lmHead, layerSessions, head, rope });
    } catch (e) {
      for (const s of created) await s.release();
      throw e;
    } finally {
      await ckpt.close();
    }
  }

  /** Positions held in the cache. */
  get position(): number {
    return this.#pos;
  }

  /** Empties the cache (the next `append` is a new prompt). */
  reset(): void {
    const { kvHeads, headDim: H } = this.spec;
    const empty = (): ort.Tensor => new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, H]);
    this.#cache = Array.from({ length: this.spec.layers }, () => ({ key: empty(), value: empty() }));
    this.#pos = 0;
  }

  /**
   * Runs `ids` after what the cache holds (a whole prompt, or one token) and returns the logits
   * of the last position, [vocab_size].
   */
  async append(ids: Int32Array): Promise<Float32Array> {
    if (this.#closed) throw new Error('KvDecoder.append after close()');
    const spec = this.spec;
    const { hidden: D, vocabSize: V } = spec;
    const S = ids.length;
    if (S === 0) throw new CompactError('decoder: nothing to append (0 tokens)');
    if (this.#pos + S > this.capacity) {
      throw new CompactError(`decoder: ${this.#pos} cached + ${S} new positions exceed the capacity ${this.capacity}`);
    }
    let t0 = performance.now();
    const x = new Float32Array(S * D);
    const scale = spec.embedMultiplier;
    for (let p = 0; p < S; p++) {
      const id = ids[p]!;
      if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new CompactError(`decoder: token id ${id} is outside the vocabulary (vocab_size ${V})`);
      const row = this.#embed.subarray(id * D, (id + 1) * D);
      if (scale === 1) x.set(row, p * D);
      else for (let d = 0; d < D; d++) x[p * D + d] = row[d]! * scale;
    }
    let t1 = performance.now();
    this.timings.embedMs += t1 - t0;

    const total = this.#pos + S;
    const seqlensK = new ort.Tensor('int32', Int32Array.of(total - 1), [1]);
    const totalLen = new ort.Tensor('int32', Int32Array.of(total), []);
    let hidden: ort.Tensor = new ort.Tensor('float32', x, [1, S, D]);
    for (let l = 0; l < spec.layers; l++) {
      const kind = spec.layerTypes[l]!;
      const feeds: Record<string, ort.Tensor> = {
        [KV_LAYER_IO.x]: hidden,
        [KV_LAYER_IO.pastKey]: this.#cache[l]!.key,
        [KV_LAYER_IO.pastValue]: this.#cache[l]!.value,
        [KV_LAYER_IO.seqlensK]: seqlensK,
        [KV_LAYER_IO.totalLen]: totalLen,
        [KV_LAYER_IO.cos]: this.#rope[kind].cos,
        [KV_LAYER_IO.sin]: this.#rope[kind].sin,
      };
      for (const [role, t] of this.#layerWeights[l]!) feeds[weightInput(role)] = t;
      const out = await this.#layerSessions[kind]!.run(feeds);
      hidden = out[KV_LAYER_IO.y]!;
      this.#cache[l] = { key: out[KV_LAYER_IO.presentKey]!, value: out[KV_LAYER_IO.presentValue]! };
    }
    this.#pos = total;
    t0 = performance.now();
    this.timings.layersMs += t0 - t1;

    // Only the last position's logits are needed to pick the next token.
    const last = (hidden.data as Float32Array).subarray((S - 1) * D, S * D);
    const out = await this.#head.run({
      [HEAD_IO.x]: new ort.Tensor('float32', last, [1, D]),
      [HEAD_IO.norm]: this.#norm,
      [HEAD_IO.weight]: this.#lmHead,
    });
    t1 = performance.now();
    this.timings.headMs += t1 - t0;
    const logits = out[HEAD_IO.logits]!.data as Float32Array;
    if (logits.length !== V) throw new Error(`head returned ${logits.length} logits, expected ${V}`);
    return logits;
  }

  /**
   * Greedy generation of `maxNew` tokens after `prompt` (from an empty cache). `stopIds` end it
   * early; benchmarks pass none so every run generates the same number of tokens.
   */
  async generate(prompt: Int32Array, maxNew: number, opts: { stopIds?: number[]; onLogits?: (logits: Float32Array, step: number) => void } = {}): Promise<GenerateResult> {
    if (!(Number.isInteger(maxNew) && maxNew >= 1)) throw new CompactError(`decoder: maxNew must be a positive integer, got ${maxNew}`);
    this.reset();
    const stop = new Set(opts.stopIds ?? []);
    const snap = (): DecoderTimings => ({ ...this.timings });
    const diff = (a: DecoderTimings, b: DecoderTimings): DecoderTimings => ({
      embedMs: b.embedMs - a.embedMs,
      layersMs: b.layersMs - a.layersMs,
      headMs: b.headMs - a.headMs,
    });
    const t0 = performance.now();
    const s0 = snap();
    let logits = await this.append(prompt);
    const t1 = performance.now();
    const s1 = snap();
    const ids: number[] = [];
    for (let step = 0; ; step++) {
      opts.onLogits?.(logits, step);
      const next = argmax(logits);
      ids.push(next);
      if (ids.length >= maxNew || stop.has(next)) break;
      logits = await this.append(Int32Array.of(next));
    }
    const t2 = performance.now();
    return {
      ids: Int32Array.from(ids),
      prefillSeconds: (t1 - t0) / 1000,
      decodeSeconds: (t2 - t1) / 1000,
      decodeSteps: ids.length - 1,
      prefill: diff(s0, s1),
      decode: diff(s1, snap()),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [this.#layerSessions.full, this.#layerSessions.sliding, this.#head]) if (s) await s.release();
  }
}

/** Index of the largest logit (the first one on ties, as torch.argmax). */
export function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}
