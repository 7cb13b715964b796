import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CompactError } from '../errors.ts';
import { parseJson } from '../json-text.ts';
import { familyFor } from './registry.ts';
import type { Activation, AttentionKind, FamilyDescriptor, ModelSpec, RopeSpec } from './types.ts';

export interface ModelConfig {
  /** Path of config.json. */
  file: string;
  /** The file's text, kept so rewrites can change values without re-serializing the rest. */
  text: string;
  raw: Record<string, unknown>;
  spec: ModelSpec;
}

export function readModelConfig(dir: string): ModelConfig {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CompactError(notAModelFolder(dir) ?? `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const raw = parseJson(text, file);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CompactError(`${file}: expected a JSON object`);
  }
  const cfg = raw as Record<string, unknown>;
  return { file, text, raw: cfg, spec: resolveSpec(cfg, file) };
}

/** Why `dir` is not a model folder at all (missing, a file, no config.json), or null. */
export function notAModelFolder(dir: string): string | null {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? `${dir}: no such model folder` : null;
  }
  if (!st.isDirectory()) return `${dir} is a file, expected a model folder (the folder with config.json and the weights)`;
  if (!existsSync(join(dir, 'config.json'))) return `not a model folder: no config.json in ${dir}`;
  return null;
}

function num(cfg: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new CompactError(`${file}: missing "${key}"`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new CompactError(`${file}: "${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Bounds far above any real model that keep a hostile config from reaching allocations sized by
 * it (`new Array(num_hidden_layers)`, 2^64-row tensors): sizes stay int32, as ONNX indexes them.
 */
const MAX_DIM = 2 ** 31 - 1;
const MAX_LAYERS = 10_000;

function posInt(cfg: Record<string, unknown>, key: string, file: string, fallback?: number, max = MAX_DIM): number {
  const v = num(cfg, key, file, fallback);
  if (!Number.isInteger(v) || v < 1) throw new CompactError(`${file}: "${key}" must be a positive integer, got ${v}`);
  if (v > max) throw new CompactError(`${file}: "${key}" is ${v}, over the supported maximum ${max}`);
  return v;
}

const ACTIVATIONS: Record<string, Activation> = {
  silu: 'silu',
  swish: 'silu',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_tanh: 'gelu_tanh',
};

/** One rope description, legacy (`rope_theta` + `rope_scaling`) or v5 (`rope_parameters`). */
function ropeFrom(p: Record<string, unknown> | null, theta: number | undefined, file: string, where: string): RopeSpec {
  const t = (p?.rope_theta as number | undefined) ?? theta;
  if (typeof t !== 'number' || !(t > 0)) throw new CompactError(`${file}: missing or invalid rope_theta${where}`);
  const type = (p?.rope_type ?? p?.type ?? 'default') as string;
  if (type === 'default') return { theta: t, type: 'default' };
  if (type === 'linear') return { theta: t, type: 'linear', factor: p!.factor as number };
  if (type === 'llama3') {
    return {
      theta: t,
      type: 'llama3',
      factor: p!.factor as number,
      lowFreqFactor: p!.low_freq_factor as number,
      highFreqFactor: p!.high_freq_factor as number,
      originalMaxPositions: p!.original_max_position_embeddings as number,
    };
  }
  throw new CompactError(`${file}: rope type "${type}"${where} is not supported (supported: default, linear, llama3)`);
}

function resolveRope(cfg: Record<string, unknown>, fam: FamilyDescriptor, file: string): Record<AttentionKind, RopeSpec> {
  const params = cfg.rope_parameters as Record<string, unknown> | undefined | null;
  if (params && typeof params === 'object') {
    // v5: either one rope for all layers, or one per layer type.
    const perType = params.full_attention !== undefined || params.sliding_attention !== undefined;
    if (perType) {
      const full = ropeFrom((params.full_attention ?? params.sliding_attention) as Record<string, unknown>, undefined, file, ' (full_attention)');
      const sliding = ropeFrom((params.sliding_attention ?? params.full_attention) as Record<string, unknown>, undefined, file, ' (sliding_attention)');
      return { full, sliding };
    }
    const r = ropeFrom(params, cfg.rope_theta as number | undefined, file, '');
    return { full: r, sliding: r };
  }
  const scaling = (cfg.rope_scaling ?? null) as Record<string, unknown> | null;
  const theta = cfg.rope_theta === undefined ? 10000 : (cfg.rope_theta as number);
  const full = ropeFrom(scaling, theta, file, '');
  // Gemma 3 legacy: sliding layers use rope_local_base_freq and no scaling.
  const local = cfg.rope_local_base_freq;
  const sliding = typeof local === 'number' && fam.slidingPatternKeys ? { theta: local, type: 'default' as const } : full;
  return { full, sliding };
}

function resolveLayerTypes(cfg: Record<string, unknown>, fam: FamilyDescriptor, layers: number, file: string): AttentionKind[] {
  const window = cfg.sliding_window;
  const lt = cfg.layer_types;
  if (Array.isArray(lt)) {
    if (lt.length !== layers) throw new CompactError(`${file}: "layer_types" has ${lt.length} entries for ${layers} layers`);
    return lt.map((t, i) => {
      if (t === 'full_attention') return 'full';
      if (t === 'sliding_attention') return cfg.use_sliding_window === false || window == null ? 'full' : 'sliding';
      throw new CompactError(`${file}: layer_types[${i}] = ${JSON.stringify(t)} is not supported (full_attention, sliding_attention)`);
    });
  }
  if (window == null || cfg.use_sliding_window === false) return new Array(layers).fill('full');
  for (const key of fam.slidingPatternKeys ?? []) {
    const pattern = cfg[key];
    if (typeof pattern === 'number' && pattern > 0) {
      return Array.from({ length: layers }, (_, i) => ((i + 1) % pattern === 0 ? 'full' : 'sliding'));
    }
  }
  return new Array(layers).fill(fam.slidingWindowAllLayers ? 'sliding' : 'full');
}

function flag(cfg: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = cfg[key];
  return typeof v === 'boolean' ? v : fallback;
}

function presenceOf(fam: FamilyDescriptor, cfg: Record<string, unknown>, role: string): boolean {
  const t = fam.layer.find((x) => x.role === role);
  if (!t) return false;
  const p = t.presence ?? 'always';
  if (p === 'always') return true;
  if (p === 'if-present') return true;
  return flag(cfg, p.configFlag, p.default);
}

export function resolveSpec(cfg: Record<string, unknown>, file: string): ModelSpec {
  const family = familyFor(cfg, file);
  const hidden = posInt(cfg, 'hidden_size', file);
  const heads = posInt(cfg, 'num_attention_heads', file);
  const layers = posInt(cfg, 'num_hidden_layers', file, undefined, MAX_LAYERS);
  const kvHeads = posInt(cfg, 'num_key_value_heads', file, heads);
  if (heads % kvHeads !== 0) throw new CompactError(`${file}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const headDim = posInt(cfg, 'head_dim', file, hidden / heads);
  const actName = (cfg[family.activationKey] ?? cfg.hidden_act ?? family.defaultActivation) as string;
  const activation = ACTIVATIONS[actName];
  if (!activation) throw new CompactError(`${file}: activation "${actName}" is not supported (${Object.keys(ACTIVATIONS).join(', ')})`);
  const window = cfg.sliding_window;
  const qpas = cfg.query_pre_attn_scalar;
  const eos = cfg.eos_token_id;
  const dtype = (cfg.dtype ?? cfg.torch_dtype ?? null) as string | null;
  return {
    family,
    architecture: (cfg.architectures as string[])[0]!,
    hidden,
    layers,
    heads,
    kvHeads,
    headDim,
    intermediate: posInt(cfg, 'intermediate_size', file),
    vocabSize: posInt(cfg, 'vocab_size', file),
    tied: flag(cfg, 'tie_word_embeddings', family.tiedDefault),
    rmsEps: num(cfg, 'rms_norm_eps', file, 1e-6),
    maxPositions: posInt(cfg, 'max_position_embeddings', file, 2048),
    activation,
    layerTypes: resolveLayerTypes(cfg, family, layers, file),
    slidingWindow: typeof window === 'number' ? window : null,
    rope: resolveRope(cfg, family, file),
    attnScale: typeof qpas === 'number' ? qpas ** -0.5 : headDim ** -0.5,
    attnSoftcap: typeof cfg.attn_logit_softcapping === 'number' ? cfg.attn_logit_softcapping : null,
    finalLogitSoftcap: typeof cfg.final_logit_softcapping === 'number' ? cfg.final_logit_softcapping : null,
    biases: {
      qkv: presenceOf(family, cfg, 'q_bias'),
      o: presenceOf(family, cfg, 'o_bias'),
      mlp: presenceOf(family, cfg, 'gate_bias'),
    },
    dtype: typeof dtype === 'string' ? dtype : null,
    bosTokenId: typeof cfg.bos_token_id === 'number' ? cfg.bos_token_id : null,
    eosTokenIds: typeof eos === 'number' ? [eos] : Array.isArray(eos) ? (eos.filter((x) => typeof x === 'number') as number[]) : [],
  };
}
