/**
 * fast-check arbitraries that damage real files: byte-level (bit flips, overwrites, truncations,
 * insertions of JSON punctuation) and structure-level (replace, delete or duplicate a member,
 * nest deeply, swap values between members, extreme numbers). Starting from real files keeps
 * most inputs close to valid, which is where parsers' checks are thinnest; random JSON alone
 * would be refused at the first field.
 */
import fc from 'fast-check';

// ---------------------------------------------------------------------------------------------
// Byte mutations

export type ByteOp =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'set'; pos: number; byte: number }
  | { kind: 'truncate'; pos: number }
  | { kind: 'delete'; pos: number; len: number }
  | { kind: 'insert'; pos: number; text: string };

/** Fragments that change JSON structure when dropped into the middle of a document. */
const PUNCTUATION = ['{', '}', '[', ']', '"', '\\', ',', ':', '-', '0', '1e999', '-1', '9007199254740993', 'null', '\u0000', '\n', '\ud800', '[[[[[[[[', '"__metadata__":'];

/**
 * Positions are fractions of the length, biased toward the start: the interesting part of a
 * safetensors file is its first few KB, and fast-check shrinks toward small numbers.
 */
function position(biasTo: number): fc.Arbitrary<number> {
  return fc.oneof(fc.integer({ min: 0, max: Math.max(0, biasTo - 1) }), fc.nat());
}

export function byteOps(biasTo: number): fc.Arbitrary<ByteOp[]> {
  const pos = position(biasTo);
  const op: fc.Arbitrary<ByteOp> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), pos, bit: fc.integer({ min: 0, max: 7 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), pos, byte: fc.integer({ min: 0, max: 255 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), pos }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), pos, len: fc.integer({ min: 1, max: 64 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert' as const), pos, text: fc.constantFrom(...PUNCTUATION) }) },
  );
  return fc.array(op, { minLength: 1, maxLength: 4 });
}

export function applyByteOps(src: Uint8Array, ops: readonly ByteOp[]): Uint8Array {
  let b: Uint8Array = src.slice();
  for (const op of ops) {
    if (b.length === 0) break;
    const at = op.pos % (b.length + (op.kind === 'insert' || op.kind === 'truncate' ? 1 : 0));
    switch (op.kind) {
      case 'flip':
        b[at] = b[at]! ^ (1 << op.bit);
        break;
      case 'set':
        b[at] = op.byte;
        break;
      case 'truncate':
        b = b.slice(0, at);
        break;
      case 'delete':
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + op.len)));
        break;
      case 'insert':
        b = concat(b.subarray(0, at), new TextEncoder().encode(op.text), b.subarray(at));
        break;
    }
  }
  return b;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Structure mutations

/**
 * JSON literals a JS value cannot hold exactly (so they are spliced in as text): integers past
 * 2^53 and 2^64, overflowing exponents, -0, lone surrogates, line separators in strings.
 */
export const RAW_LITERALS = [
  '0', '-0', '1', '-1', '2', '1.5', '-1.5', '0.1', '1e-400', '1e308', '1e400', '-1e400',
  '2147483647', '2147483648', '4294967295', '4294967296', '9007199254740991', '9007199254740992', '9007199254740993',
  '18446744073709551615', '18446744073709551616', `1${'0'.repeat(400)}`,
  'null', 'true', 'false', '""', '"x"', '"F32"', '"F16"', '"BF16"', '"F64"', '"I64"', '"U8"', '"BOOL"', '"F8_E4M3"', '"f32"',
  '"\\u0000"', '"\\ud800"', '"a\\nb"', '"a\\rb"', '"\\u2028"', '"../x"', '"/etc/passwd"', '"__proto__"', '"constructor"',
  '[]', '{}', '[0]', '[1,2]', '[-1,5]', '[5,1]', '[0,0]', '[1e400,1]', '[0,9007199254740993]', '[[1,2]]', '{"a":1}', '["a","b"]', '[null]',
  '[4294967296,4294967296,4294967296]', '[65536,65536,65536,65536]', '[0,1e20]',
];

/** Nesting depths around the parsers' guards (64 and 256) and far past them. */
export const NEST_DEPTHS = [2, 32, 63, 64, 65, 100, 255, 256, 257, 1000, 100_000];

type Path = (string | number)[];

export type TreeOp =
  | { kind: 'raw'; walk: number[]; literal: string }
  | { kind: 'value'; walk: number[]; value: unknown }
  | { kind: 'delete'; walk: number[] }
  | { kind: 'duplicate'; walk: number[]; literal: string | null }
  | { kind: 'nest'; walk: number[]; depth: number; brackets: '[' | '{' }
  | { kind: 'copy'; walk: number[]; from: number[] }
  | { kind: 'number'; walk: number[]; how: number }
  | { kind: 'string'; walk: number[]; how: number }
  | { kind: 'addKey'; walk: number[]; key: string; literal: string };

const walk = fc.array(fc.nat(), { minLength: 1, maxLength: 8 });

export function treeOps(): fc.Arbitrary<TreeOp[]> {
  const literal = fc.constantFrom(...RAW_LITERALS);
  const op: fc.Arbitrary<TreeOp> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('raw' as const), walk, literal }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('value' as const), walk, value: fc.jsonValue({ maxDepth: 3 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), walk }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), walk, literal: fc.option(literal) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('nest' as const), walk, depth: fc.constantFrom(...NEST_DEPTHS), brackets: fc.constantFrom('[' as const, '{' as const) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('copy' as const), walk, from: walk }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('number' as const), walk, how: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('string' as const), walk, how: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('addKey' as const), walk, key: fc.constantFrom('__metadata__', 'type', 'id', 'x', '', '__proto__'), literal }) },
  );
  return fc.array(op, { minLength: 1, maxLength: 4 });
}

/**
 * Follows a random walk from the root: each step either stops (about one time in four, so
 * top-level members are hit as often as deep ones) or enters a child.
 */
function pick(root: unknown, steps: readonly number[]): Path {
  const path: Path = [];
  let node = root;
  for (const s of steps) {
    if (node === null || typeof node !== 'object') break;
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) break;
    // Stop here one time in four (one in sixteen at the root, which replaces the whole document).
    if (s % (path.length > 0 ? 4 : 16) === 0) break;
    const k = keys[(s >> 2) % keys.length]!;
    path.push(k);
    node = (node as Record<string | number, unknown>)[k];
  }
  return path;
}

function getAt(root: unknown, path: Path): unknown {
  let n = root;
  for (const k of path) n = (n as Record<string | number, unknown>)[k];
  return n;
}

/** Mutates a deep copy of `doc` and serializes it; raw literals are spliced in as text. */
export function applyTreeOps(doc: unknown, ops: readonly TreeOp[]): string {
  const root = { v: structuredClone(doc) };
  const raws = new Map<string, string>();
  let nextMarker = 0;
  const marker = (text: string): string => {
    const m = `@@RAW${nextMarker++}@@`;
    raws.set(m, text);
    return m;
  };
  for (const op of ops) {
    const path: Path = ['v', ...pick(root.v, op.walk)];
    const key = path[path.length - 1]!;
    const parent = getAt(root, path.slice(0, -1)) as Record<string | number, unknown> | unknown[];
    const cur = (parent as Record<string | number, unknown>)[key];
    const set = (v: unknown): void => {
      (parent as Record<string | number, unknown>)[key] = v;
    };
    switch (op.kind) {
      case 'raw':
        set(marker(op.literal));
        break;
      case 'value':
        set(op.value);
        break;
      case 'delete':
        if (path.length === 1) set(null);
        else if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete (parent as Record<string, unknown>)[key as string];
        break;
      case 'duplicate':
        // The same key twice in one object (JSON.parse keeps the last), or an array element twice.
        // The second key is a marker replaced by the quoted key after serialization.
        if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(cur));
        else if (path.length > 1) {
          (parent as Record<string, unknown>)[marker(JSON.stringify(String(key)))] =
            op.literal === null ? structuredClone(cur) : marker(op.literal);
        }
        break;
      case 'nest': {
        const open = op.brackets === '[' ? '[' : '{"a":';
        const close = op.brackets === '[' ? ']' : '}';
        set(marker(open.repeat(op.depth) + '0' + close.repeat(op.depth)));
        break;
      }
      case 'copy':
        set(structuredClone(getAt(root, ['v', ...pick(root.v, op.from)])));
        break;
      case 'number': {
        if (typeof cur !== 'number') break;
        const variants = [cur + 1, cur - 1, cur * 2, -cur, cur + 0.5, cur * 2 ** 32, Math.floor(cur / 2), 2 ** 53 - cur, 0];
        set(variants[op.how % variants.length]);
        break;
      }
      case 'string': {
        if (typeof cur !== 'string') break;
        const variants = [cur + 'x', '', cur.slice(1), cur.toUpperCase(), cur + '\n' + cur, 'x'.repeat(100_000), cur + '\u2028', `../${cur}`];
        set(variants[op.how % variants.length]);
        break;
      }
      case 'addKey':
        // Through a marker: assigning obj["__proto__"] would set the prototype, not add a member.
        if (cur !== null && typeof cur === 'object' && !Array.isArray(cur)) {
          (cur as Record<string, unknown>)[marker(JSON.stringify(op.key))] = marker(op.literal);
        }
        break;
    }
  }
  let text = JSON.stringify(root.v);
  for (const [m, t] of raws) text = text.split(JSON.stringify(m)).join(t);
  return text;
}
