/**
 * Bad input to the exporters: one-line CompactErrors that say what is wrong and why, and no
 * output (not even a temporary file) left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompactError } from '../../src/errors.ts';
import { exportGguf } from '../../src/export/gguf-export.ts';
import { exportOnnx } from '../../src/export/onnx-export.ts';
import { main } from '../../src/cli/main.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

function editJson(file: string, edit: (j: Record<string, unknown>) => void): void {
  const j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(j);
  writeFileSync(file, JSON.stringify(j, null, 2));
}

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CompactError, `expected a CompactError, got ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

/** Nothing but `keep` in the folder: no output and no temporary sibling. */
function onlyContains(dir: string, keep: string[]): void {
  assert.deepEqual(readdirSync(dir).sort(), keep.sort());
}

test('an unsupported architecture names the families each format supports', async () => {
  const dir = fixtureWithTokenizer('llama3');
  editJson(join(dir, 'config.json'), (j) => (j.architectures = ['GPT2LMHeadModel']));
  const out = makeTmpDir('err-arch');
  await rejects(exportGguf(dir, join(out, 'm.gguf')), /config\.json: GPT2LMHeadModel cannot be exported to GGUF; supported: LlamaForCausalLM → llama, MistralForCausalLM → llama, Qwen2ForCausalLM → qwen2, Qwen3ForCausalLM → qwen3, Gemma3ForCausalLM → gemma3/);
  await rejects(exportOnnx(dir, join(out, 'onnx')), /cannot be exported to ONNX; supported: .*Gemma3ForCausalLM → gemma3_text/);
  onlyContains(out, []);
});

test('an output folder that does not exist or is a file is refused before any work', async () => {
  const dir = fixtureWithTokenizer('qwen2');
  const out = makeTmpDir('err-out');
  await rejects(exportGguf(dir, join(out, 'missing', 'm.gguf')), /m\.gguf: cannot write: folder .*missing does not exist/);
  writeFileSync(join(out, 'file'), 'x');
  await rejects(exportGguf(dir, join(out, 'file', 'm.gguf')), /cannot write: .*file is not a folder/);
  mkdirSync(join(out, 'adir'));
  await rejects(exportGguf(dir, join(out, 'adir')), /adir: is a folder; --out names the \.gguf file/);
  onlyContains(out, ['file', 'adir']);
});

test('tokenizers llama.cpp cannot reproduce are refused with the reason, and no file is written', async () => {
  const out = makeTmpDir('err-tok');
  const cases: Array<[string, (j: Record<string, unknown>) => void, RegExp]> = [
    [
      'unknown split regex',
      (j) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '\\p{L}+|\\p{N}' }, behavior: 'Isolated', invert: false }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] }),
      /tokenizer\.json: split regex "\\\\p\{L\}\+\|\\\\p\{N\}" matches no llama\.cpp pre-tokenizer \(supported: gpt-2 = GPT-2.*llama-bpe = Llama 3.*qwen2 = Qwen/,
    ],
    ['lowercasing normalizer', (j) => (j.normalizer = { type: 'Lowercase' }), /normalizer Lowercase has no llama\.cpp equivalent for byte-level BPE/],
    ['prefix space', (j) => ((j.pre_tokenizer as Record<string, unknown>).add_prefix_space = true), /ByteLevel add_prefix_space=true has no llama\.cpp equivalent/],
    ['WordPiece model', (j) => (j.model = { type: 'WordPiece', vocab: { a: 0 }, unk_token: 'a' }), /tokenizer model type "WordPiece" is not supported/],
  ];
  for (const [what, edit, pattern] of cases) {
    const dir = fixtureWithTokenizer('llama3');
    editJson(join(dir, 'tokenizer.json'), edit);
    await rejects(exportGguf(dir, join(out, 'm.gguf')), pattern);
    assert.ok(!existsSync(join(out, 'm.gguf')), what);
  }
  onlyContains(out, []);
});

test('config values llama.cpp cannot express are refused; Gemma 3 non-periodic sliding layers', async () => {
  const out = makeTmpDir('err-cfg');
  const gemma = fixtureWithTokenizer('gemma3');
  editJson(join(gemma, 'config.json'), (j) => (j.layer_types = ['sliding_attention', 'full_attention', 'sliding_attention', 'sliding_attention']));
  await rejects(exportGguf(gemma, join(out, 'g.gguf')), /layer_types \[sliding, full, sliding, sliding\] is not periodic/);
  const soft = fixtureWithTokenizer('gemma3');
  editJson(join(soft, 'config.json'), (j) => (j.attn_logit_softcapping = 50));
  await rejects(exportGguf(soft, join(out, 'g.gguf')), /attn_logit_softcapping is not supported by llama\.cpp's gemma3/);
  onlyContains(out, []);
});

test('ONNX export refuses to replace a folder without --force, and the CLI prints one line', async () => {
  const dir = fixtureWithTokenizer('llama3');
  const parent = makeTmpDir('err-onnx');
  const out = join(parent, 'exported');
  mkdirSync(out);
  await rejects(exportOnnx(dir, out), /exported exists; pass --force to replace it/);
  onlyContains(parent, ['exported']);

  const errors: string[] = [];
  const orig = console.error;
  console.error = (...args: unknown[]) => void errors.push(args.join(' '));
  try {
    assert.equal(await main(['export', dir, '--format', 'gguf', '--out', join(parent, 'nope', 'm.gguf')]), 1);
    // Usage mistakes exit 2 (README, "Exit status").
    assert.equal(await main(['export', dir, '--format', 'safetensors', '--out', join(parent, 'x')]), 2);
    assert.equal(await main(['export', dir, '--format', 'gguf', '--dtype', 'q4', '--out', join(parent, 'x.gguf')]), 2);
  } finally {
    console.error = orig;
  }
  assert.match(errors[0]!, /^error: .*m\.gguf: cannot write: folder .*nope does not exist$/);
  assert.match(errors[1]!, /^error: --format must be gguf or onnx, got safetensors$/);
  assert.match(errors[2]!, /^error: --dtype must be f32, f16 or bf16, got q4$/);
  onlyContains(parent, ['exported']);
});
