/**
 * The pure-JS bzip2 decoder: small streams made by Python's bz2 (run-length edge cases,
 * concatenated streams, empty input), corruption and truncation, and the real HellaSwag file
 * (9 blocks at level 9) against the SHA-256 of Python's decompression of it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CompactError } from '../../src/errors.ts';
import { bunzip2 } from '../../src/eval/bzip2.ts';
import { TASKS } from '../../src/eval/tasks.ts';
import { shared } from '../helpers/paths.ts';

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const text = (u: Uint8Array): string => Buffer.from(u).toString('utf8');

// python3 -c "import bz2; bz2.compress(data, level)"
const EMPTY = 'QlpoORdyRThQkAAAAAA=';
const HELLO = 'QlpoOTFBWSZTWcwVt94AAALRjAAQQAQGRJCAAQAIACAAMQNA0CAGQRAAomU3O7xdyRThQkMwVt94'; // "hello, wörld\n"
/** b'a'*4 + b'b' + b'c'*5 + b'd'*259 + b'e'*260 + b'f'*1000 + b'xyz'*50 + b'\0'*7 + bytes(range(256)) */
const RUNS =
  'QlpoOTFBWSZTWat7rPQAADZ/////////////////////////////////////////////sAD7VhAAAAAATAAAmABMmAAAAIwCYAAAAAABkAAAAAAAAAAAAAAAJgAYoAAJgAJgAAAAEwAmAAAAAAEYAE0wEwAAAAAAAAAACZMAABMABMhgMSaGpo0wACYATATCYAAEwCYACDxMiYAACZNMBNMTAAAAAAAJgATAAATTBMmAAmJoPQQEO0BmgUG8AYcG/D4h3xjw+QEJERkhKTE5QUlRX5CwtLi8wMTIzNDXymxucHJ0dnhoamxucHJ0dnh6fH6AgoSGifJFRkdISUpLTE1O+aeoKKkpqiqrK6wsrS2uLq8vsDCxMftDiBIgH/CvYFEgiwBQP8FDAAyEFgjIYYAChAoI01AAABQgIHua2xtbm9wcXJ2+n1d3h5enoEAAAHkfH0EEAAF+BBAABC3+AgYL7Qf3hIWGh4iJivxFxkbHR8hIyUnKAAMrLS8xMzU3OTs9P0FDRUdJS01PUVNVV1lbXV9hY2VnaWttb3FzdXd5e31/gYOFh4mLjY+Rk5WXmZudn6Gjpaepq62vsbO1t7m7vb/Bw8XHyP3K383P0dPV19nb3d/h4//y8/T19gEmNgvuB+Pn6+xdyRThQkKt7rPQ';
/** Two streams back to back (levels 1 and 5), as pbzip2 writes. */
const TWO = 'QlpoMTFBWSZTWSoEXTgAAAJRgAAQQAAjIhwAIAAxADAgGmJzC0kIJx4u5IpwoSBUCLpwQlpoNTFBWSZTWYRSkJQAAAXRgAAQQAAuA5wAIAAiANDQQNA0BQS9OE8eHi7kinChIQilISg=';

test('small streams: empty, UTF-8 text, run-length edge cases, concatenated streams', () => {
  assert.equal(bunzip2(b64(EMPTY)).length, 0);
  assert.equal(text(bunzip2(b64(HELLO))), 'hello, wörld\n');
  const want = Buffer.concat([
    Buffer.from('a'.repeat(4) + 'b' + 'c'.repeat(5) + 'd'.repeat(259) + 'e'.repeat(260) + 'f'.repeat(1000) + 'xyz'.repeat(50)),
    Buffer.alloc(7),
    Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  ]);
  assert.deepEqual(Buffer.from(bunzip2(b64(RUNS))), want);
  assert.equal(text(bunzip2(b64(TWO))), 'first stream\nsecond stream\n');
});

test('corrupt, truncated or foreign data: CompactError naming the file', () => {
  const good = b64(RUNS);
  const flipped = good.slice();
  flipped[60]! ^= 0x10;
  assert.throws(() => bunzip2(flipped, 'x.bz2'), (e: Error) => e instanceof CompactError && /^x\.bz2: bzip2 /.test(e.message));
  assert.throws(() => bunzip2(good.subarray(0, good.length - 7), 'x.bz2'), (e: Error) => e instanceof CompactError && /x\.bz2: .*(ends unexpectedly|corrupt)/.test(e.message));
  assert.throws(() => bunzip2(new TextEncoder().encode('{"query": 1}\n'), 'x.bz2'), /x\.bz2: not a bzip2 file/);
  // Trailing garbage after a complete stream is not silently ignored.
  const junk = new Uint8Array([...b64(HELLO), 0x41, 0x42]);
  assert.throws(() => bunzip2(junk, 'x.bz2'), /x\.bz2: not a bzip2 file/);
});

test('the real hellaswag_val_full.txt.bz2: byte-exact (SHA-256 of Python bz2 output), 10,042 items', () => {
  const file = shared('data/tasks/hellaswag_val_full.txt.bz2');
  const out = bunzip2(readFileSync(file), file);
  assert.equal(out.length, 7_770_677);
  assert.equal(createHash('sha256').update(out).digest('hex'), 'd572539320eb2050e858ca34b495bbe2103e3b3f1391a9c3bcdf215b0bb93bd1');
  const items = TASKS.find((t) => t.name === 'hellaswag')!.parse(text(out), file);
  assert.equal(items.length, 10_042);
  const first = items[0]!;
  assert.ok(first.kind === 'choice');
  assert.equal(first.gold, 3);
  assert.equal(first.requests[0]!.context, 'Roof shingle removal: A man is sitting on a roof. he');
  assert.equal(first.requests[3]!.continuation, ' starts pulling up roofing on a roof.');
});
