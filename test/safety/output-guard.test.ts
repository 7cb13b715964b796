/**
 * Issue 14, items 1 and 3: no write destroys a user's file. Each case runs the command as a user
 * would (the CLI) and compares sha256 of every input file before and after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { shared } from '../helpers/paths.ts';
import { cli, digests } from './helpers.ts';

const model = fixtureWithTokenizer('llama3');

/** A compact prune output of the fixture (vocabulary only: no calibration, a second). */
async function pruned(parent: string, name = 'O'): Promise<string> {
  const out = join(parent, name);
  const r = await cli('prune', model, '--out', out, '--vocab', '600', '--quiet');
  assert.equal(r.code, 0, r.stderr);
  return out;
}

function oneLine(stderr: string, re: RegExp): void {
  assert.equal(stderr.split('\n').length, 1, stderr);
  assert.match(stderr, re);
}

test('export --format gguf --out O/model.safetensors is refused and O is intact', async () => {
  const parent = makeTmpDir('guard-gguf-onto-input');
  const O = await pruned(parent);
  const before = digests(O);
  const r = await cli('export', O, '--format', 'gguf', '--out', join(O, 'model.safetensors'));
  assert.equal(r.code, 1);
  oneLine(r.stderr, /model\.safetensors is inside the input folder/);
  // Even --force does not let it write into the input.
  const f = await cli('export', O, '--format', 'gguf', '--out', join(O, 'model.safetensors'), '--force');
  assert.equal(f.code, 1);
  assert.deepEqual(digests(O), before);
  assert.deepEqual(readdirSync(parent), ['O']);
});

test('prune --export gguf --export-path M/model-00001-of-00003.safetensors is refused before any work, M intact', async () => {
  const parent = makeTmpDir('guard-prune-export');
  const M = join(parent, 'M');
  // The case: a sharded checkpoint (wiki-28m, copied so a failure could not touch the shared one).
  cpSync(shared('models/wiki-28m'), M, { recursive: true });
  const before = digests(M);
  const r = await cli('prune', M, '--out', join(parent, 'O'), '--vocab', '30000', '--ffn', '855', '--quiet', '--export', 'gguf', '--export-path', join(M, 'model-00001-of-00003.safetensors'));
  assert.equal(r.code, 1);
  oneLine(r.stderr, /--export-path .*model-00001-of-00003\.safetensors is inside the input folder/);
  assert.deepEqual(digests(M), before);
  assert.deepEqual(readdirSync(parent), ['M'], 'no --out, no temporary');
  // --export-path onto an existing file that is not a GGUF: refused even with --force.
  writeFileSync(join(parent, 'notes.txt'), 'mine');
  const n = await cli('prune', M, '--out', join(parent, 'O'), '--vocab', '30000', '--quiet', '--force', '--export', 'gguf', '--export-path', join(parent, 'notes.txt'));
  assert.equal(n.code, 1);
  oneLine(n.stderr, /notes\.txt: does not start with "GGUF", so compact did not write it; compact does not replace it, even with --force/);
  assert.equal(readFileSync(join(parent, 'notes.txt'), 'utf8'), 'mine');
  assert.deepEqual(readdirSync(parent).sort(), ['M', 'notes.txt']);
});

test('a model whose files are links into a blob store (the Hugging Face cache): the blobs are protected', async () => {
  const parent = makeTmpDir('guard-links');
  const blobs = join(parent, 'blobs');
  const snap = join(parent, 'snapshots', 'abc');
  mkdirSync(blobs);
  mkdirSync(snap, { recursive: true });
  for (const f of readdirSync(model)) {
    renameSync(join(cpDir(model, parent), f), join(blobs, `blob-${f}`));
    symlinkSync(join('..', '..', 'blobs', `blob-${f}`), join(snap, f));
  }
  const before = digests(blobs);
  const r = await cli('export', snap, '--format', 'gguf', '--out', join(blobs, 'blob-model.safetensors'), '--force');
  assert.equal(r.code, 1);
  oneLine(r.stderr, /is the input's file .*model\.safetensors \(through a link\)/);
  const d = await cli('prune', snap, '--out', blobs, '--vocab', '600', '--quiet', '--force');
  assert.equal(d.code, 1);
  oneLine(d.stderr, /contains .*blob-.*, which the input's .* links to/);
  assert.deepEqual(digests(blobs), before);
});

/** A copy of `dir`'s files in a fresh folder under `parent` (returned). */
function cpDir(dir: string, parent: string): string {
  const d = join(parent, 'copy');
  if (!existsSync(d)) cpSync(dir, d, { recursive: true });
  return d;
}

test('an existing GGUF needs --force; --force replaces a GGUF but no other file', async () => {
  const parent = makeTmpDir('guard-gguf-force');
  const g = join(parent, 'm.gguf');
  assert.equal((await cli('export', model, '--format', 'gguf', '--out', g)).code, 0);
  const first = digests(parent);
  const again = await cli('export', model, '--format', 'gguf', '--out', g);
  assert.equal(again.code, 1);
  oneLine(again.stderr, /m\.gguf exists; pass --force to replace it/);
  assert.deepEqual(digests(parent), first);
  assert.equal((await cli('export', model, '--format', 'gguf', '--out', g, '--dtype', 'f16', '--force')).code, 0);
  assert.notDeepEqual(digests(parent), first, 'replaced');
  writeFileSync(join(parent, 'thesis.docx'), 'PK\u0003\u0004 my thesis');
  const other = await cli('export', model, '--format', 'gguf', '--out', join(parent, 'thesis.docx'), '--force');
  assert.equal(other.code, 1);
  oneLine(other.stderr, /thesis\.docx: does not start with "GGUF"/);
  assert.equal(readFileSync(join(parent, 'thesis.docx'), 'utf8'), 'PK\u0003\u0004 my thesis');
  assert.deepEqual(readdirSync(parent).sort(), ['m.gguf', 'thesis.docx'], 'no temporary left');
});

test('--force replaces a folder compact wrote or an empty one, nothing else', async () => {
  const parent = makeTmpDir('guard-force-folder');
  const docs = join(parent, 'Documents');
  mkdirSync(docs);
  writeFileSync(join(docs, 'letter.txt'), 'dear …');
  writeFileSync(join(docs, 'taxes.pdf'), '%PDF');
  const before = digests(docs);
  const r = await cli('prune', model, '--out', docs, '--vocab', '600', '--quiet', '--force');
  assert.equal(r.code, 1);
  oneLine(r.stderr, /Documents: holds letter\.txt, taxes\.pdf and no compact-report\.json, so compact did not write it; compact does not replace it, even with --force/);
  assert.deepEqual(digests(docs), before);
  const o = await cli('export', model, '--format', 'onnx', '--out', docs, '--force');
  assert.equal(o.code, 1);
  assert.deepEqual(digests(docs), before);

  // A file where a folder goes: refused, even with --force.
  writeFileSync(join(parent, 'afile'), 'x');
  const f = await cli('prune', model, '--out', join(parent, 'afile'), '--vocab', '600', '--quiet', '--force');
  assert.equal(f.code, 1);
  oneLine(f.stderr, /afile: is a file, not a folder/);

  // An empty folder, then a previous prune output, then a previous ONNX export: replaced.
  const empty = join(parent, 'empty');
  mkdirSync(empty);
  assert.equal((await cli('prune', model, '--out', empty, '--vocab', '600', '--quiet', '--force')).code, 0);
  assert.ok(existsSync(join(empty, 'compact-report.json')));
  assert.equal((await cli('prune', model, '--out', empty, '--vocab', '700', '--quiet', '--force')).code, 0);
  assert.equal(JSON.parse(readFileSync(join(empty, 'compact-report.json'), 'utf8')).vocab.kept, 700);
  const onnx = join(parent, 'onnx');
  assert.equal((await cli('export', model, '--format', 'onnx', '--out', onnx)).code, 0);
  assert.ok(existsSync(join(onnx, 'compact-export.json')));
  assert.equal((await cli('export', model, '--format', 'onnx', '--out', onnx, '--force')).code, 0);
  assert.deepEqual(readdirSync(parent).sort(), ['Documents', 'afile', 'empty', 'onnx']);
});
