import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CompactError } from '../errors.ts';
import { readJsonObjectText } from '../json-text.ts';
import { familyFor } from './registry.ts';
import type { Activation, AttentionKind, FamilyDescriptor, ModelSpec, RopeSpec, TensorRole } from './types.ts';

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
  const why = notAModelFolder(dir);
  if (why) throw new CompactError(why);
  const { text, obj } = readJsonObjectText(file);
  return { file, text, raw: obj, spec: resolveSpec(obj, file) };
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

/** A positive finite number of a rope description, or a one-line error naming the key. */
function ropeNum(p: Record<string, unknown>, key: string, file: string, where: string, integer = false): number {
  const v = p[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0) || (integer && !Number.isInteger(v))) {
    const what = integer ? 'a positive integer' : 'a positive number';
    throw new CompactError(`${file}: rope ${JSON.stringify(p.rope_type ?? p.type)}${where} needs "${key}" as ${what}, got ${v === undefined ? 'none' : JSON.stringify(v)}`);
  }
  return v;
}

/** One rope description, legacy (`rope_theta` + `rope_scaling`) or v5 (`rope_parameters`). */
function ropeFrom(p: Record<string, unknown> | null, theta: unknown, file: string, where: string): RopeSpec {
  if (p !== null && (typeof p !== 'object' || Array.isArray(p))) throw new CompactError(`${file}: rope parameters${where} must be an object, got ${JSON.stringify(p)}`);
  const t = p?.rope_theta ?? theta;
  if (typeof t !== 'number' || !Number.isFinite(t) || !(t > 0)) throw new CompactError(`${file}: missing or invalid rope_theta${where}`);
  const type = p?.rope_type ?? p?.type ?? 'default';
  if (type === 'default') return { theta: t, type: 'default' };
  if (type === 'linear') return { theta: t, type: 'linear', factor: ropeNum(p!, 'factor', file, where) };
  if (type === 'llama3') {
    const lowFreqFactor = ropeNum(p!, 'low_freq_factor', file, where);
    const highFreqFactor = ropeNum(p!, 'high_freq_factor', file, where);
    if (!(highFreqFactor > lowFreqFactor)) {
      throw new CompactError(`${file}: rope "llama3"${where} needs high_freq_factor > low_freq_factor, got ${highFreqFactor} ≤ ${lowFreqFactor}`);
    }
    return {
      theta: t,
      type: 'llama3',
      factor: ropeNum(p!, 'factor', file, where),
      lowFreqFactor,
      highFreqFactor,
      originalMaxPositions: ropeNum(p!, 'original_max_position_embeddings', file, where, true),
    };
  }
  throw new CompactError(`${file}: rope type ${JSON.stringify(type)}${where} is not supported (supported: default, linear, llama3)`);
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
    const r = ropeFrom(params, cfg.rope_theta, file, '');
    return { full: r, sliding: r };
  }
  const scaling = (cfg.rope_scaling ?? null) as Record<string, unknown> | null;
  const theta = cfg.rope_theta === undefined ? 10000 : cfg.rope_theta;
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
  const named = (fam.slidingPatternKeys ?? []).map((key) => cfg[key]).find((p) => typeof p === 'number' && p > 0) as number | undefined;
  const pattern = named ?? fam.slidingPatternDefault;
  if (pattern !== undefined) return Array.from({ length: layers }, (_, i) => ((i + 1) % pattern === 0 ? 'full' : 'sliding'));
  return new Array(layers).fill(fam.slidingWindowAllLayers ? 'sliding' : 'full');
}

function flag(cfg: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = cfg[key];
  return typeof v === 'boolean' ? v : fallback;
}

/** The layer templates this config has: `always`, `if-present`, or a config flag that says so. */
function presentRoles(fam: FamilyDescriptor, cfg: Record<string, unknown>): TensorRole[] {
  return fam.layer
    .filter((t) => {
      const p = t.presence ?? 'always';
      return p === 'always' || p === 'if-present' || flag(cfg, p.configFlag, p.default);
    })
    .map((t) => t.role);
}

/** An optional positive multiplier key (Granite's), or the default. */
function multiplier(cfg: Record<string, unknown>, key: string, file: string, fallback: number): number {
  if (cfg[key] === undefined || cfg[key] === null) return fallback;
  const v = num(cfg, key, file);
  if (!(v > 0)) throw new CompactError(`${file}: "${key}" must be a positive number, got ${v}`);
  return v;
}

/** Mixtral's experts per layer and per token (transformers' defaults 8 and 2). */
function resolveMoe(cfg: Record<string, unknown>, family: FamilyDescriptor, file: string): ModelSpec['moe'] {
  if (!family.moe) return null;
  const experts = posInt(cfg, family.moe.expertsKey, file, 8);
  const topK = posInt(cfg, family.moe.topKKey, file, 2);
  if (topK > experts) throw new CompactError(`${file}: "${family.moe.topKKey}" ${topK} exceeds "${family.moe.expertsKey}" ${experts}`);
  return { experts, topK };
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
  const roles = presentRoles(family, cfg);
  const partial = multiplier(cfg, 'partial_rotary_factor', file, 1);
  if (partial > 1) throw new CompactError(`${file}: "partial_rotary_factor" must be in (0, 1], got ${partial}`);
  // transformers: int(head_dim * factor) rotated dims, an even number.
  const rotaryDim = Math.floor(headDim * partial);
  if (rotaryDim < 2 || rotaryDim % 2 !== 0) throw new CompactError(`${file}: partial_rotary_factor ${partial} rotates ${rotaryDim} of ${headDim} head dims; an even number ≥ 2 is needed`);
  const logitsScaling = multiplier(cfg, 'logits_scaling', file, 1);
  const eos = cfg.eos_token_id;
  const moe = resolveMoe(cfg, family, file);
  const dtype = (cfg.dtype ?? cfg.torch_dtype ?? null) as string | null;
  return {
    family,
    architecture: (cfg.architectures as string[])[0]!,
    hidden,
    layers,
    heads,
    kvHeads,
    headDim,
    rotaryDim,
    intermediate: posInt(cfg, 'intermediate_size', file),
    moe,
    vocabSize: posInt(cfg, 'vocab_size', file),
    tied: flag(cfg, 'tie_word_embeddings', family.tiedDefault),
    rmsEps: num(cfg, 'rms_norm_eps', file, 1e-6),
    maxPositions: posInt(cfg, 'max_position_embeddings', file, 2048),
    activation,
    layerTypes: resolveLayerTypes(cfg, family, layers, file),
    slidingWindow: typeof window === 'number' ? window : null,
    rope: resolveRope(cfg, family, file),
    attnScale: multiplier(cfg, 'attention_multiplier', file, typeof qpas === 'number' ? qpas ** -0.5 : headDim ** -0.5),
    // transformers multiplies by the embedding dtype's sqrt(hidden) (f32 here), or by a Python float.
    embedMultiplier: family.embedScale === 'sqrt-hidden' ? Math.fround(Math.sqrt(hidden)) : multiplier(cfg, 'embedding_multiplier', file, 1),
    residualMultiplier: multiplier(cfg, 'residual_multiplier', file, 1),
    logitMultiplier: 1 / logitsScaling,
    attnSoftcap: typeof cfg.attn_logit_softcapping === 'number' ? cfg.attn_logit_softcapping : null,
    finalLogitSoftcap: typeof cfg.final_logit_softcapping === 'number' ? cfg.final_logit_softcapping : null,
    layerRoles: roles,
    biases: { qkv: roles.includes('q_bias'), o: roles.includes('o_bias'), mlp: roles.includes('gate_bias') },
    dtype: typeof dtype === 'string' ? dtype : null,
    bosTokenId: typeof cfg.bos_token_id === 'number' ? cfg.bos_token_id : null,
    eosTokenIds: typeof eos === 'number' ? [eos] : Array.isArray(eos) ? (eos.filter((x) => typeof x === 'number') as number[]) : [],
  };
}
