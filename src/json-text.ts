import { readFileSync } from 'node:fs';
import { CompactError } from './errors.ts';

/**
 * JSON helpers for files we rewrite but do not own (config.json, generation_config.json).
 * Re-serializing would turn Python's `10000.0` into `10000` and `1e-05` into `0.00001`, which
 * changes what other tools read; so edits are made on the text, value by value.
 */

const MAX_DEPTH = 256;

/**
 * JSON.parse with a file name in the error and a nesting-depth guard. The depth is checked by a
 * linear scan first, so hostile input like `[[[[…` fails with a clear message instead of a stack
 * overflow in a later recursive walk of the document.
 */
export function parseJson(text: string, file: string, maxDepth = MAX_DEPTH): unknown {
  checkDepth(text, file, maxDepth);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CompactError(`${file}: malformed JSON (${(e as Error).message})`);
  }
}

export type JsonObject = Record<string, unknown>;

/** A parsed JSON value that is an object (not null, not an array). */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A JSON file whose top level must be an object, with its text (kept by callers that rewrite
 * values in place). Every failure is one CompactError naming `label` (default: the path).
 */
export function readJsonObjectText(path: string, label = path, maxDepth = MAX_DEPTH): { text: string; obj: JsonObject } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CompactError(`${label}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const obj = parseJson(text, label, maxDepth);
  if (!isJsonObject(obj)) throw new CompactError(`${label}: expected a JSON object at the top level, got ${Array.isArray(obj) ? 'an array' : obj === null ? 'null' : typeof obj}`);
  return { text, obj };
}

export function readJsonObject(path: string, label = path, maxDepth = MAX_DEPTH): JsonObject {
  return readJsonObjectText(path, label, maxDepth).obj;
}

function checkDepth(text: string, file: string, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped char
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > maxDepth) throw new CompactError(`${file}: JSON nested deeper than ${maxDepth} levels`);
    } else if (c === 125 || c === 93) depth--;
  }
}

interface Span { start: number; end: number }

/** Scans one JSON value starting at i (after whitespace); returns its end index. */
function skipValue(t: string, i: number): number {
  i = skipWs(t, i);
  const c = t[i];
  if (c === '"') return skipString(t, i);
  if (c === '{' || c === '[') {
    const close = c === '{' ? '}' : ']';
    i++;
    for (;;) {
      i = skipWs(t, i);
      if (t[i] === close) return i + 1;
      if (c === '{') {
        i = skipString(t, i);
        i = skipWs(t, i);
        i++; // ':'
      }
      i = skipValue(t, i);
      i = skipWs(t, i);
      if (t[i] === ',') i++;
    }
  }
  let j = i;
  while (j < t.length && !/[\s,\]}]/.test(t[j]!)) j++;
  return j;
}

function skipWs(t: string, i: number): number {
  while (i < t.length && /\s/.test(t[i]!)) i++;
  return i;
}

function skipString(t: string, i: number): number {
  i++;
  while (i < t.length && t[i] !== '"') i += t[i] === '\\' ? 2 : 1;
  return i + 1;
}

/** Spans of the values of an object's direct keys. */
function objectMembers(t: string, start: number): Map<string, Span> {
  const out = new Map<string, Span>();
  let i = skipWs(t, start) + 1;
  for (;;) {
    i = skipWs(t, i);
    if (t[i] === '}' || i >= t.length) return out;
    const ks = i;
    i = skipString(t, i);
    const key = JSON.parse(t.slice(ks, i)) as string;
    i = skipWs(t, i) + 1;
    const vs = skipWs(t, i);
    const ve = skipValue(t, vs);
    out.set(key, { start: vs, end: ve });
    i = skipWs(t, ve);
    if (t[i] === ',') i++;
  }
}

export type JsonPath = readonly string[];

/**
 * Replaces the values at the given paths in JSON text, leaving every other byte as it was.
 * A path whose key is absent is added at the end of its object (its parent must exist).
 */
export function patchJsonText(text: string, edits: ReadonlyArray<{ path: JsonPath; value: unknown }>): string {
  const replacements: Array<Span & { text: string }> = [];
  for (const { path, value } of edits) {
    let objStart = skipWs(text, 0);
    for (let d = 0; d < path.length; d++) {
      const members = objectMembers(text, objStart);
      const key = path[d]!;
      const span = members.get(key);
      const last = d === path.length - 1;
      if (span && last) {
        replacements.push({ ...span, text: JSON.stringify(value) });
      } else if (span) {
        objStart = span.start;
      } else if (last) {
        const close = skipValue(text, objStart) - 1;
        let k = close - 1;
        while (k > objStart && /\s/.test(text[k]!)) k--;
        const empty = k === objStart;
        const indent = '  '.repeat(d + 1);
        replacements.push({
          start: k + 1,
          end: k + 1,
          text: `${empty ? '' : ','}\n${indent}${JSON.stringify(key)}: ${JSON.stringify(value)}`,
        });
      } else {
        throw new Error(`patchJsonText: missing parent ${path.slice(0, d + 1).join('.')}`);
      }
    }
  }
  replacements.sort((a, b) => b.start - a.start);
  let out = text;
  for (const r of replacements) out = out.slice(0, r.start) + r.text + out.slice(r.end);
  return out;
}
