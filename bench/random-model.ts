/**
 * Deterministic random-weight Hugging Face checkpoints for engine benchmarks: config.json +
 * safetensors written through the project's writer, weights from a seeded PRNG (same seed → same
 * bytes), so timings and memory figures are reproducible without downloading a model.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromFloat32 } from '../src/io/dtype.ts';
import { writeCheckpoint, type WriteEntry } from '../src/io/safetensors-writer.ts';

export interface RandomModelShape {
  architecture: 'Qwen2ForCausalLM' | 'LlamaForCausalLM';
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  tied: boolean;
  maxPositions: number;
}

/** Qwen2.5-0.5B's shape (q/k/v biases come with the Qwen2 architecture). */
export const QWEN25_05B: RandomModelShape = {
  architecture: 'Qwen2ForCausalLM',
  hidden: 896,
  layers: 24,
  heads: 14,
  kvHeads: 2,
  headDim: 64,
  intermediate: 4864,
  vocab: 151936,
  tied: true,
  maxPositions: 32768,
};

/** xorshift32 → uniform floats in [−a, a); a per-tensor seed keeps tensors independent of order. */
function fillUniform(out: Float32Array, seed: number, a: number): void {
  let x = seed >>> 0 || 0x9e3779b9;
  const k = (2 * a) / 4294967296;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) * k - a;
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export async function writeRandomModel(dir: string, m: RandomModelShape, seed = 1): Promise<void> {
  const config: Record<string, unknown> = {
    architectures: [m.architecture],
    model_type: m.architecture === 'Qwen2ForCausalLM' ? 'qwen2' : 'llama',
    hidden_size: m.hidden,
    num_hidden_layers: m.layers,
    num_attention_heads: m.heads,
    num_key_value_heads: m.kvHeads,
    head_dim: m.headDim,
    intermediate_size: m.intermediate,
    vocab_size: m.vocab,
    tie_word_embeddings: m.tied,
    max_position_embeddings: m.maxPositions,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    hidden_act: 'silu',
    torch_dtype: 'bfloat16',
    bos_token_id: 0,
    eos_token_id: 1,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');

  const entries: WriteEntry[] = [];
  const add = (name: string, shape: number[], kind: 'matrix' | 'norm' | 'bias'): void => {
    entries.push({
      name,
      dtype: 'BF16',
      shape,
      bytes: () => {
        const n = shape.reduce((a, b) => a * b, 1);
        const v = new Float32Array(n);
        if (kind === 'norm') v.fill(1);
        else fillUniform(v, hash(name) ^ seed, kind === 'matrix' ? 0.02 * Math.sqrt(3) : 0.01);
        return fromFloat32(v, 'BF16');
      },
    });
  };
  const { hidden: D, heads, kvHeads, headDim: H, intermediate: I } = m;
  add('model.embed_tokens.weight', [m.vocab, D], 'matrix');
  for (let l = 0; l < m.layers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [D], 'norm');
    add(`${p}.post_attention_layernorm.weight`, [D], 'norm');
    add(`${p}.self_attn.q_proj.weight`, [heads * H, D], 'matrix');
    add(`${p}.self_attn.k_proj.weight`, [kvHeads * H, D], 'matrix');
    add(`${p}.self_attn.v_proj.weight`, [kvHeads * H, D], 'matrix');
    add(`${p}.self_attn.o_proj.weight`, [D, heads * H], 'matrix');
    if (m.architecture === 'Qwen2ForCausalLM') {
      add(`${p}.self_attn.q_proj.bias`, [heads * H], 'bias');
      add(`${p}.self_attn.k_proj.bias`, [kvHeads * H], 'bias');
      add(`${p}.self_attn.v_proj.bias`, [kvHeads * H], 'bias');
    }
    add(`${p}.mlp.gate_proj.weight`, [I, D], 'matrix');
    add(`${p}.mlp.up_proj.weight`, [I, D], 'matrix');
    add(`${p}.mlp.down_proj.weight`, [D, I], 'matrix');
  }
  add('model.norm.weight', [D], 'norm');
  if (!m.tied) add('lm_head.weight', [m.vocab, D], 'matrix');
  await writeCheckpoint(dir, entries);
}

/** Projection FLOPs per token per layer (2 per multiply-add), and the GEMM shapes [K, N] behind them. */
export function projectionShapes(m: Pick<RandomModelShape, 'hidden' | 'heads' | 'kvHeads' | 'headDim' | 'intermediate'>): [number, number][] {
  const { hidden: D, heads, kvHeads, headDim: H, intermediate: I } = m;
  return [
    [D, heads * H], // q
    [D, kvHeads * H], // k
    [D, kvHeads * H], // v
    [heads * H, D], // o
    [D, I], // gate
    [D, I], // up
    [I, D], // down
  ];
}
