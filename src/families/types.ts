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
  | 'q_norm' | 'k_norm'
  | 'gate' | 'up' | 'down' | 'gate_bias' | 'up_bias' | 'down_bias';

export type TensorGroup = 'embedding' | 'attention' | 'ffn' | 'norm';

export interface TensorTemplate {
  role: TensorRole;
  /** Name with `{i}` standing for the layer index. */
  name: string;
  group: TensorGroup;
  /** Axis indexed by token id (sliced by vocabulary pruning). */
  vocabAxis?: number;
  /** Axis indexed by FFN channel (sliced by FFN pruning). */
  ffnAxis?: number;
  /**
   * When the tensor exists: always, or only when a config flag says so (e.g. Llama's
   * `attention_bias`), or whenever the checkpoint has it.
   */
  presence?: 'always' | { configFlag: string; default: boolean } | 'if-present';
}

/** `rms`: x/rms(x)·w (Llama). `rms-plus-one`: x/rms(x)·(1+w) (Gemma), weights stored as offsets from 1. */
export type NormFlavour = 'rms' | 'rms-plus-one';

export type Activation = 'silu' | 'gelu_tanh';

export interface FamilyDescriptor {
  /** Short family name used in reports. */
  name: string;
  /** `architectures[0]` values of config.json that map here. */
  architectures: string[];
  /** `model_type` values (for configs without `architectures`, only used in messages). */
  modelTypes: string[];
  /** Tensors outside the decoder layers. `lm_head` is absent from tied checkpoints. */
  globals: TensorTemplate[];
  /** Tensors of decoder layer `{i}`. */
  layer: TensorTemplate[];
  norm: NormFlavour;
  /** Embedding output multiplied by sqrt(hidden_size) (Gemma). */
  embedScale: 'none' | 'sqrt-hidden';
  /** Per-head RMSNorm on q and k before rope (Qwen3, Gemma 3). */
  qkNorm: boolean;
  /** Norms after attention and after the FFN, before the residual add (Gemma 3). */
  sandwichNorms: boolean;
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
  /** `tie_word_embeddings` when config.json does not say (transformers' per-family default). */
  tiedDefault: boolean;
  /** GGUF architecture name for export (llama.cpp registry). */
  ggufArch: string;
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
  intermediate: number;
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
  /** Multiplier of q·k (1/sqrt(head_dim), or Gemma's query_pre_attn_scalar^-0.5). */
  attnScale: number;
  attnSoftcap: number | null;
  finalLogitSoftcap: number | null;
  /** Whether optional biases exist, resolved from config flags. */
  biases: { qkv: boolean; o: boolean; mlp: boolean };
  /** Storage dtype named by the config (`dtype` or `torch_dtype`), if any. */
  dtype: string | null;
  bosTokenId: number | null;
  eosTokenIds: number[];
}
