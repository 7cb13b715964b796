// The test reporter of scripts/test.mjs: node's own (spec on a terminal, tap otherwise, as node picks)
// with two positions repaired that Node 20 reads wrongly from TypeScript run through tsx.
//
// tsx compiles each .ts file with esbuild's minifyWhitespace, so the code V8 runs is one long line.
// Node 20's assert builds the message of a failed `assert(x)` / `assert.ok(x)` without a message by
// reading the source file on disk at the *compiled* line and column: for a .ts file that is line 1
// and an offset into the compiled text, which is shorter than the source, so the message quotes
// whatever lies there — usually an expression of an earlier test. The test's `location` has the
// same fault (always line 1). The error's stack is right (tsx registers source maps), so the
// expression is re-read at the stack's first frame, and the location from the test's name.
//
//   node --import tsx --test --test-reporter=./scripts/test-reporter.mjs test/x.test.ts
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { spec, tap } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';

const FALSY = 'The expression evaluated to a falsy value:';
const sources = new Map();

function source(file) {
  if (!sources.has(file)) {
    let text = null;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // A frame in a file that is gone or unreadable: leave node's text as it is.
    }
    sources.set(file, text);
  }
  return sources.get(file);
}

/** Offset just past the bracket that closes the one at `open`, skipping strings and comments; -1 if none. */
function closeOf(text, open) {
  const pairs = { '(': ')', '[': ']', '{': '}' };
  const stack = [];
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'" || c === '`') {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === '\\') i++;
    } else if (c === '/' && text[i + 1] === '/') {
      i = text.indexOf('\n', i);
      if (i < 0) return -1;
    } else if (c === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2);
      if (i < 0) return -1;
      i++;
    } else if (pairs[c]) {
      stack.push(pairs[c]);
    } else if (c === ')' || c === ']' || c === '}') {
      if (stack.pop() !== c) return -1;
      if (stack.length === 0) return i + 1;
    }
  }
  return -1;
}

/** Offset of (1-based) line:column in text. */
function offsetOf(text, line, column) {
  let at = 0;
  for (let l = 1; l < line; l++) {
    at = text.indexOf('\n', at) + 1;
    if (at === 0) return -1;
  }
  return at + column - 1;
}

/**
 * The call at file:line:column as written: V8 puts a call's position on the callee's last name
 * (`ok` of `assert.ok(`, `assert` of `assert(`), so walk back over the dotted name, then to the
 * bracket that closes its argument list.
 */
export function callAt(file, line, column) {
  const text = source(file);
  if (text === null) return null;
  const at = offsetOf(text, line, column);
  if (at < 0 || at >= text.length) return null;
  let start = at;
  while (start > 0 && /[\w$.]/.test(text[start - 1])) start--;
  const name = /^[\w$.]+/.exec(text.slice(start))?.[0];
  if (!name) return null;
  let open = start + name.length;
  while (/\s/.test(text[open] ?? '')) open++;
  if (text[open] !== '(') return null;
  const end = closeOf(text, open);
  if (end < 0) return null;
  const lineStart = text.lastIndexOf('\n', start) + 1;
  const indent = /^[ \t]*/.exec(text.slice(lineStart))[0];
  return text.slice(start, end).split('\n').map((l, i) => (i > 0 && l.startsWith(indent) ? l.slice(indent.length) : l)).join('\n  ');
}

/** file, line, column of a stack's first frame (in `file`, if given), or null. */
export function firstFrameIn(stack, file) {
  for (const l of String(stack ?? '').split('\n')) {
    const m = /^\s+at (?:.*? \()?(.+?):(\d+):(\d+)\)?$/.exec(l);
    if (!m) continue;
    const f = m[1].startsWith('file:') ? fileURLToPath(m[1]) : m[1];
    if (file === undefined || f === file) return { file: f, line: Number(m[2]), column: Number(m[3]) };
  }
  return null;
}

/**
 * A failed `assert(x)` / `assert.ok(x)` given no message: node's text quotes the expression it found
 * at the compiled position, or, when nothing parses there, is just `false == true`.
 */
function isFalsyOk(cause) {
  if (cause?.code !== 'ERR_ASSERTION' || !cause.generatedMessage || typeof cause.message !== 'string') return false;
  return cause.message.startsWith(FALSY) || (cause.operator === '==' && cause.expected === true && / == true$/.test(cause.message));
}

function fixMessage(error) {
  const cause = error?.cause;
  if (!isFalsyOk(cause)) return;
  const frame = firstFrameIn(cause.stack);
  if (!frame || frame.file.startsWith('node:')) return;
  const call = callAt(frame.file, frame.line, frame.column);
  // A loose `assert.equal(x, true)` fails with `false == true` too: that one says what it compared.
  if (!call || /^[\w$.]*\bequal\s*\(/.test(call)) return;
  const message = `${FALSY}\n\n  ${call}\n`;
  if (typeof cause.stack === 'string' && cause.stack.includes(cause.message)) cause.stack = cause.stack.replace(cause.message, message);
  if (error.message === cause.message) error.message = message;
  cause.message = message;
}

/**
 * A .ts test's line:column: from the one place its name is written; else, for a failure, the
 * error's first frame in that file (inside the test's body); else the file's start — a position
 * in the compiled text names no line of the source.
 */
function fixLocation(data) {
  if (typeof data.file !== 'string' || !/\.[cm]?tsx?$/.test(data.file) || typeof data.name !== 'string') return;
  const text = source(data.file);
  if (text === null) return;
  const hits = [];
  for (const q of ["'", '"', '`']) {
    const needle = q + data.name + q;
    for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) hits.push(i);
  }
  if (hits.length === 1) {
    // Node's own location is the start of the `test(` call: walk back over `(` and the callee.
    const call = /[\w$.]+\s*\(\s*$/.exec(text.slice(Math.max(0, hits[0] - 200), hits[0]));
    const at = call ? hits[0] - call[0].length : hits[0];
    const before = text.slice(0, at);
    data.line = before.split('\n').length;
    data.column = at - before.lastIndexOf('\n');
    return;
  }
  const error = data.details?.error;
  const frame = firstFrameIn(error?.cause?.stack ?? error?.stack, data.file);
  data.line = frame?.line ?? 1;
  data.column = frame?.column ?? 1;
}

async function* repaired(source) {
  for await (const event of source) {
    if (event.data && (event.type === 'test:fail' || event.type === 'test:pass' || event.type === 'test:start' || event.type === 'test:dequeue' || event.type === 'test:enqueue')) {
      fixLocation(event.data);
      if (event.type === 'test:fail') fixMessage(event.data.details?.error);
    }
    yield event;
  }
}

export default async function* reporter(source) {
  if (process.stdout.isTTY) {
    const out = Readable.from(repaired(source)).pipe(new spec());
    for await (const chunk of out) yield chunk;
  } else {
    yield* tap(repaired(source));
  }
}
