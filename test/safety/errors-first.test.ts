/**
 * Issue 17, item 4: every mistake in flags, paths and budgets is reported before a weight is
 * read. The model folder here has a readable config and tokenizer but a weight file that is
 * garbage: a check made after opening the weights would fail with the safetensors error instead.
 * Each case also checks that nothing was left on disk and the exit status (2 usage, 1 input).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { cli, digests } from './helpers.ts';

const model = fixtureWithTokenizer('llama3');
writeFileSync(join(model, 'model.safetensors'), 'not a safetensors file: any read of the weights fails');
const parent = makeTmpDir('errors-first');
const calib = join(parent, 'calib.txt');
writeFileSync(calib, 'Plenty of calibration text. '.repeat(200));
const binary = join(parent, 'calib.bin');
writeFileSync(binary, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xff, 0xfe]));
const existing = join(parent, 'existing');
mkdirSync(existing);
writeFileSync(join(existing, 'keep.txt'), 'mine');
const afile = join(parent, 'afile');
writeFileSync(afile, 'x');
// What opening the weights says: no case may end in this.
const weightError = await openCheckpoint(model).then(() => assert.fail('the weights must be unreadable'), (e: Error) => e.message);
const before = digests(parent);
const modelBefore = digests(model);
const out = join(parent, 'out');
const prune = (...a: string[]) => cli('prune', model, ...a);

const cases: Array<[string, () => ReturnType<typeof cli>, number, RegExp]> = [
  ['--out = input', () => prune('--out', model, '--vocab', '600'), 1, /is the input folder/],
  ['--out inside input', () => prune('--out', join(model, 'sub'), '--vocab', '600'), 1, /is inside the input folder/],
  ['existing --out without --force', () => prune('--out', existing, '--vocab', '600'), 1, /existing exists; pass --force to replace it$/],
  ['--out under a file', () => prune('--out', join(afile, 'x'), '--vocab', '600'), 1, /cannot write: .*afile is not a folder/],
  ['--out /proc/nope', () => prune('--out', '/proc/nope', '--vocab', '600'), 1, /^error: \/proc\/nope: cannot write: folder \/proc is not writable/],
  ['no budget', () => prune('--out', out), 2, /needs a budget: --ratio R, or --vocab/],
  ['--vocab above the tokenizer', () => prune('--out', out, '--vocab', '60000'), 2, /--vocab must be an integer in \[259, 1024\]/],
  ['--vocab below the mandatory tokens', () => prune('--out', out, '--vocab', '10'), 2, /--vocab must be an integer in \[259, 1024\]/],
  ['--ffn 0', () => prune('--out', out, '--ffn', '0'), 2, /--ffn must be an integer in \[1, \d+\]/],
  ['impossible --ratio with --vocab', () => prune('--out', out, '--ratio', '0.9', '--vocab', '1000'), 2, /--ratio 0\.9 with --vocab 1000/],
  ['fractional --vocab', () => prune('--out', out, '--vocab', '600.5'), 2, /--vocab must be a whole number, got "600\.5"/],
  ['missing calibration file', () => prune('--out', out, '--ffn', '40', '--calib', join(parent, 'nope.txt')), 1, /--calib .*nope\.txt: no such file/],
  ['binary calibration file', () => prune('--out', out, '--ffn', '40', '--calib', binary), 1, /--calib .*calib\.bin: not a text file \(a NUL byte at offset 3 in the first 12 bytes\)/],
  ['--calib-tokens below the minimum', () => prune('--out', out, '--ffn', '40', '--calib', calib, '--calib-tokens', '2'), 2, /--calib-tokens must be an integer ≥ 64, got 2/],
  ['--calib-precision typo', () => prune('--out', out, '--ffn', '40', '--calib', calib, '--calib-precision', 'int4'), 2, /--calib-precision must be one of f32, int8, got int4/],
  ['--calib-precision int8 on webgpu', () => prune('--out', out, '--ffn', '40', '--calib', calib, '--calib-precision', 'int8', '--device', 'webgpu'), 2, /--calib-precision int8 runs on the CPU/],
  ['--export-path into the input', () => prune('--out', out, '--vocab', '600', '--export', 'gguf', '--export-path', join(model, 'model.safetensors')), 1, /--export-path .* is inside the input folder/],
  ['typo in a flag', () => prune('--out', out, '--ratoi', '0.3'), 2, /unknown flag --ratoi; did you mean --ratio\?/],
  ['typo in a method', () => prune('--out', out, '--ratio', '0.3', '--method', 'compcat'), 2, /--method must be one of/],
  ['not a model folder', () => cli('prune', parent, '--out', out, '--vocab', '600'), 1, /^error: not a model folder: no config\.json in /],
  ['a file as the model', () => cli('prune', calib, '--out', out, '--vocab', '600'), 1, /calib\.txt is a file, expected a model folder/],
  ['no such model folder', () => cli('prune', join(parent, 'missing'), '--out', out, '--vocab', '600'), 1, /missing: no such model folder/],
  ['missing --out', () => prune('--vocab', '600'), 2, /^error: compact prune: --out <dir> is required/],
  ['eval: unknown task', () => cli('eval', model, '--tasks', 'arc_esy'), 2, /unknown task "arc_esy"; did you mean arc_easy\?/],
  ['eval: --max-tokens 1.5', () => cli('eval', model, '--text', calib, '--max-tokens', '1.5'), 2, /--max-tokens must be a whole number, got "1\.5"/],
  ['eval: binary text', () => cli('eval', model, '--text', binary), 1, /--text .*calib\.bin: not a text file/],
  ['eval: missing task file', () => cli('eval', model, '--tasks', 'piqa', '--task-dir', parent), 1, /piqa\.jsonl: missing/],
  ['export: --out in the input', () => cli('export', model, '--format', 'gguf', '--out', join(model, 'm.gguf')), 1, /is inside the input folder/],
  ['export: no --format', () => cli('export', model, '--out', join(parent, 'm.gguf')), 2, /--format gguf\|onnx is required/],
  ['export: --format typo', () => cli('export', model, '--format', 'ggfu', '--out', join(parent, 'm.gguf')), 2, /--format must be gguf or onnx, got ggfu; did you mean gguf\?/],
  ['unknown command', () => cli('prnue', model), 2, /unknown command "prnue"; did you mean prune\?/],
];

for (const [what, run, code, re] of cases) {
  test(`before any weight is read: ${what}`, async () => {
    const r = await run();
    assert.equal(r.stderr.split('\n').length, 1, `one line: ${r.stderr}`);
    assert.ok(!r.stderr.includes(weightError), `reported before the weights were opened: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.code, code, r.stderr);
    assert.deepEqual(digests(parent), before, 'nothing written or changed');
    assert.deepEqual(digests(model), modelBefore);
  });
}

test('the same mistakes through bin/compact.mjs: one line on stderr, no stack trace, the documented status', () => {
  const bin = join(REPO_ROOT, 'bin/compact.mjs');
  const r = spawnSync(process.execPath, [bin, 'prune', shared('models/wiki-28m'), '--out', '/proc/nope', '--vocab', '30000'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^error: \/proc\/nope: cannot write: folder \/proc is not writable \([A-Z]+\)\n$/);
  const u = spawnSync(process.execPath, [bin, 'prune', shared('models/wiki-28m'), '--out', join(parent, 'o'), '--ratoi', '0.3'], { encoding: 'utf8' });
  assert.equal(u.status, 2);
  assert.equal(u.stderr, 'error: compact prune: unknown flag --ratoi; did you mean --ratio?\n');
  assert.deepEqual(readdirSync(parent).sort(), Object.keys(before).map((k) => k.split('/')[0]!).filter((k, i, a) => a.indexOf(k) === i).sort());
});
