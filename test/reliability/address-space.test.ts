/**
 * #14 item 7: under an address-space limit (`ulimit -v`) the compiled command runs wiki-28m at
 * 8 GiB, and under a limit too small for the model it stops with one line, not a V8 abort or a
 * native stack trace, and writes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';
import { outOfMemoryError } from '../../src/cli/address-space.ts';

const BIN = join(REPO_ROOT, 'dist', 'cli', 'bin.js');
const MODEL = join(REPO_ROOT, 'models', 'wiki-28m');

/** `compact prune` with `ulimit -v kib` applied to it alone (bash's ulimit, then exec). */
function pruneUnder(kib: number, out: string) {
  const args = ['prune', MODEL, '--out', out, '--vocab', '30000', '--ffn', '855', '--calib', shared('data', 'text', 'calib-wiki.txt'), '--calib-tokens', '1024', '--seq-len', '256', '--threads', '2', '--quiet'];
  return spawnSync('bash', ['-c', `ulimit -v ${kib} && exec "$0" "$@"`, process.execPath, BIN, ...args], { encoding: 'utf8' });
}

test('prune runs under ulimit -v 8388608 (8 GiB)', () => {
  const out = join(makeTmpDir('ulimit-ok'), 'out');
  const r = pruneUnder(8388608, out);
  assert.equal(r.status, 0, r.stderr);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { vocab_size: number; intermediate_size: number };
  assert.deepEqual([config.vocab_size, config.intermediate_size], [30000, 855]);
});

test('a limit too small for the model: one line, exit 1, nothing written', () => {
  // Just above what Node needs to load the command with onnxruntime (measured here, so it holds on
  // any machine), far below what the model needs.
  const probe = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(join(REPO_ROOT, 'dist', 'cli', 'prune.js'))}); process.stdout.write(/VmPeak:\\s+(\\d+)/.exec((await import('node:fs')).readFileSync('/proc/self/status', 'utf8'))[1])`], { encoding: 'utf8' });
  assert.equal(probe.status, 0, probe.stderr);
  const kib = Number(probe.stdout) + 32 * 1024;
  const out = join(makeTmpDir('ulimit-small'), 'out');
  const r = pruneUnder(kib, out);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^error: the address-space limit of [\\d.]+ [GM]iB \\(ulimit -v ${kib}\\) is too small for this model: it needs at least ~[\\d.]+ [GM]iB of address space [^\\n]*\\n$`));
  assert.ok(!existsSync(out));
});

test('native out-of-memory failures become one line naming the limit', () => {
  // Messages as onnxruntime-node and Node give them (seen under ulimit -v 1.0–1.4 GiB on wiki-28m).
  const cases: Array<[Error, RegExp]> = [
    [Object.assign(new Error('libonnxruntime.so.1: failed to map segment from shared object'), { code: 'ERR_DLOPEN_FAILED' }), /^out of memory: cannot load a native library.*\(libonnxruntime\.so\.1: failed to map segment from shared object\)$/],
    [new Error('/onnxruntime_src/onnxruntime/core/platform/posix/env.cc:251 onnxruntime::{anonymous}::PosixThread::PosixThread(...) pthread_create failed'), /^out of memory: cannot start a thread/],
    [new Error("Non-zero status code returned while running QuickGelu node. Name:'n' Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:360 void* onnxruntime::BFCArena::AllocateRawInternal(size_t, bool) Failed to allocate memory"), /^out of memory: cannot allocate memory.*\(\/onnxruntime_src/],
    [new RangeError('Array buffer allocation failed'), /^out of memory: cannot allocate memory/],
  ];
  for (const [e, re] of cases) assert.match(outOfMemoryError(e)!.message, re);
  assert.equal(outOfMemoryError(new Error('ENOENT: no such file')), null);
  assert.equal(outOfMemoryError(new RangeError('Invalid array length')), null);
});
