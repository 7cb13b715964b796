/**
 * Architectures are data. A descriptor names every tensor of a family and says, for each one,
 * which axis is the vocabulary and which is the FFN channel, so pruning is slicing along declared
 * axes and the engine builds its graph from flags rather than from family names.
 */

/** What a tensor is for; the engine and the parameter accounting key on this, never on names. */
export type TensorRole =
  | 'embed' | 'lm_head' | 'final_norm'
  | 'input_norm' | 'post_attn_norm' | 'pre_ffn_norm' | 'post_ffn_norm'
  | 'q' | 'k' | 'v' | 'o' | 'q_bias' | 'k_bias' | 'v_bias' | 'o_bias'
  | 'qkv'
  | 'q_norm' | 'k_norm'
  | 'gate' | 'up' | 'gate_up' | 'down' | 'gate_bias' | 'up_bias' | 'down_bias'
  | 'router' | 'expert_gate' | 'expert_up' | 'expert_down';

export type TensorGroup = 'embedding' | 'attention' | 'ffn' | 'norm';

/**
 * Where a layer norm sits: before attention, on its output (before the residual add), before the
 * FFN, on its output. Roles follow Hugging Face's names (Llama's `post_attention_layernorm` is
 * role post_attn_norm at place ffn_in; Gemma's is at attn_out), so the place is stated, not guessed.
 */
export type NormPlace = 'attn_in' | 'attn_out' | 'ffn_in' | 'ffn_out';

export interface TensorTemplate {
  role: TensorRole;
  /** Name with `{i}` standing for the layer index (and `{e}` for the expert, on expert tensors). */
  name: string;
  /**
   * One tensor per expert (Mixtral's `experts.{e}.w1`): the engine stacks them [experts, …], and
   * FFN pruning slices each by that expert's kept channels.
   */
  perExpert?: boolean;
  group: TensorGroup;
  /** Axis indexed by token id (sliced by vocabulary pruning). */
  vocabAxis?: number;
  /** Axis indexed by FFN channel (sliced by FFN pruning). */
  ffnAxis?: number;
  /**
   * The FFN axis stacks this many blocks of `intermediate_size` channels (Phi-3's `gate_up_proj`:
   * gate rows, then up rows): channel j is kept or dropped at j, I + j, … together. Default 1.
   */
  ffnBlocks?: number;
  /** GGUF tensor name (llama.cpp's tensor_mapping), `{i}` for the layer; absent: not exported. */
  gguf?: string;
  /** Layer norms: where in the layer this one applies. */
  place?: NormPlace;
  /**
   * When the tensor exists: always, or only when a config flag says so (e.g. Llama's
   * `attention_bias`), or whenever the checkpoint has it.
   */
  presence?: 'always' | { configFlag: string; default: boolean } | 'if-present';
}

/** `rms`: x/rms(x)·w (Llama). `rms-plus-one`: x/rms(x)·(1+w) (Gemma), weights stored as offsets from 1. */
export type NormFlavour = 'rms' | 'rms-plus-one';

export type Activation = 'silu' | 'gelu_tanh';

/** What llama.cpp's converter does for a family (convert_hf_to_gguf.py's model class, as data). */
export interface GgufFormat {
  /** `general.architecture`. */
  arch: string;
  /** llama.cpp's rope for this arch rotates adjacent pairs: q/k rows are permuted (LlamaModel.permute). */
  permuteQK?: boolean;
  /** Embedding rows beyond the tokenizer are dropped (the converter's Gemma models). */
  trimVocab?: boolean;
  /** `{arch}.vocab_size` is written (LlamaModel). */
  vocabSizeKey?: boolean;
  /** `{arch}.rope.dimension_count` is written (the rotated dims of a head). */
  ropeDimensionCount?: boolean;
  /** A rotary dimension below head_dim is expressible (through rope.dimension_count). */
  partialRotary?: boolean;
  /**
   * llama.cpp fixes this arch's attention scale at 1/sqrt(head_dim), or 1/sqrt(hidden/heads) for
   * a model of this many layers (the 27B): a different one is folded into q_norm, or refused.
   */
  fixedAttnScale?: number;
  /** Config features the arch expresses; anything else the config uses is refused. */
  finalSoftcap?: boolean;
  attnSoftcap?: boolean;
  /** Sliding layers in a period p (is_swa(i) = i mod p < p − 1), with their own rope theta. */
  slidingPattern?: boolean;
  /** llama3 rope scaling as `rope_freqs` (only the llama arch reads it). */
  ropeFreqs?: boolean;
  /** Granite's multipliers as `{arch}.embedding_scale` etc. */
  multipliers?: boolean;
  /**
   * Routed experts (convert_hf_to_gguf's MixtralModel): `{arch}.expert_count` and
   * `{arch}.expert_used_count`, the experts' tensors stacked [experts, …] into one per role
   * (`ffn_gate_exps` …), the router `ffn_gate_inp` kept in F32.
   */
  experts?: boolean;
}

/** transformers.js loading the ONNX export. */
export interface OnnxFormat {
  /** `model_type` transformers.js dispatches on; config.json must carry it. */
  modelType: string;
  /** transformers.js makes this model type's position_ids 1-based. */
  oneBasedPositions?: boolean;
}

export interface FamilyDescriptor {
  /** Short family name used in reports. */
  name: string;
  /** `architectures[0]` values of config.json that map here. */
  architectures: string[];
  /** `model_type` values (for configs without `architectures`, only used in messages). */
  modelTypes: string[];
  /** Tensors outside the decoder layers. `lm_head` is absent from tied checkpoints. */
  globals: TensorTemplate[];
  /**
   * Tensors of decoder layer `{i}`. The norms' `place`s say where the layer normalizes (pre-norm,
   * Gemma's sandwich, OLMo 2's post-norms only); fused `qkv`/`gate_up` replace their parts.
   */
  layer: TensorTemplate[];
  norm: NormFlavour;
  /** q/k RMSNorm per head (Qwen3, Gemma) or over the whole projection (OLMo 2). */
  qkNormScope?: 'head' | 'projection';
  /** Embedding output multiplied by sqrt(hidden_size) (Gemma). */
  embedScale: 'none' | 'sqrt-hidden';
  /** config.json key naming the activation, and the default. */
  activationKey: string;
  defaultActivation: string;
  /** Whether every layer uses `sliding_window` when set (Mistral), unless `layer_types` says otherwise. */
  slidingWindowAllLayers: boolean;
  /**
   * Legacy per-layer pattern (Gemma 3's `sliding_window_pattern`): layer i slides unless
   * (i+1) % pattern == 0.
   */
  slidingPatternKeys?: string[];
  /** The same pattern when the config names none (Gemma 2: every other layer, 2). */
  slidingPatternDefault?: number;
  /** `tie_word_embeddings` when config.json does not say (transformers' per-family default). */
  tiedDefault: boolean;
  /**
   * A routed mixture of experts in place of the FFN (Mixtral): the config keys of the expert count
   * and of the experts each token is routed to.
   */
  moe?: { expertsKey: string; topKKey: string };
  /** Export formats; a family without one is refused by that export with the list of those that have it. */
  formats: { gguf?: GgufFormat; onnx?: OnnxFormat };
  /** Why an export format is missing, for the refusal (e.g. transformers.js has no such model type). */
  formatRefusals?: { gguf?: string; onnx?: string };
}

export type AttentionKind = 'full' | 'sliding';

export interface RopeSpec {
  theta: number;
  type: 'default' | 'linear' | 'llama3';
  factor?: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositions?: number;
}

/** config.json resolved into the numbers the engine, the pruner and the accounting need. */
export interface ModelSpec {
  family: FamilyDescriptor;
  architecture: string;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Leading dims of each head that rope rotates (`partial_rotary_factor` · head_dim; else head_dim). */
  rotaryDim: number;
  intermediate: number;
  /** Routed experts per layer, each an FFN of `intermediate` channels, and how many a token uses; null: one dense FFN. */
  moe: { experts: number; topK: number } | null;
  /** Rows of the embedding matrix (config `vocab_size`; may exceed the tokenizer). */
  vocabSize: number;
  tied: boolean;
  rmsEps: number;
  maxPositions: number;
  activation: Activation;
  /** Per layer: full or sliding attention, and the rope it uses. */
  layerTypes: AttentionKind[];
  slidingWindow: number | null;
  rope: Record<AttentionKind, RopeSpec>;
  /** Multiplier of q·k (1/sqrt(head_dim), Gemma's query_pre_attn_scalar^-0.5, Granite's attention_multiplier). */
  attnScale: number;
  /** Embedding output multiplier (1; f32 sqrt(hidden) for Gemma; Granite's embedding_multiplier). */
  embedMultiplier: number;
  /** Sublayer outputs are multiplied by this before each residual add (Granite's residual_multiplier). */
  residualMultiplier: number;
  /** Logits are multiplied by this (1 / Granite's logits_scaling), before any final softcap. */
  logitMultiplier: number;
  attnSoftcap: number | null;
  finalLogitSoftcap: number | null;
  /** The layer tensors this config has (templates whose presence the config resolves true), in template order. */
  layerRoles: TensorRole[];
  /** Whether optional biases exist, resolved from config flags. */
  biases: { qkv: boolean; o: boolean; mlp: boolean };
  /** Storage dtype named by the config (`dtype` or `torch_dtype`), if any. */
  dtype: string | null;
  bosTokenId: number | null;
  eosTokenIds: number[];
}
