import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompactError } from '../../src/errors.ts';
import { withOutputDir, writeFileAtomic } from '../../src/io/atomic-dir.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

test('output appears only when the build succeeds', async () => {
  const parent = makeTmpDir('atomic');
  const out = path.join(parent, 'pruned');
  const result = await withOutputDir(out, {}, async (tmp) => {
    assert.equal(path.dirname(tmp), parent);
    assert.match(path.basename(tmp), new RegExp(`^pruned\\.compact-tmp-${process.pid}-[0-9a-f]{8}@[0-9a-f]{8}\\.[0-9a-f]{8}\\.[0-9a-f]{8}$`));
    writeFileSync(path.join(tmp, 'a.txt'), 'hello');
    assert.equal(existsSync(out), false, 'out must not exist before the build finishes');
    return 42;
  });
  assert.equal(result, 42);
  assert.equal(readFileSync(path.join(out, 'a.txt'), 'utf8'), 'hello');
  assert.deepEqual(readdirSync(parent), ['pruned']);
});

test('a failing build leaves neither out nor the temporary folder', async () => {
  const parent = makeTmpDir('atomic-fail');
  const out = path.join(parent, 'pruned');
  await assert.rejects(
    withOutputDir(out, {}, async (tmp) => {
      writeFileSync(path.join(tmp, 'half.bin'), 'x');
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.deepEqual(readdirSync(parent), []);
});

test('refuses out = input, out inside input, and out containing input', async () => {
  const parent = makeTmpDir('atomic-input');
  const input = path.join(parent, 'model');
  mkdirSync(input);
  const refuse = (out: string, re: RegExp) =>
    assert.rejects(withOutputDir(out, { input, force: true }, async () => assert.fail('build must not run')), (e: unknown) => {
      assert.ok(e instanceof CompactError);
      assert.match(e.message, re);
      return true;
    });
  await refuse(input, /is the input folder/);
  await refuse(path.join(input, '.', ''), /is the input folder/);
  await refuse(path.join(input, 'sub'), /is inside the input folder/);
  await refuse(parent, /contains the input folder/);
  symlinkSync(input, path.join(parent, 'link'));
  await refuse(path.join(parent, 'link'), /is the input folder/);
  await refuse(path.join(parent, 'link', 'out'), /is inside the input folder/);
  unlinkSync(path.join(parent, 'link'));
  assert.deepEqual(readdirSync(parent), ['model']);
});

test('refuses an existing out without force; force replaces it', async () => {
  const parent = makeTmpDir('atomic-force');
  const out = path.join(parent, 'pruned');
  mkdirSync(out);
  writeFileSync(path.join(out, 'old.txt'), 'old');
  writeFileSync(path.join(out, 'compact-report.json'), '{}');
  await assert.rejects(withOutputDir(out, {}, async () => assert.fail('build must not run')), (e: unknown) => {
    assert.ok(e instanceof CompactError);
    assert.equal(e.message, `${out} exists; pass --force to replace it`);
    return true;
  });
  assert.ok(existsSync(path.join(out, 'old.txt')));
  // A failed forced build leaves the old output untouched.
  await assert.rejects(withOutputDir(out, { force: true }, async () => { throw new Error('nope'); }), /nope/);
  assert.deepEqual(readdirSync(out).sort(), ['compact-report.json', 'old.txt']);
  await withOutputDir(out, { force: true }, async (tmp) => writeFileSync(path.join(tmp, 'new.txt'), 'new'));
  assert.deepEqual(readdirSync(out), ['new.txt']);
  assert.deepEqual(readdirSync(parent), ['pruned']);
});

test('SIGTERM during a build removes the temporary folder', async () => {
  const parent = makeTmpDir('atomic-signal');
  const out = path.join(parent, 'pruned');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'atomic-dir-child.ts'), out], { stdio: ['ignore', 'pipe', 'inherit'] });
  const tmp = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.trim());
    });
    child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
  assert.ok(existsSync(tmp));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.kill('SIGTERM');
  assert.equal(await exited, 'SIGTERM');
  assert.deepEqual(readdirSync(parent), []);
});

test('writeFileAtomic writes whole files, streams chunks, and can refuse to overwrite', async () => {
  const dir = makeTmpDir('atomic-file');
  const file = path.join(dir, 'model.gguf');
  await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...readFileSync(file)], [1, 2, 3]);
  async function* chunks() {
    yield new Uint8Array([4, 5]);
    yield new Uint8Array([6]);
  }
  await writeFileAtomic(path.join(dir, 'b.gguf'), chunks());
  assert.deepEqual([...readFileSync(path.join(dir, 'b.gguf'))], [4, 5, 6]);
  await assert.rejects(writeFileAtomic(file, 'x'), /model\.gguf exists; pass --force to replace it/);
  await assert.rejects(writeFileAtomic(file, 'x', { force: true, magic: 'GGUF' }), /does not start with "GGUF", so compact did not write it/);
  assert.deepEqual([...readFileSync(file)], [1, 2, 3]);
  const g = path.join(dir, 'g.gguf');
  await writeFileAtomic(g, 'GGUF1');
  await writeFileAtomic(g, 'GGUF2', { force: true, magic: 'GGUF' });
  assert.equal(readFileSync(g, 'utf8'), 'GGUF2');
  async function* failing() {
    yield new Uint8Array([7]);
    throw new Error('stream broke');
  }
  await assert.rejects(writeFileAtomic(path.join(dir, 'c.gguf'), failing()), /stream broke/);
  assert.deepEqual(readdirSync(dir).sort(), ['b.gguf', 'g.gguf', 'model.gguf']);
});
