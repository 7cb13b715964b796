/**
 * The layer-streamed forward pass: embeddings → decoder layers → final norm → lm_head, on
 * onnxruntime-node.
 *
 * Layers are streamed: for each layer its weights are loaded (the next layer's bytes are read while
 * the current layer computes), every sequence is run through it, act² is accumulated in float64,
 * and the buffers are reused by the next layer. Peak memory is therefore about one layer's weights
 * in f32 + one as stored + the hidden states of all sequences + one batch's activations, whatever
 * the depth of the model (weights.ts, LayerLoader).
 */
import ort from './ort.ts';
import { CompactError } from '../errors.ts';
import { readModelConfig } from '../families/model-config.ts';
import { expertCount, ffnWidth } from '../families/templates.ts';
import type { AttentionKind, ModelSpec } from '../families/types.ts';
import { f32ToF16 } from '../io/dtype.ts';
import { openCheckpoint, type Checkpoint } from '../io/safetensors.ts';
import { buildHeadGraph, HEAD_IO, type HeadGraphOptions } from './head-graph.ts';
import { runHeadOnTargets } from './head-targets.ts';
import { weightInput } from './decoder-layer.ts';
import { buildLayerGraph, ffnRowBlock, ffnRowBlocks, LAYER_IO, type Precision } from './layer-graph.ts';
import { ropeTables } from './rope-tables.ts';
import { sessionOptions } from './session-options.ts';
import { globalPlan, LayerLoader, loadTensor, validateCheckpoint } from './weights.ts';
import { Gemm } from './gemm.ts';
import { scaleInput } from './int8-weights.ts';

export interface EngineOptions {
  device?: 'cpu' | 'webgpu';
  /** Intra-op threads; default: all cores. */
  threads?: number;
  /** Compute precision of projections, attention and FFN (norms, residuals and act² stay f32). */
  precision?: Precision;
  /**
   * Positions per lm_head chunk. Default: as many as keep a chunk's logits within 128 MB of f32.
   * Tests set it small to cross chunk and sequence boundaries.
   */
  headChunkRows?: number;
  /**
   * Rows per FFN block in the layer graphs (layer-graph.ts ffnRowBlock). Default: by the FFN
   * width. Tests set it small to cross block boundaries on short fixtures.
   */
  ffnRowBlock?: number;
  /** onnxruntime's CPU arena (session-options.ts); default on. The benches compare both. */
  memArena?: boolean;
}

export interface ForwardRequest {
  /** Per layer, per FFN channel: Σ_t w_t·(act(gate)·up)², accumulated in float64. */
  act2?: boolean;
  /** Per sequence, per position weight of act2; default all 1. */
  tokenWeights?: Float32Array[];
  /**
   * Several weightings of act2 accumulated in the same pass ([set][sequence], each like
   * `tokenWeights`) → `act2Sets`. A planner comparing K vocabulary cuts needs act² under K token
   * masks; one pass with K weight vectors costs a [K, tokens] × [tokens, I] GEMM per batch instead
   * of K passes through every layer. Exclusive with `tokenWeights`.
   */
  tokenWeightSets?: Float32Array[][];
  /**
   * Per layer, the mean over tokens of cos(layer input, layer output) on the residual stream, in
   * float64 → `layerCosine`. ShortGPT's block influence is 1 − this.
   */
  layerCosine?: boolean;
  /**
   * All hidden states, HF convention: the embeddings output, then each layer's output; when the
   * whole model runs, the last entry is after the final norm (as transformers returns it).
   */
  hidden?: boolean;
  /** Full logits (tests and small models only: [S × V] per sequence). */
  logits?: boolean;
  /** Per sequence, per position: target id, or −1 to skip → `logprobs`. */
  targets?: Int32Array[];
  /**
   * With `targets`: also the argmax id at every targeted position → `argmax`. A greedy check
   * (LAMBADA) then costs what log-likelihood scoring costs, with no [S × V] logits copied out.
   */
  argmax?: boolean;
  /** Stop after this layer (0-based); calibration does not need the lm_head. */
  lastLayer?: number;
  /**
   * Per layer, the Gram matrix G = Σ_t a_t a_tᵀ of down_proj's input over every position, handed
   * over tile by tile of its upper triangle, batch by batch (the sink sums the batches): the
   * runner holds one tile, never G. A MoE gives one G per expert over the positions routed to it,
   * with a_t = w_te·act(gate_e)·up_e, the expert's input scaled by the token's (renormalised)
   * routing weight: W_e·a_t is the expert's share of the block output at t.
   */
  gram?: GramSink;
}

/** Receives the Gram tiles of `ForwardRequest.gram`. */
export interface GramSink {
  /** Tile side: tile i covers rows/columns [i·tile, min(I, (i+1)·tile)). */
  readonly tile: number;
  /**
   * One batch's tile (i, j), i ≤ j, of `layer`'s G (`expert`'s; 0 for a dense FFN): [rows of
   * tile i × rows of tile j] row-major f32, reused by the runner after the call. `first`: the
   * layer's first batch (nothing to add to).
   */
  add(layer: number, expert: number, i: number, j: number, block: Float32Array, first: boolean): void | Promise<void>;
}

export interface ForwardResult {
  /** [layer][channel]. */
  act2?: Float64Array[];
  /** [set][layer][channel], when `tokenWeightSets` was given. */
  act2Sets?: Float64Array[][];
  /** [layer]: mean cosine similarity between each layer's input and output. */
  layerCosine?: Float64Array;
  /** [state][seq], each flat [S·D]. */
  hidden?: Float32Array[][];
  /** [seq], each flat [S·V]. */
  logits?: Float32Array[];
  /** [seq][pos]: log p(target), NaN where the target is −1. */
  logprobs?: Float32Array[];
  /** [seq][pos]: the first maximal id of the logits, −1 where the target is −1 (`argmax`). */
  argmax?: Int32Array[];
  /** Tokens run through the layers. */
  tokens: number;
  seconds: number;
}

export interface ForwardProgress {
  /** Index of the layer just finished. */
  layer: number;
  /** Layers this pass runs. */
  layers: number;
  tokens: number;
  elapsedMs: number;
}

/** Sequences of one length run together, up to this many tokens per batch (bounds activations). */
const BATCH_TOKENS = 2048;
/** Logit elements per lm_head chunk: bounds the [positions × vocab] buffer to 128 MB of f32. */
const HEAD_CHUNK_ELEMENTS = 1 << 25;

interface Batch {
  /** Indices into the caller's sequences. */
  seqs: number[];
  len: number;
  /** Residual stream [B·S·D], replaced after each layer. */
  hidden: Float32Array;
}

export class Engine {
  readonly #ckpt: Checkpoint;
  readonly #precision: Precision;
  readonly #sessionOptions: ort.InferenceSession.SessionOptions;
  readonly #device: 'cpu' | 'webgpu';
  readonly #headChunkRows: number | undefined;
  readonly #ffnRowBlock: number;
  readonly #sessions = new Map<string, Promise<ort.InferenceSession>>();
  readonly #threads: number | undefined;
  #gemm: Gemm<'float32'> | null = null;
  #closed = false;

  private constructor(
    readonly dir: string,
    readonly spec: ModelSpec,
    ckpt: Checkpoint,
    opts: EngineOptions,
  ) {
    this.#ckpt = ckpt;
    this.#precision = opts.precision ?? 'f32';
    this.#device = opts.device ?? 'cpu';
    this.#headChunkRows = opts.headChunkRows;
    this.#ffnRowBlock = opts.ffnRowBlock ?? ffnRowBlock(spec.intermediate);
    this.#sessionOptions = sessionOptions({ device: this.#device, threads: opts.threads, memArena: opts.memArena });
    this.#threads = opts.threads;
  }

  /** Reads config.json and the checkpoint header(s), and validates every tensor the model needs. */
  static async open(dir: string, opts: EngineOptions = {}): Promise<Engine> {
    const { spec } = readModelConfig(dir);
    if (opts.precision !== undefined && opts.precision !== 'f32' && opts.precision !== 'f16' && opts.precision !== 'int8') {
      throw new CompactError(`engine: precision "${String(opts.precision)}" is not supported (f32, f16, int8)`);
    }
    if (opts.precision === 'int8' && opts.device === 'webgpu') throw new CompactError('engine: precision int8 runs on the CPU only (DynamicQuantizeMatMul); use f32 or f16 with --device webgpu');
    if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1)) {
      throw new CompactError(`engine: threads must be a positive integer, got ${opts.threads}`);
    }
    if (opts.headChunkRows !== undefined && !(Number.isInteger(opts.headChunkRows) && opts.headChunkRows >= 1)) {
      throw new CompactError(`engine: headChunkRows must be a positive integer, got ${opts.headChunkRows}`);
    }
    if (opts.ffnRowBlock !== undefined && !(Number.isInteger(opts.ffnRowBlock) && opts.ffnRowBlock >= 1)) {
      throw new CompactError(`engine: ffnRowBlock must be a positive integer, got ${opts.ffnRowBlock}`);
    }
    if (opts.device === 'webgpu' && !ort.listSupportedBackends().some((b) => b.name === 'webgpu')) {
      throw new CompactError('engine: device webgpu is not available in this onnxruntime-node build');
    }
    const ckpt = await openCheckpoint(dir);
    const engine = new Engine(dir, spec, ckpt, opts);
    try {
      validateCheckpoint(spec, ckpt);
      // Create one session now so a device that cannot run fails at open, not mid-pipeline.
      await engine.#layerSession(spec.layerTypes[0]!, false, false, 1);
    } catch (e) {
      await engine.close();
      throw e;
    }
    return engine;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#gemm?.close();
    const sessions = await Promise.allSettled(this.#sessions.values());
    this.#sessions.clear();
    for (const s of sessions) if (s.status === 'fulfilled') await s.value.release();
    await this.#ckpt.close();
  }

  async forward(seqs: Int32Array[], req: ForwardRequest = {}, onProgress?: (p: ForwardProgress) => void): Promise<ForwardResult> {
    if (this.#closed) throw new Error('Engine.forward after close()');
    const start = performance.now();
    const spec = this.spec;
    const D = spec.hidden;
    const lastLayer = req.lastLayer ?? spec.layers - 1;
    this.#validate(seqs, req, lastLayer);
    const fullModel = lastLayer === spec.layers - 1;
    const tokens = seqs.reduce((n, s) => n + s.length, 0);
    const result: ForwardResult = { tokens, seconds: 0 };
    if (seqs.length === 0) return result;

    const batches = await this.#embed(seqs);
    const hidden: Float32Array[][] | undefined = req.hidden ? [] : undefined;
    const record = (): void => {
      const state: Float32Array[] = new Array(seqs.length);
      for (const b of batches) b.seqs.forEach((s, i) => (state[s] = b.hidden.slice(i * b.len * D, (i + 1) * b.len * D)));
      hidden!.push(state);
    };
    if (hidden) record();

    const maxLen = Math.max(...seqs.map((s) => s.length));
    const rope = this.#ropeFeeds(maxLen);
    const weightSets = req.tokenWeightSets ?? (req.tokenWeights ? [req.tokenWeights] : null);
    const K = weightSets ? weightSets.length : 1;
    const tokw = req.act2 ? this.#tokenWeightFeeds(batches, weightSets, K) : null;
    // [layer][set·I + channel]; split per set at the end.
    const act2: Float64Array[] | undefined = req.act2 ? [] : undefined;
    const cosine = req.layerCosine ? new Float64Array(lastLayer + 1) : undefined;

    const loader = new LayerLoader(spec, this.#ckpt, this.#precision);
    // ORT writes each layer's output into `scratch`, copied back into the batch's own buffer: no
    // per-run allocation of B·S·D floats for the GC to chase.
    const scratch = new Float32Array(Math.max(...batches.map((b) => b.hidden.length)));
    const act2Out = new Float32Array(K * ffnWidth(spec));
    const gramI = spec.intermediate;
    const gramE = spec.moe ? expertCount(spec) : 1;
    const gramTile = req.gram ? new Float32Array(Math.min(gramI, req.gram.tile) ** 2) : null;
    const ffnInT = req.gram ? new Float32Array(gramE * gramI * Math.max(...batches.map((b) => b.seqs.length * b.len))) : null;
    for (let l = 0; l <= lastLayer; l++) {
      const weights = await loader.load(l);
      if (l < lastLayer) loader.prefetch(l + 1);
      const kind = spec.layerTypes[l]!;
      const acc = act2 ? new Float64Array(K * ffnWidth(spec)) : null;
      for (let bi = 0; bi < batches.length; bi++) {
        const b = batches[bi]!;
        const B = b.seqs.length;
        const session = await this.#layerSession(kind, !!req.act2, !!req.gram, B * b.len);
        const feeds: Record<string, ort.Tensor> = {
          [LAYER_IO.x]: new ort.Tensor('float32', b.hidden, [B, b.len, D]),
          [LAYER_IO.seqlensK]: new ort.Tensor('int32', new Int32Array(B).fill(b.len - 1), [B]),
          [LAYER_IO.totalLen]: new ort.Tensor('int32', Int32Array.of(b.len), []),
          [LAYER_IO.cos]: rope[kind].cos,
          [LAYER_IO.sin]: rope[kind].sin,
        };
        if (tokw) feeds[LAYER_IO.tokw] = tokw[bi]!;
        for (const [role, t] of weights) feeds[weightInput(role)] = t;
        for (const [role, t] of loader.scales) feeds[scaleInput(role)] = t;
        const y = scratch.subarray(0, b.hidden.length);
        const fetches: Record<string, ort.Tensor> = { [LAYER_IO.y]: new ort.Tensor('float32', y, [B, b.len, D]) };
        if (acc) fetches[LAYER_IO.act2] = new ort.Tensor('float32', act2Out, [K, ffnWidth(spec)]);
        const tokensIn = B * b.len;
        if (ffnInT) fetches[LAYER_IO.ffnInT] = new ort.Tensor('float32', ffnInT.subarray(0, gramE * gramI * tokensIn), spec.moe ? [gramE, gramI, tokensIn] : [gramI, tokensIn]);
        await session.run(feeds, fetches);
        if (cosine) cosine[l]! += cosineSum(b.hidden, y, D);
        b.hidden.set(y);
        if (acc) for (let i = 0; i < act2Out.length; i++) acc[i]! += act2Out[i]!;
        for (let e = 0; ffnInT && e < gramE; e++) await this.#gramTiles(l, e, ffnInT.subarray(e * gramI * tokensIn), gramI, tokensIn, req.gram!, gramTile!, bi === 0);
      }
      if (act2) act2.push(acc!);
      // The last layer's raw output is not an HF hidden state when the final norm follows.
      if (hidden && !(fullModel && l === lastLayer)) record();
      onProgress?.({ layer: l, layers: lastLayer + 1, tokens, elapsedMs: performance.now() - start });
    }
    if (act2) {
      const W = ffnWidth(spec);
      const perSet = Array.from({ length: K }, (_, k) => act2.map((acc) => acc.slice(k * W, (k + 1) * W)));
      if (req.tokenWeightSets) result.act2Sets = perSet;
      else result.act2 = perSet[0]!;
    }
    if (cosine) {
      for (let l = 0; l <= lastLayer; l++) cosine[l]! /= tokens;
      result.layerCosine = cosine;
    }

    if (fullModel && (req.hidden || req.logits || req.targets)) {
      const head = await this.#runHead(batches, seqs, req);
      if (hidden) hidden.push(head.normed!);
      if (req.logits) result.logits = head.logits;
      if (req.targets) result.logprobs = head.logprobs;
      if (req.argmax) result.argmax = head.argmax;
    }
    if (hidden) result.hidden = hidden;
    result.seconds = (performance.now() - start) / 1000;
    return result;
  }

  // ---------------------------------------------------------------------------------------------

  #validate(seqs: Int32Array[], req: ForwardRequest, lastLayer: number): void {
    const spec = this.spec;
    const V = spec.vocabSize;
    if (!(Number.isInteger(lastLayer) && lastLayer >= 0 && lastLayer < spec.layers)) {
      throw new CompactError(`${this.dir}: lastLayer ${lastLayer} is outside the model's layers 0..${spec.layers - 1}`);
    }
    if ((req.logits || req.targets) && lastLayer !== spec.layers - 1) {
      throw new CompactError(`${this.dir}: logits and logprobs need every layer; lastLayer ${lastLayer} stops early`);
    }
    if (req.argmax && !req.targets) throw new CompactError(`${this.dir}: argmax is reported at targeted positions; give targets`);
    if (req.tokenWeights && req.tokenWeightSets) throw new CompactError(`${this.dir}: give tokenWeights or tokenWeightSets, not both`);
    if (req.tokenWeightSets && req.tokenWeightSets.length === 0) throw new CompactError(`${this.dir}: tokenWeightSets is empty`);
    const checked: Array<readonly [string, ArrayLike<unknown>[] | undefined]> = [['tokenWeights', req.tokenWeights], ['targets', req.targets]];
    req.tokenWeightSets?.forEach((set, k) => checked.push([`tokenWeightSets[${k}]`, set]));
    for (const [name, arr] of checked) {
      if (!arr) continue;
      if (arr.length !== seqs.length) throw new CompactError(`${this.dir}: ${name} has ${arr.length} entries for ${seqs.length} sequences`);
      arr.forEach((a, i) => {
        if (a.length !== seqs[i]!.length) {
          throw new CompactError(`${this.dir}: ${name}[${i}] has ${a.length} positions, sequence ${i} has ${seqs[i]!.length} tokens`);
        }
      });
    }
    seqs.forEach((s, i) => {
      if (s.length === 0) throw new CompactError(`${this.dir}: sequence ${i} is empty`);
      if (s.length > spec.maxPositions) {
        throw new CompactError(
          `${this.dir}: sequence ${i} has ${s.length} tokens, more than max_position_embeddings ${spec.maxPositions} in config.json (truncate it)`,
        );
      }
      for (let p = 0; p < s.length; p++) {
        const id = s[p]!;
        if (!(id >= 0 && id < V)) {
          throw new CompactError(`${this.dir}: token id ${id} at position ${p} of sequence ${i} is outside the vocabulary (vocab_size ${V})`);
        }
      }
    });
    req.targets?.forEach((t, i) => {
      for (let p = 0; p < t.length; p++) {
        const id = t[p]!;
        if (id !== -1 && !(id >= 0 && id < V)) {
          throw new CompactError(`${this.dir}: target id ${id} at position ${p} of sequence ${i} is outside the vocabulary (vocab_size ${V})`);
        }
      }
    });
  }

  /** Groups sequences by length into batches and fills their residual streams with embeddings. */
  async #embed(seqs: Int32Array[]): Promise<Batch[]> {
    const spec = this.spec;
    const D = spec.hidden;
    const byLen = new Map<number, number[]>();
    seqs.forEach((s, i) => {
      const list = byLen.get(s.length);
      if (list) list.push(i);
      else byLen.set(s.length, [i]);
    });
    // Read each distinct embedding row once; `rowOf` maps a token id to its row in `rows`.
    const ids = new Uint8Array(spec.vocabSize);
    for (const s of seqs) for (let p = 0; p < s.length; p++) ids[s[p]!] = 1;
    const unique: number[] = [];
    const rowOf = new Int32Array(spec.vocabSize);
    for (let id = 0; id < ids.length; id++) {
      if (ids[id]) {
        rowOf[id] = unique.length;
        unique.push(id);
      }
    }
    const rows = await this.#ckpt.readRowsFloat32(globalPlan(spec).embed.name, unique);
    const scale = spec.embedMultiplier;
    if (scale !== 1) for (let i = 0; i < rows.length; i++) rows[i] = rows[i]! * scale;
    const batches: Batch[] = [];
    for (const [len, members] of [...byLen].sort((a, b) => a[0] - b[0])) {
      const per = Math.max(1, Math.floor(BATCH_TOKENS / len));
      for (let i = 0; i < members.length; i += per) {
        const group = members.slice(i, i + per);
        const hidden = new Float32Array(group.length * len * D);
        group.forEach((s, bi) => {
          const seq = seqs[s]!;
          for (let p = 0; p < len; p++) {
            const r = rowOf[seq[p]!]!;
            hidden.set(rows.subarray(r * D, (r + 1) * D), (bi * len + p) * D);
          }
        });
        batches.push({ seqs: group, len, hidden });
      }
    }
    return batches;
  }

  #ropeFeeds(positions: number): Record<AttentionKind, { cos: ort.Tensor; sin: ort.Tensor }> {
    const spec = this.spec;
    const make = (kind: AttentionKind) => {
      const t = ropeTables(spec.rope[kind], spec.rotaryDim, positions);
      const dims = [positions, t.half];
      if (this.#precision === 'f16') {
        return { cos: new ort.Tensor('float16', f32ToF16(t.cos), dims), sin: new ort.Tensor('float16', f32ToF16(t.sin), dims) };
      }
      return { cos: new ort.Tensor('float32', t.cos, dims), sin: new ort.Tensor('float32', t.sin, dims) };
    };
    const full = make('full');
    const sameRope = JSON.stringify(spec.rope.full) === JSON.stringify(spec.rope.sliding);
    return { full, sliding: sameRope ? full : make('sliding') };
  }

  /** Per batch, the [K, B, S] weights of act2 (all 1 when no weights were given). */
  #tokenWeightFeeds(batches: Batch[], sets: Float32Array[][] | null, K: number): ort.Tensor[] {
    return batches.map((b) => {
      const n = b.seqs.length * b.len;
      const w = new Float32Array(K * n);
      if (sets) sets.forEach((weights, k) => b.seqs.forEach((s, i) => w.set(weights[s]!, k * n + i * b.len)));
      else w.fill(1);
      return new ort.Tensor('float32', w, [K, b.seqs.length, b.len]);
    });
  }

  #session(key: string, build: () => Uint8Array): Promise<ort.InferenceSession> {
    let s = this.#sessions.get(key);
    if (!s) {
      s = ort.InferenceSession.create(build(), this.#sessionOptions).catch((e: Error) => {
        this.#sessions.delete(key);
        if (this.#device === 'webgpu') throw new CompactError(`engine: device webgpu is not usable here: ${e.message}`);
        throw e;
      });
      this.#sessions.set(key, s);
    }
    return s;
  }

  /**
   * The upper triangle of one batch's AᵀA (expert `expert`'s, for a MoE), tile by tile, from Aᵀ
   * [I × T]: tile (i, j) is the product of two contiguous row blocks of Aᵀ (onnxruntime f32 GEMM).
   */
  async #gramTiles(layer: number, expert: number, at: Float32Array, I: number, T: number, sink: GramSink, tile: Float32Array, first: boolean): Promise<void> {
    this.#gemm ??= new Gemm('float32', this.#threads);
    const s = sink.tile;
    for (let i = 0, r0 = 0; r0 < I; i++, r0 += s) {
      const ri = Math.min(s, I - r0);
      for (let j = i, c0 = r0; c0 < I; j++, c0 += s) {
        const cj = Math.min(s, I - c0);
        await this.#gemm.mul(at.subarray(r0 * T), at.subarray(c0 * T), { M: ri, K: T, N: cj, transB: true }, tile);
        await sink.add(layer, expert, i, j, tile.subarray(0, ri * cj), first);
      }
    }
  }

  /**
   * The layer graph for batches of `rows` positions: the FFN's row blocks are fixed in the graph
   * (layer-graph.ts ffnRowBlocks), so each batch shape gets its own session; calibration and
   * evaluation have one or two.
   */
  #layerSession(kind: AttentionKind, act2: boolean, gram: boolean, rows: number): Promise<ort.InferenceSession> {
    const blocks = ffnRowBlocks(rows, this.#ffnRowBlock);
    return this.#session(`layer:${kind}:${act2}:${gram}:${blocks.join(',')}`, () =>
      buildLayerGraph(this.spec, { kind, act2, gram, precision: this.#precision, device: this.#device, ffnRowBlocks: blocks }),
    );
  }

  #headSession(opts: HeadGraphOptions): Promise<ort.InferenceSession> {
    return this.#session(`head:${opts.normed}:${opts.logits}:${opts.logprobs}:${!!opts.argmax}`, () => buildHeadGraph(this.spec, opts));
  }

  /**
   * Final norm → lm_head over chunks of positions. The weight is loaded once; logits of a chunk
   * are copied out only when the caller asked for them.
   */
  async #runHead(
    batches: Batch[],
    seqs: Int32Array[],
    req: ForwardRequest,
  ): Promise<{ normed?: Float32Array[]; logits?: Float32Array[]; logprobs?: Float32Array[]; argmax?: Int32Array[] }> {
    const spec = this.spec;
    const { hidden: D, vocabSize: V } = spec;
    const opts: HeadGraphOptions = { normed: !!req.hidden, logits: !!req.logits, logprobs: !!req.targets, argmax: !!req.argmax, precision: this.#precision };
    const session = await this.#headSession(opts);
    const plan = globalPlan(spec);
    const norm = await loadTensor(spec, this.#ckpt, plan.finalNorm, this.#precision);
    const weight = opts.logits || opts.logprobs ? await loadTensor(spec, this.#ckpt, plan.lmHead, this.#precision) : null;
    const normed = opts.normed ? seqs.map((s) => new Float32Array(s.length * D)) : undefined;
    const logits = opts.logits ? seqs.map((s) => new Float32Array(s.length * V)) : undefined;
    const logprobs = opts.logprobs ? seqs.map((s) => new Float32Array(s.length)) : undefined;
    const argmax = opts.argmax ? seqs.map((s) => new Int32Array(s.length).fill(-1)) : undefined;
    const chunk = this.#headChunkRows ?? Math.max(16, Math.floor(HEAD_CHUNK_ELEMENTS / V));

    if (!opts.normed && !opts.logits) {
      // Only log p(target) is wanted: run the lm_head on just the positions that have a target.
      // Zero-shot scoring marks context positions −1, and the [V, D] head is the largest matmul
      // of a small model, so this skips most of its cost.
      await this.#runHeadOnTargets(batches, req.targets!, session, norm, weight!, logprobs!, argmax, chunk);
      return { logprobs, argmax };
    }

    for (const b of batches) {
      const rows = b.seqs.length * b.len;
      for (let r0 = 0; r0 < rows; r0 += chunk) {
        const n = Math.min(chunk, rows - r0);
        const feeds: Record<string, ort.Tensor> = {
          [HEAD_IO.x]: new ort.Tensor('float32', b.hidden.subarray(r0 * D, (r0 + n) * D), [n, D]),
          [HEAD_IO.norm]: norm,
        };
        if (weight) feeds[HEAD_IO.weight] = weight;
        if (opts.logprobs) {
          const t = new BigInt64Array(n);
          for (let i = 0; i < n; i++) {
            const r = r0 + i;
            const id = req.targets![b.seqs[Math.floor(r / b.len)]!]![r % b.len]!;
            t[i] = BigInt(id < 0 ? 0 : id);
          }
          feeds[HEAD_IO.targets] = new ort.Tensor('int64', t, [n]);
        }
        const out = await session.run(feeds);
        // Scatter the chunk's rows back to their sequences (a chunk may span sequences).
        for (let i = 0; i < n; ) {
          const r = r0 + i;
          const s = b.seqs[Math.floor(r / b.len)]!;
          const p = r % b.len;
          const span = Math.min(n - i, b.len - p);
          if (normed) normed[s]!.set((out[HEAD_IO.normed]!.data as Float32Array).subarray(i * D, (i + span) * D), p * D);
          if (logits) logits[s]!.set((out[HEAD_IO.logits]!.data as Float32Array).subarray(i * V, (i + span) * V), p * V);
          if (logprobs) {
            const lp = (out[HEAD_IO.logprobs]!.data as Float32Array).subarray(i, i + span);
            const tgt = req.targets![s]!;
            for (let k = 0; k < span; k++) logprobs[s]![p + k] = tgt[p + k]! < 0 ? NaN : lp[k]!;
          }
          if (argmax) {
            const am = out[HEAD_IO.argmax]!.data as BigInt64Array;
            const tgt = req.targets![s]!;
            for (let k = 0; k < span; k++) if (tgt[p + k]! >= 0) argmax[s]![p + k] = Number(am[i + k]!);
          }
          i += span;
        }
      }
    }
    return { normed, logits, logprobs, argmax };
  }

  /** The head over the rows whose target is not −1 (head-targets.ts); NaN elsewhere. */
  async #runHeadOnTargets(
    batches: Batch[],
    targets: Int32Array[],
    session: ort.InferenceSession,
    norm: ort.Tensor,
    weight: ort.Tensor,
    logprobs: Float32Array[],
    argmax: Int32Array[] | undefined,
    chunk: number,
  ): Promise<void> {
    for (const lp of logprobs) lp.fill(NaN);
    await runHeadOnTargets(session, norm, weight, batches, targets, this.spec.hidden, chunk, argmax !== undefined, (s, p, lp, am) => {
      logprobs[s]![p] = lp;
      if (argmax) argmax[s]![p] = am;
    });
  }
}

/**
 * Σ over the rows of two [N, D] row-major buffers of cos(a_row, b_row), in float64. A zero row
 * (never seen in a trained model) counts as cosine 1: the layer left it unchanged in direction.
 */
function cosineSum(a: Float32Array, b: Float32Array, D: number): number {
  let total = 0;
  for (let o = 0; o < a.length; o += D) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = o; i < o + D; i++) {
      const x = a[i]!;
      const y = b[i]!;
      ab += x * y;
      aa += x * x;
      bb += y * y;
    }
    total += aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 1;
  }
  return total;
}
