import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelConfig, resolveSpec } from '../../src/families/model-config.ts';
import { inverseFrequencies } from '../../src/families/rope.ts';
import { CompactError } from '../../src/errors.ts';
import { patchJsonText } from '../../src/json-text.ts';
import { shared, GOLDEN_CASES } from '../helpers/paths.ts';

test('every golden config resolves to its family', () => {
  const expected: Record<string, string> = {
    llama3: 'llama', 'llama3-bf16': 'llama', 'llama-untied': 'llama', qwen2: 'qwen2', qwen3: 'qwen3', mistral: 'mistral', gemma3: 'gemma3',
    phi3: 'phi3', 'phi3-partial-rotary': 'phi3', gemma2: 'gemma2', granite: 'granite', olmo2: 'olmo2', mixtral: 'mixtral',
  };
  for (const c of GOLDEN_CASES) {
    const { spec } = readModelConfig(shared('fixtures/hf-golden', c, 'model'));
    assert.equal(spec.family.name, expected[c], c);
  }
});

test('mixtral: experts and experts per token from num_local_experts / num_experts_per_tok; top-k above the count refused', () => {
  const file = shared('fixtures/hf-golden/mixtral/model/config.json');
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.deepEqual(resolveSpec(cfg, file).moe, { experts: 4, topK: 2 });
  assert.equal(readModelConfig(shared('fixtures/hf-golden/llama3/model')).spec.moe, null);
  assert.throws(() => resolveSpec({ ...cfg, num_experts_per_tok: 5 }, file), (e: unknown) => e instanceof CompactError && /"num_experts_per_tok" 5 exceeds "num_local_experts" 4$/.test(e.message));
});

test('legacy keys: rope_theta + llama3 rope_scaling, torch_dtype', () => {
  const { spec } = readModelConfig(shared('fixtures/hf-golden/llama3/model'));
  assert.deepEqual(spec.rope.full, { theta: 500000, type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
  assert.equal(spec.dtype, 'float32');
  assert.equal(spec.tied, true);
});

test('v5 keys: rope_parameters per layer type, layer_types, dtype (gemma3)', () => {
  const { spec } = readModelConfig(shared('fixtures/hf-golden/gemma3/model'));
  assert.deepEqual(spec.layerTypes, ['sliding', 'sliding', 'full', 'sliding']);
  assert.equal(spec.rope.full.theta, 1e6);
  assert.equal(spec.rope.sliding.theta, 1e4);
  assert.equal(spec.attnScale, 16 ** -0.5);
  assert.equal(spec.activation, 'gelu_tanh');
  assert.equal(spec.slidingWindow, 8);
});

test('gemma3 legacy keys: sliding_window_pattern and rope_local_base_freq', () => {
  const cfg = {
    architectures: ['Gemma3ForCausalLM'], hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 16,
    num_hidden_layers: 6, intermediate_size: 128, vocab_size: 300, rope_theta: 1e6, rope_local_base_freq: 1e4,
    rope_scaling: { rope_type: 'linear', factor: 8 }, sliding_window_pattern: 3, sliding_window: 512, query_pre_attn_scalar: 256,
  };
  const spec = resolveSpec(cfg, 'config.json');
  assert.deepEqual(spec.layerTypes, ['sliding', 'sliding', 'full', 'sliding', 'sliding', 'full']);
  assert.deepEqual(spec.rope.full, { theta: 1e6, type: 'linear', factor: 8 });
  assert.deepEqual(spec.rope.sliding, { theta: 1e4, type: 'default' });
  assert.equal(spec.attnScale, 1 / 16);
});

test('mistral slides on every layer; qwen2 with use_sliding_window false does not', () => {
  assert.deepEqual(readModelConfig(shared('fixtures/hf-golden/mistral/model')).spec.layerTypes, ['sliding', 'sliding', 'sliding']);
  assert.deepEqual(readModelConfig(shared('fixtures/hf-golden/qwen2/model')).spec.layerTypes, ['full', 'full', 'full']);
  assert.equal(readModelConfig(shared('fixtures/hf-golden/qwen2/model')).spec.biases.qkv, true);
});

test('llama3 inverse frequencies follow transformers _compute_llama3_parameters', () => {
  const { spec } = readModelConfig(shared('fixtures/hf-golden/llama3/model'));
  const inv = inverseFrequencies(spec.rope.full, 16);
  // Independent values: high-frequency bands untouched, low ones divided by the factor.
  assert.equal(inv[0], 1);
  assert.ok(Math.abs(inv[7]! - 1 / 500000 ** (14 / 16) / 32) < 1e-15);
});

test('bad configs: missing architectures, unsupported architecture, malformed JSON', () => {
  assert.throws(() => resolveSpec({ hidden_size: 4 }, 'x/config.json'), (e: unknown) => e instanceof CompactError && /x\/config.json: no "architectures"/.test(e.message));
  assert.throws(
    () => resolveSpec({ architectures: ['GPTNeoXForCausalLM'] }, 'y/config.json'),
    (e: unknown) => e instanceof CompactError && /GPTNeoXForCausalLM is not supported; supported: LlamaForCausalLM/.test(e.message),
  );
  const dir = mkdtempSync(join(tmpdir(), 'compact-cfg-'));
  writeFileSync(join(dir, 'config.json'), '{"architectures": ["LlamaForCausalLM"],');
  assert.throws(() => readModelConfig(dir), (e: unknown) => e instanceof CompactError && /config.json: malformed JSON/.test(e.message) && !e.message.includes('\n'));
  assert.throws(() => readModelConfig(join(dir, 'nope')), (e: unknown) => e instanceof CompactError && /nope: no such model folder/.test(e.message));
});

test('patchJsonText changes only the named values and keeps number spelling and key order', () => {
  const text = readFileSync(shared('fixtures/hf-golden/llama3/model/config.json'), 'utf8');
  const out = patchJsonText(text, [
    { path: ['vocab_size'], value: 512 },
    { path: ['intermediate_size'], value: 99 },
    { path: ['rope_scaling', 'factor'], value: 16 },
  ]);
  const a = JSON.parse(text);
  const b = JSON.parse(out);
  assert.deepEqual(Object.keys(a), Object.keys(b));
  assert.equal(b.vocab_size, 512);
  assert.equal(b.intermediate_size, 99);
  assert.equal(b.rope_scaling.factor, 16);
  assert.ok(out.includes('"rope_theta": 500000.0'), 'float spelling kept');
  assert.equal(out.replace('512', '1024').replace('99', '176').replace('"factor": 16', '"factor": 32.0'), text);
  const added = patchJsonText('{\n  "a": 1.0\n}\n', [{ path: ['b'], value: [1, 2] }]);
  assert.deepEqual(JSON.parse(added), { a: 1, b: [1, 2] });
  assert.ok(added.startsWith('{\n  "a": 1.0,\n  "b": [1,2]'));
});

test('rope fields are validated: a llama3 rope_scaling without factor (or with a bad one) is refused in one line', () => {
  const base = JSON.parse(readFileSync(shared('fixtures/hf-golden/llama3/model/config.json'), 'utf8')) as Record<string, unknown>;
  const scaling = base.rope_scaling as Record<string, unknown>;
  const refused = (rope: unknown, pattern: RegExp): void => {
    assert.throws(
      () => resolveSpec({ ...base, rope_scaling: rope }, 'm/config.json'),
      (e: unknown) => e instanceof CompactError && pattern.test(e.message) && !e.message.includes('\n'),
      JSON.stringify(rope),
    );
  };
  const { factor: _factor, ...noFactor } = scaling;
  refused(noFactor, /^m\/config\.json: rope "llama3" needs "factor" as a positive number, got none$/);
  refused({ ...scaling, factor: 0 }, /needs "factor" as a positive number, got 0/);
  refused({ ...scaling, low_freq_factor: 'x' }, /needs "low_freq_factor"/);
  refused({ ...scaling, original_max_position_embeddings: 81.5 }, /needs "original_max_position_embeddings" as a positive integer/);
  refused({ ...scaling, high_freq_factor: 1, low_freq_factor: 4 }, /high_freq_factor > low_freq_factor/);
  refused({ rope_type: 'linear' }, /rope "linear" needs "factor"/);
  refused([1, 2], /rope parameters must be an object/);
  refused({ rope_type: 'yarn', factor: 4 }, /rope type "yarn" is not supported/);
  assert.throws(() => resolveSpec({ ...base, partial_rotary_factor: 1.5 }, 'm/config.json'), /partial_rotary_factor" must be in \(0, 1\]/);
});
