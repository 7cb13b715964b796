/**
 * Benchmark checkpoints: shapes of real models with random bf16 weights, their real tokenizers and
 * configs like the published ones, so pruning runs end to end (vocabulary surgery included)
 * without downloading weights.
 *
 * - `writeQwen25Like`: Qwen2.5-0.5B's shape through `random-model.ts` (the calibration bench's
 *   generator), then config.json replaced by one like the published Qwen2.5-0.5B's.
 * - `writeFastRandomModel`: for checkpoints of many GB (Llama-3.1-8B's shape is 16 GB). A PRNG fill
 *   of every element would take minutes of CPU; instead one pool of random bf16 values is made
 *   once and each tensor is written as a run through the pool starting at an offset derived from
 *   its name. Tensors therefore differ from one another (different offsets) without any per-element
 *   work, and writing runs at disk speed.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { encodeHeader, shardName } from '../src/io/safetensors-writer.ts';
import { copyTokenizer } from './common.ts';
import { QWEN25_05B, writeRandomModel, type RandomModelShape } from './random-model.ts';

export { QWEN25_05B, type RandomModelShape };

/** Llama-3.1-8B's shape (untied; its llama3 rope scaling is in the config below). */
export const LLAMA31_8B: RandomModelShape = {
  architecture: 'LlamaForCausalLM',
  hidden: 4096,
  layers: 32,
  heads: 32,
  kvHeads: 8,
  headDim: 128,
  intermediate: 14336,
  vocab: 128256,
  tied: false,
  maxPositions: 131072,
};

/** Llama-3.1-70B's shape, for the on-paper projection only. */
export const LLAMA31_70B: RandomModelShape = { ...LLAMA31_8B, hidden: 8192, layers: 80, heads: 64, kvHeads: 8, intermediate: 28672 };

/** config.json like the published Qwen2.5-0.5B's, for any Qwen2 shape. */
export function qwen25Config(m: RandomModelShape): Record<string, unknown> {
  return {
    architectures: ['Qwen2ForCausalLM'],
    attention_dropout: 0.0,
    bos_token_id: 151643,
    eos_token_id: 151643,
    hidden_act: 'silu',
    hidden_size: m.hidden,
    initializer_range: 0.02,
    intermediate_size: m.intermediate,
    max_position_embeddings: m.maxPositions,
    max_window_layers: m.layers,
    model_type: 'qwen2',
    num_attention_heads: m.heads,
    num_hidden_layers: m.layers,
    num_key_value_heads: m.kvHeads,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    sliding_window: m.maxPositions,
    tie_word_embeddings: m.tied,
    torch_dtype: 'bfloat16',
    transformers_version: '4.40.1',
    use_cache: true,
    use_mrope: false,
    use_sliding_window: false,
    vocab_size: m.vocab,
  };
}

/** config.json like the published Llama-3.1-8B's, for any Llama shape. */
export function llama31Config(m: RandomModelShape): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 128000,
    eos_token_id: [128001, 128008, 128009],
    head_dim: m.headDim,
    hidden_act: 'silu',
    hidden_size: m.hidden,
    initializer_range: 0.02,
    intermediate_size: m.intermediate,
    max_position_embeddings: m.maxPositions,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: m.heads,
    num_hidden_layers: m.layers,
    num_key_value_heads: m.kvHeads,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: { factor: 8.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    rope_theta: 500000.0,
    tie_word_embeddings: m.tied,
    torch_dtype: 'bfloat16',
    transformers_version: '4.43.0',
    use_cache: true,
    vocab_size: m.vocab,
  };
}

/** A Qwen2.5-0.5B-like folder: random bf16 weights (seeded), Qwen2.5 config, the real Qwen tokenizer. */
export async function writeQwen25Like(dir: string, m: RandomModelShape = QWEN25_05B): Promise<void> {
  await writeRandomModel(dir, m);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(qwen25Config(m), null, 2) + '\n');
  copyTokenizer('tokenizer-qwen3', dir);
}

interface TensorPlan {
  name: string;
  shape: number[];
  norm: boolean;
}

function tensorPlan(m: RandomModelShape): TensorPlan[] {
  const { hidden: D, heads, kvHeads, headDim: H, intermediate: I } = m;
  const out: TensorPlan[] = [];
  const add = (name: string, shape: number[], norm = false) => out.push({ name, shape, norm });
  add('model.embed_tokens.weight', [m.vocab, D]);
  for (let l = 0; l < m.layers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [D], true);
    add(`${p}.post_attention_layernorm.weight`, [D], true);
    add(`${p}.self_attn.q_proj.weight`, [heads * H, D]);
    add(`${p}.self_attn.k_proj.weight`, [kvHeads * H, D]);
    add(`${p}.self_attn.v_proj.weight`, [kvHeads * H, D]);
    add(`${p}.self_attn.o_proj.weight`, [D, heads * H]);
    add(`${p}.mlp.gate_proj.weight`, [I, D]);
    add(`${p}.mlp.up_proj.weight`, [I, D]);
    add(`${p}.mlp.down_proj.weight`, [D, I]);
  }
  add('model.norm.weight', [D], true);
  if (!m.tied) add('lm_head.weight', [m.vocab, D]);
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Elements in the random pool (64 MiB of bf16): larger than any L2/L3, small next to RAM. */
const POOL_ELEMENTS = 1 << 25;

/** bf16 bits of uniform values in [−a, a): xorshift32 → f32, top 16 bits (truncation is fine for noise). */
function randomPool(n: number, seed: number, a: number): Uint16Array {
  const pool = new Uint16Array(n);
  const f = new Float32Array(1);
  const bits = new Uint32Array(f.buffer);
  let x = seed >>> 0 || 0x9e3779b9;
  const k = (2 * a) / 4294967296;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    f[0] = (x >>> 0) * k - a;
    pool[i] = bits[0]! >>> 16;
  }
  return pool;
}

/** writeSync may write less than asked; loop until done. */
function writeAll(fd: number, buf: Uint8Array, offset: number, length: number): void {
  for (let done = 0; done < length; ) done += writeSync(fd, buf, offset + done, length - done);
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * Writes a llama-layout bf16 checkpoint of shape `m` into `dir`, sharded like transformers (names
 * in order, a new shard when the next tensor would pass `maxShardBytes`), with `config`. Matrices
 * are uniform with standard deviation 0.02, norms are 1. Returns the bytes of tensor data written.
 */
export function writeFastRandomModel(dir: string, m: RandomModelShape, config: Record<string, unknown>, maxShardBytes = 5e9, seed = 1): number {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const pool = randomPool(POOL_ELEMENTS, seed, 0.02 * Math.sqrt(3));
  const poolBytes = new Uint8Array(pool.buffer);
  const plan = tensorPlan(m).map((t) => ({ ...t, byteLength: 2 * t.shape.reduce((a, b) => a * b, 1) }));
  const shards: (typeof plan)[] = [[]];
  let size = 0;
  for (const t of plan) {
    const cur = shards[shards.length - 1]!;
    if (cur.length > 0 && size + t.byteLength > maxShardBytes) {
      shards.push([t]);
      size = t.byteLength;
    } else {
      cur.push(t);
      size += t.byteLength;
    }
  }
  const names = shards.length === 1 ? ['model.safetensors'] : shards.map((_, i) => shardName(i + 1, shards.length));
  let total = 0;
  const weightMap: [string, string][] = [];
  shards.forEach((shard, si) => {
    const fd = openSync(join(dir, names[si]!), 'w');
    try {
      const header = encodeHeader(shard.map((t) => ({ name: t.name, dtype: 'BF16' as const, shape: t.shape, byteLength: t.byteLength })));
      writeAll(fd, header, 0, header.length);
      for (const t of shard) {
        weightMap.push([t.name, names[si]!]);
        total += t.byteLength;
        if (t.norm) {
          const ones = new Uint8Array(new Uint16Array(t.byteLength / 2).fill(0x3f80).buffer); // bf16 1.0
          writeAll(fd, ones, 0, ones.length);
          continue;
        }
        // Start at an even byte offset so every bf16 value stays whole.
        let at = (hash(t.name) % POOL_ELEMENTS) * 2;
        for (let left = t.byteLength; left > 0; ) {
          const n = Math.min(left, poolBytes.length - at);
          writeAll(fd, poolBytes, at, n);
          left -= n;
          at = (at + n) % poolBytes.length;
        }
      }
    } finally {
      closeSync(fd);
    }
  });
  if (shards.length > 1) {
    const lines = weightMap.sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, f]) => `    ${JSON.stringify(k)}: ${JSON.stringify(f)}`);
    writeFileSync(join(dir, 'model.safetensors.index.json'), `{\n  "metadata": {\n    "total_size": ${total}\n  },\n  "weight_map": {\n${lines.join(',\n')}\n  }\n}\n`);
  }
  return total;
}
