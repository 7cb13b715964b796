import { CompactError } from '../errors.ts';
import type { FamilyDescriptor, TensorTemplate } from './types.ts';

const L = 'model.layers.{i}';

const globals: TensorTemplate[] = [
  { role: 'embed', name: 'model.embed_tokens.weight', group: 'embedding', vocabAxis: 0 },
  { role: 'final_norm', name: 'model.norm.weight', group: 'norm' },
  { role: 'lm_head', name: 'lm_head.weight', group: 'embedding', vocabAxis: 0, presence: 'if-present' },
];

const attnBias = (flag: string | 'always', o: boolean): TensorTemplate[] => {
  const presence: TensorTemplate['presence'] = flag === 'always' ? 'always' : { configFlag: flag, default: false };
  const t: TensorTemplate[] = [
    { role: 'q_bias', name: `${L}.self_attn.q_proj.bias`, group: 'attention', presence },
    { role: 'k_bias', name: `${L}.self_attn.k_proj.bias`, group: 'attention', presence },
    { role: 'v_bias', name: `${L}.self_attn.v_proj.bias`, group: 'attention', presence },
  ];
  if (o) t.push({ role: 'o_bias', name: `${L}.self_attn.o_proj.bias`, group: 'attention', presence });
  return t;
};

const attention: TensorTemplate[] = [
  { role: 'q', name: `${L}.self_attn.q_proj.weight`, group: 'attention' },
  { role: 'k', name: `${L}.self_attn.k_proj.weight`, group: 'attention' },
  { role: 'v', name: `${L}.self_attn.v_proj.weight`, group: 'attention' },
  { role: 'o', name: `${L}.self_attn.o_proj.weight`, group: 'attention' },
];

const qkNorms: TensorTemplate[] = [
  { role: 'q_norm', name: `${L}.self_attn.q_norm.weight`, group: 'norm' },
  { role: 'k_norm', name: `${L}.self_attn.k_norm.weight`, group: 'norm' },
];

const mlp: TensorTemplate[] = [
  { role: 'gate', name: `${L}.mlp.gate_proj.weight`, group: 'ffn', ffnAxis: 0 },
  { role: 'up', name: `${L}.mlp.up_proj.weight`, group: 'ffn', ffnAxis: 0 },
  { role: 'down', name: `${L}.mlp.down_proj.weight`, group: 'ffn', ffnAxis: 1 },
];

const mlpBias = (flag: string): TensorTemplate[] => {
  const presence = { configFlag: flag, default: false };
  return [
    { role: 'gate_bias', name: `${L}.mlp.gate_proj.bias`, group: 'ffn', ffnAxis: 0, presence },
    { role: 'up_bias', name: `${L}.mlp.up_proj.bias`, group: 'ffn', ffnAxis: 0, presence },
    // down's bias lives on the hidden axis: FFN pruning leaves it whole.
    { role: 'down_bias', name: `${L}.mlp.down_proj.bias`, group: 'ffn', presence },
  ];
};

const twoNorms: TensorTemplate[] = [
  { role: 'input_norm', name: `${L}.input_layernorm.weight`, group: 'norm' },
  { role: 'post_attn_norm', name: `${L}.post_attention_layernorm.weight`, group: 'norm' },
];

const llamaLike = {
  globals,
  norm: 'rms',
  embedScale: 'none',
  sandwichNorms: false,
  activationKey: 'hidden_act',
  defaultActivation: 'silu',
} as const;

export const FAMILIES: readonly FamilyDescriptor[] = [
  {
    ...llamaLike,
    name: 'llama',
    architectures: ['LlamaForCausalLM'],
    modelTypes: ['llama'],
    layer: [...twoNorms, ...attention, ...attnBias('attention_bias', true), ...mlp, ...mlpBias('mlp_bias')],
    qkNorm: false,
    slidingWindowAllLayers: false,
    tiedDefault: false,
    ggufArch: 'llama',
  },
  {
    ...llamaLike,
    name: 'mistral',
    architectures: ['MistralForCausalLM'],
    modelTypes: ['mistral'],
    layer: [...twoNorms, ...attention, ...mlp],
    qkNorm: false,
    slidingWindowAllLayers: true,
    tiedDefault: false,
    ggufArch: 'llama',
  },
  {
    ...llamaLike,
    name: 'qwen2',
    architectures: ['Qwen2ForCausalLM'],
    modelTypes: ['qwen2'],
    layer: [...twoNorms, ...attention, ...attnBias('always', false), ...mlp],
    qkNorm: false,
    // Qwen2 slides only with use_sliding_window, and then per layer_types; never all layers blindly.
    slidingWindowAllLayers: false,
    tiedDefault: false,
    ggufArch: 'qwen2',
  },
  {
    ...llamaLike,
    name: 'qwen3',
    architectures: ['Qwen3ForCausalLM'],
    modelTypes: ['qwen3'],
    layer: [...twoNorms, ...attention, ...attnBias('attention_bias', true), ...qkNorms, ...mlp],
    qkNorm: true,
    slidingWindowAllLayers: false,
    tiedDefault: false,
    ggufArch: 'qwen3',
  },
  {
    name: 'gemma3',
    architectures: ['Gemma3ForCausalLM'],
    modelTypes: ['gemma3_text', 'gemma3'],
    globals,
    layer: [
      ...twoNorms,
      { role: 'pre_ffn_norm', name: `${L}.pre_feedforward_layernorm.weight`, group: 'norm' },
      { role: 'post_ffn_norm', name: `${L}.post_feedforward_layernorm.weight`, group: 'norm' },
      ...attention,
      ...attnBias('attention_bias', true),
      ...qkNorms,
      ...mlp,
    ],
    norm: 'rms-plus-one',
    embedScale: 'sqrt-hidden',
    qkNorm: true,
    sandwichNorms: true,
    activationKey: 'hidden_activation',
    defaultActivation: 'gelu_pytorch_tanh',
    slidingWindowAllLayers: false,
    slidingPatternKeys: ['sliding_window_pattern', '_sliding_window_pattern'],
    tiedDefault: true,
    ggufArch: 'gemma3',
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

/** Tensor name of a template for layer i. */
export function tensorName(t: TensorTemplate, layer?: number): string {
  return layer === undefined ? t.name : t.name.replace('{i}', String(layer));
}

/** The template a checkpoint tensor instantiates, and its layer index; null for names the family does not declare. */
export function templateOf(fam: FamilyDescriptor, name: string): { template: TensorTemplate; layer?: number } | null {
  for (const t of fam.globals) if (t.name === name) return { template: t };
  const m = /^model\.layers\.(\d+)\./.exec(name);
  if (!m) return null;
  const generic = name.replace(`model.layers.${m[1]}.`, 'model.layers.{i}.');
  for (const t of fam.layer) if (t.name === generic) return { template: t, layer: Number(m[1]) };
  return null;
}
