import { CompactError } from '../errors.ts';
import type { FamilyDescriptor, GgufFormat, TensorTemplate } from './types.ts';

const L = 'model.layers.{i}';
const B = 'blk.{i}';

const globals: TensorTemplate[] = [
  { role: 'embed', name: 'model.embed_tokens.weight', group: 'embedding', vocabAxis: 0, gguf: 'token_embd.weight' },
  { role: 'final_norm', name: 'model.norm.weight', group: 'norm', gguf: 'output_norm.weight' },
  { role: 'lm_head', name: 'lm_head.weight', group: 'embedding', vocabAxis: 0, presence: 'if-present', gguf: 'output.weight' },
];

const attnBias = (flag: string | 'always', o: boolean): TensorTemplate[] => {
  const presence: TensorTemplate['presence'] = flag === 'always' ? 'always' : { configFlag: flag, default: false };
  const t: TensorTemplate[] = [
    { role: 'q_bias', name: `${L}.self_attn.q_proj.bias`, group: 'attention', presence, gguf: `${B}.attn_q.bias` },
    { role: 'k_bias', name: `${L}.self_attn.k_proj.bias`, group: 'attention', presence, gguf: `${B}.attn_k.bias` },
    { role: 'v_bias', name: `${L}.self_attn.v_proj.bias`, group: 'attention', presence, gguf: `${B}.attn_v.bias` },
  ];
  if (o) t.push({ role: 'o_bias', name: `${L}.self_attn.o_proj.bias`, group: 'attention', presence, gguf: `${B}.attn_output.bias` });
  return t;
};

const attention: TensorTemplate[] = [
  { role: 'q', name: `${L}.self_attn.q_proj.weight`, group: 'attention', gguf: `${B}.attn_q.weight` },
  { role: 'k', name: `${L}.self_attn.k_proj.weight`, group: 'attention', gguf: `${B}.attn_k.weight` },
  { role: 'v', name: `${L}.self_attn.v_proj.weight`, group: 'attention', gguf: `${B}.attn_v.weight` },
  { role: 'o', name: `${L}.self_attn.o_proj.weight`, group: 'attention', gguf: `${B}.attn_output.weight` },
];

const qkNorms: TensorTemplate[] = [
  { role: 'q_norm', name: `${L}.self_attn.q_norm.weight`, group: 'norm', gguf: `${B}.attn_q_norm.weight` },
  { role: 'k_norm', name: `${L}.self_attn.k_norm.weight`, group: 'norm', gguf: `${B}.attn_k_norm.weight` },
];

const mlp: TensorTemplate[] = [
  { role: 'gate', name: `${L}.mlp.gate_proj.weight`, group: 'ffn', ffnAxis: 0, gguf: `${B}.ffn_gate.weight` },
  { role: 'up', name: `${L}.mlp.up_proj.weight`, group: 'ffn', ffnAxis: 0, gguf: `${B}.ffn_up.weight` },
  { role: 'down', name: `${L}.mlp.down_proj.weight`, group: 'ffn', ffnAxis: 1, gguf: `${B}.ffn_down.weight` },
];

const mlpBias = (flag: string): TensorTemplate[] => {
  const presence = { configFlag: flag, default: false };
  return [
    { role: 'gate_bias', name: `${L}.mlp.gate_proj.bias`, group: 'ffn', ffnAxis: 0, presence, gguf: `${B}.ffn_gate.bias` },
    { role: 'up_bias', name: `${L}.mlp.up_proj.bias`, group: 'ffn', ffnAxis: 0, presence, gguf: `${B}.ffn_up.bias` },
    // down's bias lives on the hidden axis: FFN pruning leaves it whole.
    { role: 'down_bias', name: `${L}.mlp.down_proj.bias`, group: 'ffn', presence, gguf: `${B}.ffn_down.bias` },
  ];
};

/** Layer norms by HF name, each with the place it applies (see NormPlace). */
const inputNorm: TensorTemplate = { role: 'input_norm', name: `${L}.input_layernorm.weight`, group: 'norm', place: 'attn_in', gguf: `${B}.attn_norm.weight` };
/** Pre-norm layers (Llama and most others): HF's post_attention_layernorm is the FFN's input norm. */
const preNorms: TensorTemplate[] = [
  inputNorm,
  { role: 'post_attn_norm', name: `${L}.post_attention_layernorm.weight`, group: 'norm', place: 'ffn_in', gguf: `${B}.ffn_norm.weight` },
];
const postAttnNorm: TensorTemplate = { role: 'post_attn_norm', name: `${L}.post_attention_layernorm.weight`, group: 'norm', place: 'attn_out', gguf: `${B}.post_attention_norm.weight` };
const postFfnNorm: TensorTemplate = { role: 'post_ffn_norm', name: `${L}.post_feedforward_layernorm.weight`, group: 'norm', place: 'ffn_out', gguf: `${B}.post_ffw_norm.weight` };
/** Gemma: a norm before and after each sublayer. */
const sandwichNorms: TensorTemplate[] = [
  inputNorm,
  postAttnNorm,
  { role: 'pre_ffn_norm', name: `${L}.pre_feedforward_layernorm.weight`, group: 'norm', place: 'ffn_in', gguf: `${B}.ffn_norm.weight` },
  postFfnNorm,
];

const llamaLike = {
  globals,
  norm: 'rms',
  embedScale: 'none',
  activationKey: 'hidden_act',
  defaultActivation: 'silu',
  slidingWindowAllLayers: false,
  tiedDefault: false,
} as const;

/** convert_hf_to_gguf's LlamaModel (Llama, Mistral): rope pairs adjacent dims, llama3 scaling as rope_freqs. */
const llamaGguf: GgufFormat = { arch: 'llama', permuteQK: true, vocabSizeKey: true, ropeDimensionCount: true, ropeFreqs: true };

/**
 * Mixtral's sparse MoE block in place of the MLP: the router (`gate`, [experts, hidden]) and per
 * expert w1 (gate), w3 (up), w2 (down). The router belongs to the FFN group and has no FFN axis:
 * FFN pruning narrows every expert, never the routing.
 */
const moeBlock: TensorTemplate[] = [
  { role: 'router', name: `${L}.block_sparse_moe.gate.weight`, group: 'ffn', gguf: `${B}.ffn_gate_inp.weight` },
  { role: 'expert_gate', name: `${L}.block_sparse_moe.experts.{e}.w1.weight`, group: 'ffn', perExpert: true, ffnAxis: 0, gguf: `${B}.ffn_gate_exps.weight` },
  { role: 'expert_up', name: `${L}.block_sparse_moe.experts.{e}.w3.weight`, group: 'ffn', perExpert: true, ffnAxis: 0, gguf: `${B}.ffn_up_exps.weight` },
  { role: 'expert_down', name: `${L}.block_sparse_moe.experts.{e}.w2.weight`, group: 'ffn', perExpert: true, ffnAxis: 1, gguf: `${B}.ffn_down_exps.weight` },
];

export const FAMILIES: readonly FamilyDescriptor[] = [
  {
    ...llamaLike,
    name: 'llama',
    architectures: ['LlamaForCausalLM'],
    modelTypes: ['llama'],
    layer: [...preNorms, ...attention, ...attnBias('attention_bias', true), ...mlp, ...mlpBias('mlp_bias')],
    formats: {
      gguf: llamaGguf,
      onnx: { modelType: 'llama' },
    },
  },
  {
    ...llamaLike,
    name: 'mistral',
    architectures: ['MistralForCausalLM'],
    modelTypes: ['mistral'],
    layer: [...preNorms, ...attention, ...mlp],
    slidingWindowAllLayers: true,
    formats: {
      gguf: llamaGguf,
      onnx: { modelType: 'mistral' },
    },
  },
  {
    ...llamaLike,
    name: 'qwen2',
    architectures: ['Qwen2ForCausalLM'],
    modelTypes: ['qwen2'],
    // Qwen2 slides only with use_sliding_window, and then per layer_types; never all layers blindly.
    layer: [...preNorms, ...attention, ...attnBias('always', false), ...mlp],
    formats: { gguf: { arch: 'qwen2' }, onnx: { modelType: 'qwen2' } },
  },
  {
    ...llamaLike,
    name: 'qwen3',
    architectures: ['Qwen3ForCausalLM'],
    modelTypes: ['qwen3'],
    layer: [...preNorms, ...attention, ...attnBias('attention_bias', true), ...qkNorms, ...mlp],
    qkNormScope: 'head',
    formats: { gguf: { arch: 'qwen3' }, onnx: { modelType: 'qwen3' } },
  },
  {
    name: 'gemma3',
    architectures: ['Gemma3ForCausalLM'],
    modelTypes: ['gemma3_text', 'gemma3'],
    globals,
    layer: [...sandwichNorms, ...attention, ...attnBias('attention_bias', true), ...qkNorms, ...mlp],
    norm: 'rms-plus-one',
    qkNormScope: 'head',
    embedScale: 'sqrt-hidden',
    activationKey: 'hidden_activation',
    defaultActivation: 'gelu_pytorch_tanh',
    slidingWindowAllLayers: false,
    slidingPatternKeys: ['sliding_window_pattern', '_sliding_window_pattern'],
    tiedDefault: true,
    formats: {
      gguf: { arch: 'gemma3', trimVocab: true, fixedAttnScale: 62, finalSoftcap: true, slidingPattern: true },
      onnx: { modelType: 'gemma3_text', oneBasedPositions: true },
    },
  },
  {
    ...llamaLike,
    name: 'phi3',
    architectures: ['Phi3ForCausalLM'],
    modelTypes: ['phi3'],
    // Fused projections: qkv_proj stacks q, k, v rows; gate_up_proj stacks gate rows, then up rows
    // (llama.cpp keeps both fused: attn_qkv, and ffn_up with 2·I rows).
    layer: [
      ...preNorms,
      { role: 'qkv', name: `${L}.self_attn.qkv_proj.weight`, group: 'attention', gguf: `${B}.attn_qkv.weight` },
      { role: 'o', name: `${L}.self_attn.o_proj.weight`, group: 'attention', gguf: `${B}.attn_output.weight` },
      { role: 'gate_up', name: `${L}.mlp.gate_up_proj.weight`, group: 'ffn', ffnAxis: 0, ffnBlocks: 2, gguf: `${B}.ffn_up.weight` },
      { role: 'down', name: `${L}.mlp.down_proj.weight`, group: 'ffn', ffnAxis: 1, gguf: `${B}.ffn_down.weight` },
    ],
    formats: { gguf: { arch: 'phi3', ropeDimensionCount: true, partialRotary: true }, onnx: { modelType: 'phi3' } },
  },
  {
    ...llamaLike,
    name: 'granite',
    architectures: ['GraniteForCausalLM'],
    modelTypes: ['granite'],
    // Llama's layout; the embedding, attention, residual and logits multipliers are config numbers.
    layer: [...preNorms, ...attention, ...attnBias('attention_bias', true), ...mlp, ...mlpBias('mlp_bias')],
    formats: { gguf: { ...llamaGguf, arch: 'granite', ropeFreqs: false, multipliers: true }, onnx: { modelType: 'granite' } },
  },
  {
    ...llamaLike,
    name: 'olmo2',
    architectures: ['Olmo2ForCausalLM'],
    modelTypes: ['olmo2'],
    // Norms only on the sublayers' outputs; q/k norms over the whole projection.
    layer: [postAttnNorm, postFfnNorm, ...attention, ...attnBias('attention_bias', true), ...qkNorms, ...mlp],
    qkNormScope: 'projection',
    formats: { gguf: { arch: 'olmo2' }, onnx: { modelType: 'olmo2' } },
  },
  {
    name: 'gemma2',
    architectures: ['Gemma2ForCausalLM'],
    modelTypes: ['gemma2'],
    globals,
    layer: [...sandwichNorms, ...attention, ...attnBias('attention_bias', true), ...mlp],
    norm: 'rms-plus-one',
    embedScale: 'sqrt-hidden',
    activationKey: 'hidden_activation',
    defaultActivation: 'gelu_pytorch_tanh',
    slidingWindowAllLayers: false,
    // transformers' Gemma 2: even layers slide (is_sliding = not layer_idx % 2).
    slidingPatternDefault: 2,
    tiedDefault: true,
    formats: {
      gguf: { arch: 'gemma2', trimVocab: true, fixedAttnScale: 46, attnSoftcap: true, finalSoftcap: true, slidingPattern: true },
      onnx: { modelType: 'gemma2' },
    },
  },
  {
    ...llamaLike,
    name: 'mixtral',
    architectures: ['MixtralForCausalLM'],
    modelTypes: ['mixtral'],
    layer: [...preNorms, ...attention, ...moeBlock],
    moe: { expertsKey: 'num_local_experts', topKKey: 'num_experts_per_tok' },
    // Mistral's sliding window: every layer, when the config sets one.
    slidingWindowAllLayers: true,
    // convert_hf_to_gguf's MixtralModel: the llama arch with stacked experts.
    formats: { gguf: { ...llamaGguf, experts: true } },
    formatRefusals: { onnx: 'transformers.js has no mixtral model type' },
  },
];

export function supportedArchitectures(): string[] {
  return FAMILIES.flatMap((f) => f.architectures);
}

/** The family of a config.json, or a one-line error listing what is supported. */
export function familyFor(config: Record<string, unknown>, file: string): FamilyDescriptor {
  const archs = config.architectures;
  if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== 'string') {
    throw new CompactError(`${file}: no "architectures" list; expected one of ${supportedArchitectures().join(', ')}`);
  }
  const arch = archs[0];
  const fam = FAMILIES.find((f) => f.architectures.includes(arch));
  if (!fam) {
    throw new CompactError(
      `${file}: architecture ${arch} is not supported; supported: ${supportedArchitectures().join(', ')}`,
    );
  }
  return fam;
}
