/**
 * Removes tokens from a BPE tokenizer.json and renumbers the survivors densely.
 *
 * Why dense: the Rust loader assigns added tokens that are not in `model.vocab` the ids
 * vocab.len(), vocab.len()+1, … whatever the JSON says, while the JS libraries keep the JSON ids;
 * any gap makes the two disagree. Survivors keep their relative order (ascending old id), and the
 * caller gathers embedding / lm_head rows with `newToOld`.
 *
 * A merge survives only if its two parts and its result survive: the Rust loader refuses a merge
 * whose result is missing ("Token '…' out of vocabulary"), and the JS libraries would silently
 * produce ids that no longer exist. Dropping merges never needs new tokens: BPE simply stops
 * merging earlier, and the byte alphabet (always kept, see vocab-select.ts) covers every string.
 * Everything else in the document (normalizer, pre-tokenizer, decoder, key order) is untouched,
 * except the ids a post-processor template refers to.
 */
import { CompactError } from '../errors.ts';
import { mergeResult, tokenizerFromJson, type AddedTokenJson, type JsonObject, type TokenizerFile } from './tokenizer-file.ts';

export interface PrunedTokenizer {
  /** The new tokenizer.json document; write it with `serializeTokenizerJson`. */
  json: JsonObject;
  /** Old id → new id, −1 for removed ids; length = old max id + 1. */
  oldToNew: Int32Array;
  /** New id → old id. */
  newToOld: Int32Array;
}

export function pruneTokenizer(tok: TokenizerFile | JsonObject, keptOldIds: ArrayLike<number>): PrunedTokenizer {
  const tf = isTokenizerFile(tok) ? tok : tokenizerFromJson(tok);
  const { file } = tf;

  const keep = new Uint8Array(tf.size);
  for (let i = 0; i < keptOldIds.length; i++) {
    const id = keptOldIds[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= tf.size || tf.idToToken[id] === undefined) {
      throw new CompactError(`${file}: kept id ${id} is not a token of this tokenizer`);
    }
    keep[id] = 1;
  }
  // Dense numbering in ascending old-id order, whatever order the caller listed them in.
  const oldToNew = new Int32Array(tf.size).fill(-1);
  let next = 0;
  for (let id = 0; id < tf.size; id++) if (keep[id]) oldToNew[id] = next++;
  const newToOld = new Int32Array(next);
  for (let id = 0; id < tf.size; id++) {
    const n = oldToNew[id]!;
    if (n >= 0) newToOld[n] = id;
  }

  // Vocab, in new-id order (the order the file is written in).
  const vocab: Record<string, number> = {};
  let vocabCount = 0;
  for (let n = 0; n < newToOld.length; n++) {
    const old = newToOld[n]!;
    const token = tf.idToToken[old]!;
    if (tf.vocab[token] === old) { vocab[token] = n; vocabCount++; }
  }

  const keptToken = (s: string): boolean => {
    const id = tf.vocab[s];
    return id !== undefined && oldToNew[id]! >= 0;
  };
  const model = tf.json.model as JsonObject;
  const rawMerges = model.merges as unknown[] | undefined;
  const merges: unknown[] = [];
  for (let i = 0; i < tf.merges.length; i++) {
    const [a, b] = tf.merges[i]!;
    if (keptToken(a) && keptToken(b) && keptToken(mergeResult(a, b, tf.continuingSubwordPrefix))) {
      merges.push(rawMerges![i]); // same encoding as the input ("a b" or [a, b])
    }
  }

  // Added tokens: keep JSON order, new ids. Those outside model.vocab must come after every vocab
  // token, in order, because that is how the Rust loader numbers them.
  const added: AddedTokenJson[] = [];
  let expectedExtra = vocabCount;
  for (const t of [...tf.addedTokens].sort((x, y) => x.id - y.id)) {
    const n = oldToNew[t.id]!;
    if (n < 0 || tf.vocab[t.content] !== undefined) continue;
    if (n !== expectedExtra) {
      throw new CompactError(`${file}: added token ${JSON.stringify(t.content)} (id ${t.id}) is not in model.vocab but is numbered among vocab tokens; cannot renumber it consistently`);
    }
    expectedExtra++;
  }
  for (const t of tf.addedTokens) {
    const n = oldToNew[t.id]!;
    if (n >= 0) added.push(replaceKey(t, 'id', n) as AddedTokenJson);
  }

  const newModel = replaceKey(replaceKey(model, 'vocab', vocab), 'merges', model.merges === undefined ? undefined : merges);
  let json = replaceKey(tf.json, 'model', newModel);
  if (tf.json.added_tokens !== undefined) json = replaceKey(json, 'added_tokens', added);
  if (tf.json.post_processor !== undefined && tf.json.post_processor !== null) {
    json = replaceKey(json, 'post_processor', remapProcessor(tf.json.post_processor, tf, oldToNew, 0));
  }
  return { json, oldToNew, newToOld };
}

function isTokenizerFile(x: TokenizerFile | JsonObject): x is TokenizerFile {
  return 'idToToken' in x && 'json' in x && Array.isArray((x as TokenizerFile).merges);
}

/** Shallow copy of `obj` with one key's value replaced, keeping key order. */
function replaceKey<T extends JsonObject>(obj: T, key: string, value: unknown): T {
  if (!(key in obj)) return obj;
  const out: JsonObject = {};
  for (const k of Object.keys(obj)) out[k] = k === key ? value : obj[k];
  return out as T;
}

function newIdOf(oldId: unknown, token: unknown, tf: TokenizerFile, oldToNew: Int32Array, where: string): number {
  const n = typeof oldId === 'number' && oldId >= 0 && oldId < oldToNew.length ? oldToNew[oldId]! : -1;
  if (n < 0) {
    throw new CompactError(`${tf.file}: post_processor ${where} refers to token ${JSON.stringify(token)} (id ${String(oldId)}), which is removed`);
  }
  return n;
}

/** Rewrites the special-token ids inside a post-processor (TemplateProcessing, Bert/Roberta, Sequence). */
function remapProcessor(p: unknown, tf: TokenizerFile, oldToNew: Int32Array, depth: number): unknown {
  if (typeof p !== 'object' || p === null || Array.isArray(p) || depth > 16) return p;
  let out = p as JsonObject;
  switch (out.type) {
    case 'Sequence':
      if (Array.isArray(out.processors)) {
        out = replaceKey(out, 'processors', out.processors.map((x) => remapProcessor(x, tf, oldToNew, depth + 1)));
      }
      break;
    case 'TemplateProcessing': {
      const specials = out.special_tokens;
      if (typeof specials === 'object' && specials !== null) {
        const next: JsonObject = {};
        for (const [name, s] of Object.entries(specials as JsonObject)) {
          const spec = s as JsonObject;
          next[name] = Array.isArray(spec.ids)
            ? replaceKey(spec, 'ids', spec.ids.map((id: unknown, i: number) =>
              newIdOf(id, Array.isArray(spec.tokens) ? spec.tokens[i] : name, tf, oldToNew, `special_tokens[${JSON.stringify(name)}]`)))
            : spec;
        }
        out = replaceKey(out, 'special_tokens', next);
      }
      break;
    }
    case 'BertProcessing':
    case 'RobertaProcessing':
      for (const key of ['sep', 'cls']) {
        const pair = out[key];
        if (Array.isArray(pair) && pair.length === 2) {
          out = replaceKey(out, key, [pair[0], newIdOf(pair[1], pair[0], tf, oldToNew, key)]);
        }
      }
      break;
  }
  return out;
}
