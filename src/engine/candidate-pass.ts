/**
 * One streamed pass that scores several pruned variants of a model without writing any of them:
 * the planner's candidates.
 *
 * A variant is the dense checkpoint seen through a cut: a subset of vocabulary rows (embedding and
 * lm_head, gathered in memory) and per layer a subset of FFN channels (gate/up rows and down_proj
 * columns, sliced from the dense layer in memory; the down_proj columns can come from a hook, e.g.
 * a least-squares refit). Each layer's dense weights are read once per pass and every variant's
 * token windows advance through it with its own slice, so K variants cost one read of the model
 * and K forward passes over their (short) held-out texts, and nothing touches the disk.
 *
 * Memory: one layer of dense weights in f32 and the next as stored (LayerLoader), one variant's
 * slice at a time (its buffers reused by the next variant of the same width), the residual streams
 * of every variant's windows, and one block of lm_head rows (head-graph.ts `vocabBlock`). The
 * caller bounds the residual streams by grouping variants (see planner.ts).
 *
 * The numbers are the engine's: the same layer and head graphs (built for I′ and V′), the same
 * batching by length, so a variant's score equals `evaluateText` on its written checkpoint.
 */
import ort from './ort.ts';
import type { AttentionKind, ModelSpec, TensorRole } from '../families/types.ts';
import { openCheckpoint } from '../io/safetensors.ts';
import { buildHeadGraph, HEAD_IO } from './head-graph.ts';
import { buildLayerGraph, ffnRowBlock, ffnRowBlocks, LAYER_IO } from './layer-graph.ts';
import { weightInput } from './decoder-layer.ts';
import { sessionOptions as engineSessionOptions } from './session-options.ts';
import { ropeTables } from './rope-tables.ts';
import { globalPlan, LayerLoader, loadTensor, validateCheckpoint } from './weights.ts';
import type { EngineOptions } from './runner.ts';
import { readModelConfig } from '../families/model-config.ts';

export interface VariantText {
  /** Windows of input ids in the variant's own (new) numbering. */
  inputs: Int32Array[];
  /** Per window the ids to predict (same length as the input; −1 = not scored). */
  targets: Int32Array[];
}

export interface Variant {
  /** New id → dense embedding/lm_head row (the pruned tokenizer's `newToOld`). */
  rows: Int32Array;
  /** Per layer the kept FFN channels (ascending), or null to keep them all. */
  channels: Int32Array[] | null;
  texts: VariantText[];
  /** down_proj of this variant at a layer instead of the plain slice (e.g. the refit), see DownProjHook. */
  downProj?: DownProjHook;
}

/**
 * down_proj columns of a variant at a layer: [D × I′] row-major in the order of `channels`, or
 * null for the plain slice of `dense` ([D × I], the dense layer as read). The refit plugs in here.
 */
export type DownProjHook = (layer: number, channels: Int32Array, dense: Float32Array) => Promise<Float32Array | null>;

export interface VariantScore {
  /** Per text: Σ −log p(target) in nats over the scored targets, and how many were scored. */
  texts: Array<{ nll: number; tokens: number }>;
}

export interface PassProgress {
  layer: number;
  layers: number;
}

/** Tokens per batch, as the engine batches calibration and evaluation. */
const BATCH_TOKENS = 2048;
/** Logit elements per lm_head chunk (128 MB of f32), as the engine. */
const HEAD_CHUNK_ELEMENTS = 1 << 25;
/** Weight elements per lm_head block (256 MiB of f32): 16,384 rows at D = 4,096. */
const HEAD_BLOCK_ELEMENTS = 1 << 26;

interface Batch {
  windows: number[];
  len: number;
  hidden: Float32Array;
}

/** Scores every variant on its texts in one read of the model's weights. */
export async function scoreVariants(
  dir: string,
  variants: Variant[],
  opts: EngineOptions & {
    onProgress?: (p: PassProgress) => void;
    /** lm_head rows per block (default: 256 MiB of f32); tests set it small to cross blocks. */
    headBlockRows?: number;
  } = {},
): Promise<VariantScore[]> {
  const { spec } = readModelConfig(dir);
  const ckpt = await openCheckpoint(dir);
  const sessionOptions = engineSessionOptions({ device: opts.device, threads: opts.threads, memArena: opts.memArena });
  try {
    validateCheckpoint(spec, ckpt);
    const D = spec.hidden;
    const I = spec.intermediate;
    const gp = globalPlan(spec);
    // Per variant, per text, its batches (the residual streams of its windows).
    const batches: Batch[][][] = [];
    let maxLen = 1;
    for (const v of variants) {
      const perText: Batch[][] = [];
      for (const t of v.texts) {
        for (const w of t.inputs) maxLen = Math.max(maxLen, w.length);
        perText.push(await embed(ckpt, spec, gp.embed.name, v.rows, t.inputs));
      }
      batches.push(perText);
    }
    const rope = ropeFeeds(spec, maxLen);
    const layerModels = new Map<string, Uint8Array>();
    const loader = new LayerLoader(spec, ckpt, 'f32');
    let scratch = new Float32Array(0);
    const slicePool = new Map<string, Float32Array>();
    for (let l = 0; l < spec.layers; l++) {
      const weights = await loader.load(l);
      if (l + 1 < spec.layers) loader.prefetch(l + 1);
      const kind = spec.layerTypes[l]!;
      for (let vi = 0; vi < variants.length; vi++) {
        const v = variants[vi]!;
        const channels = v.channels?.[l] ?? null;
        const width = channels ? channels.length : I;
        const feeds: Record<string, ort.Tensor> = {};
        for (const [role, t] of weights) feeds[weightInput(role)] = t;
        if (channels) {
          for (const [role, t] of sliceFfn(spec, weights, channels, slicePool)) feeds[weightInput(role)] = t;
          const down = v.downProj ? await v.downProj(l, channels, weights.get('down')!.data as Float32Array) : null;
          if (down) {
            if (down.length !== D * width) throw new Error(`down_proj hook: layer ${l} variant ${vi}: ${down.length} values for [${D}, ${width}]`);
            feeds[weightInput('down')] = new ort.Tensor('float32', down, [D, width]);
          }
        }
        // This variant's sessions live only while its windows pass this layer: each session's
        // arena keeps its high-water mark (the attention buffer of a window: 235 MB at the 0.5B
        // shape), and one per candidate width held at once was the planner's peak (§2c).
        const live = new Map<string, ort.InferenceSession>();
        try {
          for (const textBatches of batches[vi]!) {
            for (const b of textBatches) {
              const B = b.windows.length;
              const blocks = ffnRowBlocks(B * b.len, opts.ffnRowBlock ?? ffnRowBlock(I));
              const key = `layer:${kind}:${width}:${blocks.join(',')}`;
              let s = live.get(key);
              if (!s) {
                let bytes = layerModels.get(key);
                if (!bytes) layerModels.set(key, (bytes = buildLayerGraph({ ...spec, intermediate: width }, { kind, act2: false, precision: 'f32', device: opts.device, ffnRowBlocks: blocks })));
                s = await ort.InferenceSession.create(bytes, sessionOptions);
                live.set(key, s);
              }
              if (scratch.length < b.hidden.length) scratch = new Float32Array(b.hidden.length);
              const y = scratch.subarray(0, b.hidden.length);
              await s.run(
                {
                  ...feeds,
                  [LAYER_IO.x]: new ort.Tensor('float32', b.hidden, [B, b.len, D]),
                  [LAYER_IO.seqlensK]: new ort.Tensor('int32', new Int32Array(B).fill(b.len - 1), [B]),
                  [LAYER_IO.totalLen]: new ort.Tensor('int32', Int32Array.of(b.len), []),
                  [LAYER_IO.cos]: rope[kind].cos,
                  [LAYER_IO.sin]: rope[kind].sin,
                },
                { [LAYER_IO.y]: new ort.Tensor('float32', y, [B, b.len, D]) },
              );
              b.hidden.set(y);
            }
          }
        } finally {
          for (const s of live.values()) await s.release();
        }
      }
      opts.onProgress?.({ layer: l, layers: spec.layers });
    }

    const norm = await loadTensor(spec, ckpt, gp.finalNorm, 'f32');
    const out: VariantScore[] = [];
    const blockRows = opts.headBlockRows ?? Math.max(1, Math.floor(HEAD_BLOCK_ELEMENTS / D));
    // One session for every variant and block (the block's rows are a symbolic dim).
    const head = await ort.InferenceSession.create(buildHeadGraph(spec, { normed: false, logits: false, logprobs: true, vocabBlock: true, precision: 'f32' }), sessionOptions);
    try {
      for (let vi = 0; vi < variants.length; vi++) {
        const v = variants[vi]!;
        out.push({ texts: await blockedHeadNll(head, norm, (r0, r1) => ckpt.readRowsFloat32(gp.lmHead.name, v.rows.subarray(r0, r1)), v.rows.length, blockRows, batches[vi]!, v.texts.map((t) => t.targets), D) });
        batches[vi] = []; // the residual streams of a scored variant are not needed any more
      }
    } finally {
      await head.release();
    }
    return out;
  } finally {
    await ckpt.close();
  }
}

/**
 * The kept gate/up rows (and biases) of one layer; down_proj's kept columns. Into `pool`'s
 * buffers, one per role and size: each variant's slice is used up before the next is cut, and
 * fresh ones (428 MB a variant at the 8B shape) would wait for the GC in the meantime.
 */
function sliceFfn(spec: ModelSpec, weights: Map<TensorRole, ort.Tensor>, channels: Int32Array, pool: Map<string, Float32Array>): Map<TensorRole, ort.Tensor> {
  const take = (role: TensorRole, n: number): Float32Array => {
    const key = `${role}:${n}`;
    let b = pool.get(key);
    if (!b) {
      // One size per role: a pool of every candidate width would hold them all.
      for (const k of [...pool.keys()]) if (k.startsWith(`${role}:`)) pool.delete(k);
      pool.set(key, (b = new Float32Array(n)));
    }
    return b;
  };
  const D = spec.hidden;
  const I = spec.intermediate;
  const n = channels.length;
  const out = new Map<TensorRole, ort.Tensor>();
  const fused = weights.get('gate_up');
  if (fused) {
    // Phi-3's gate_up_proj: gate rows [0, I), then up rows [I, 2I); keep the same channels of both.
    const w = fused.data as Float32Array;
    const s = take('gate_up', 2 * n * D);
    for (let b = 0; b < 2; b++) for (let p = 0; p < n; p++) s.set(w.subarray((b * I + channels[p]!) * D, (b * I + channels[p]! + 1) * D), (b * n + p) * D);
    out.set('gate_up', new ort.Tensor('float32', s, [2 * n, D]));
  }
  for (const role of ['gate', 'up'] as const) {
    if (!weights.has(role)) continue;
    const w = weights.get(role)!.data as Float32Array;
    const s = take(role, n * D);
    for (let p = 0; p < n; p++) s.set(w.subarray(channels[p]! * D, (channels[p]! + 1) * D), p * D);
    out.set(role, new ort.Tensor('float32', s, [n, D]));
  }
  for (const role of ['gate_bias', 'up_bias'] as const) {
    const t = weights.get(role);
    if (!t) continue;
    const w = t.data as Float32Array;
    out.set(role, new ort.Tensor('float32', Float32Array.from(channels, (c) => w[c]!), [n]));
  }
  const down = weights.get('down')!.data as Float32Array;
  const s = take('down', D * n);
  for (let h = 0; h < D; h++) {
    const row = h * I;
    const o = h * n;
    for (let p = 0; p < n; p++) s[o + p] = down[row + channels[p]!]!;
  }
  out.set('down', new ort.Tensor('float32', s, [D, n]));
  return out;
}

/** Batches windows by length and fills their residual streams from the gathered embedding rows. */
async function embed(ckpt: Awaited<ReturnType<typeof openCheckpoint>>, spec: ModelSpec, name: string, rows: Int32Array, windows: Int32Array[]): Promise<Batch[]> {
  const D = spec.hidden;
  const used = new Map<number, number>();
  const unique: number[] = [];
  for (const w of windows) {
    for (const id of w) {
      const row = rows[id]!;
      if (!used.has(row)) {
        used.set(row, unique.length);
        unique.push(row);
      }
    }
  }
  const data = await ckpt.readRowsFloat32(name, unique);
  const scale = spec.embedMultiplier;
  if (scale !== 1) for (let i = 0; i < data.length; i++) data[i] = data[i]! * scale;
  const byLen = new Map<number, number[]>();
  windows.forEach((w, i) => {
    const list = byLen.get(w.length);
    if (list) list.push(i);
    else byLen.set(w.length, [i]);
  });
  const out: Batch[] = [];
  for (const [len, members] of [...byLen].sort((a, b) => a[0] - b[0])) {
    const per = Math.max(1, Math.floor(BATCH_TOKENS / len));
    for (let i = 0; i < members.length; i += per) {
      const group = members.slice(i, i + per);
      const hidden = new Float32Array(group.length * len * D);
      group.forEach((wi, bi) => {
        const w = windows[wi]!;
        for (let p = 0; p < len; p++) {
          const r = used.get(rows[w[p]!]!)!;
          hidden.set(data.subarray(r * D, (r + 1) * D), (bi * len + p) * D);
        }
      });
      out.push({ windows: group, len, hidden });
    }
  }
  return out;
}

/**
 * Per text, Σ −log p(target) over its targeted positions, with the lm_head read and run one block
 * of `blockRows` vocabulary rows at a time (head-graph.ts `vocabBlock`): each block gives every
 * position its logsumexp and, where the target falls in it, the target's logit; the blocks'
 * logsumexps combine in float64. Only one [blockRows, D] f32 block is in memory (256 MiB), where a
 * whole lm_head gather was 2 GiB per variant at the 8B shape (and 6 GiB of peak RSS with the
 * garbage of the previous variant's).
 */
async function blockedHeadNll(
  session: ort.InferenceSession,
  norm: ort.Tensor,
  readRows: (r0: number, r1: number) => Promise<Float32Array>,
  V: number,
  blockRows: number,
  textBatches: Batch[][],
  targets: Int32Array[][],
  D: number,
): Promise<Array<{ nll: number; tokens: number }>> {
  // Per text, the targeted (batch, row) positions in order, their targets, and the running sums.
  const texts = textBatches.map((batches, ti) => {
    const where: Array<[Batch, number]> = [];
    const tgt: number[] = [];
    for (const b of batches) {
      for (let r = 0; r < b.windows.length * b.len; r++) {
        const t = targets[ti]![b.windows[Math.floor(r / b.len)]!]![r % b.len]!;
        if (t >= 0) {
          where.push([b, r]);
          tgt.push(t);
        }
      }
    }
    return { where, tgt, lse: new Float64Array(where.length).fill(-Infinity), picked: new Float64Array(where.length) };
  });
  const chunk = Math.max(16, Math.floor(HEAD_CHUNK_ELEMENTS / Math.min(blockRows, V)));
  const x = new Float32Array(chunk * D);
  const local = new BigInt64Array(chunk);
  for (let r0 = 0; r0 < V; r0 += blockRows) {
    const r1 = Math.min(V, r0 + blockRows);
    const weight = new ort.Tensor('float32', await readRows(r0, r1), [r1 - r0, D]);
    for (const t of texts) {
      for (let i0 = 0; i0 < t.where.length; i0 += chunk) {
        const n = Math.min(chunk, t.where.length - i0);
        for (let i = 0; i < n; i++) {
          const [b, r] = t.where[i0 + i]!;
          x.set(b.hidden.subarray(r * D, (r + 1) * D), i * D);
          const id = t.tgt[i0 + i]!;
          local[i] = BigInt(id >= r0 && id < r1 ? id - r0 : 0);
        }
        const res = await session.run({
          [HEAD_IO.x]: new ort.Tensor('float32', x.subarray(0, n * D), [n, D]),
          [HEAD_IO.norm]: norm,
          [HEAD_IO.weight]: weight,
          [HEAD_IO.targets]: new ort.Tensor('int64', local.subarray(0, n), [n]),
        });
        const lse = res[HEAD_IO.lse]!.data as Float32Array;
        const picked = res[HEAD_IO.picked]!.data as Float32Array;
        for (let i = 0; i < n; i++) {
          const k = i0 + i;
          const a = t.lse[k]!;
          const b = lse[i]!;
          const m = Math.max(a, b);
          t.lse[k] = m + Math.log(Math.exp(a - m) + Math.exp(b - m));
          const id = t.tgt[k]!;
          if (id >= r0 && id < r1) t.picked[k] = picked[i]!;
        }
      }
    }
  }
  return texts.map((t) => {
    let nll = 0;
    for (let k = 0; k < t.where.length; k++) nll += t.lse[k]! - t.picked[k]!;
    return { nll, tokens: t.where.length };
  });
}

function ropeFeeds(spec: ModelSpec, positions: number): Record<AttentionKind, { cos: ort.Tensor; sin: ort.Tensor }> {
  const make = (kind: AttentionKind) => {
    const t = ropeTables(spec.rope[kind], spec.rotaryDim, positions);
    return { cos: new ort.Tensor('float32', t.cos, [positions, t.half]), sin: new ort.Tensor('float32', t.sin, [positions, t.half]) };
  };
  const full = make('full');
  return { full, sliding: JSON.stringify(spec.rope.full) === JSON.stringify(spec.rope.sliding) ? full : make('sliding') };
}
