/**
 * ONNX external data (`onnx/model.onnx_data`): a golden fixture and wiki-28m exported with the
 * weights forced out of model.onnx, checked against independent readers:
 *
 * - the layout, read back with a protobuf decoder written here (not the writer's code): every
 *   initializer of ≥ 1 KB has data_location = EXTERNAL and location/offset/length entries,
 *   offsets are 4096-aligned, tensors do not overlap, the gaps are zeros, and splicing the bytes
 *   back into the TensorProtos as raw_data gives exactly the inline export's model.onnx;
 * - onnxruntime-node opening model.onnx from disk (resolving the side file itself) and computing
 *   bit-identical logits and cache outputs to the inline model;
 * - transformers.js loading the folder as a user would and generating exactly what our engine
 *   does (greedy 32 tokens on 2 prompts, first-step top-5 within 1e-3);
 * - the inline export unchanged: byte-identical to the export before external data existed
 *   (SHA-256 pinned), with no external fields, and the same bytes on a second run of either mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { CompactError } from '../../src/errors.ts';
import { exportOnnx } from '../../src/export/onnx-export.ts';
import { main } from '../../src/cli/main.ts';
import { Engine } from '../../src/engine/runner.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { checkTransformersJs, loadTransformersJs } from './transformers-runtime.ts';

// ---------------------------------------------------------------------------------------------
// A minimal protobuf reader, independent of src/engine/onnx-proto.ts. Fields keep their exact
// encoded bytes so a message re-encodes to the same bytes.

interface Field {
  no: number;
  wire: number;
  /** Payload of a length-delimited field; the encoded value bytes otherwise. */
  data: Uint8Array;
}

function varint(b: Uint8Array, pos: number): { value: bigint; end: number } {
  let value = 0n;
  let shift = 0n;
  for (;;) {
    const byte = b[pos++];
    if (byte === undefined) throw new Error('truncated varint');
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return { value, end: pos };
    shift += 7n;
  }
}

function parse(b: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < b.length) {
    const key = varint(b, pos);
    const no = Number(key.value >> 3n);
    const wire = Number(key.value & 7n);
    pos = key.end;
    if (wire === 0) {
      const v = varint(b, pos);
      out.push({ no, wire, data: b.subarray(pos, v.end) });
      pos = v.end;
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      out.push({ no, wire, data: b.subarray(pos, pos + n) });
      pos += n;
    } else if (wire === 2) {
      const len = varint(b, pos);
      const end = len.end + Number(len.value);
      if (end > b.length) throw new Error('truncated field');
      out.push({ no, wire, data: b.subarray(len.end, end) });
      pos = end;
    } else {
      throw new Error(`wire type ${wire}`);
    }
  }
  return out;
}

function encVarint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

function encode(fields: Field[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields) {
    parts.push(Uint8Array.from(encVarint(f.no * 8 + f.wire)));
    if (f.wire === 2) parts.push(Uint8Array.from(encVarint(f.data.length)));
    parts.push(f.data);
  }
  return Buffer.concat(parts);
}

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const int = (f: Field): number => Number(varint(f.data, 0).value);

interface TensorInfo {
  name: string;
  raw: number | null;
  location: number | null;
  external: Record<string, string> | null;
}

/** Graph (field 7) → initializers (field 5) of a ModelProto. */
function initializers(model: Uint8Array): TensorInfo[] {
  const graph = parse(model).find((f) => f.no === 7)!;
  return parse(graph.data).filter((f) => f.no === 5).map((t) => {
    const fields = parse(t.data);
    const ext = fields.filter((f) => f.no === 13);
    const raw = fields.find((f) => f.no === 9);
    const loc = fields.find((f) => f.no === 14);
    return {
      name: text(fields.find((f) => f.no === 8)!.data),
      raw: raw ? raw.data.length : null,
      location: loc ? int(loc) : null,
      external: ext.length ? Object.fromEntries(ext.map((e) => { const kv = parse(e.data); return [text(kv.find((x) => x.no === 1)!.data), text(kv.find((x) => x.no === 2)!.data)]; })) : null,
    };
  });
}

/** model.onnx with every external tensor's bytes put back as raw_data (onnx's load + save inline). */
function reinline(model: Uint8Array, data: Uint8Array): Uint8Array {
  return encode(parse(model).map((f) => {
    if (f.no !== 7) return f;
    return { ...f, data: encode(parse(f.data).map((g) => {
      if (g.no !== 5) return g;
      const fields = parse(g.data);
      const ext = fields.filter((x) => x.no === 13);
      if (!ext.length) return g;
      const kv = Object.fromEntries(ext.map((e) => { const p = parse(e.data); return [text(p[0]!.data), text(p[1]!.data)]; }));
      const off = Number(kv.offset);
      const raw: Field = { no: 9, wire: 2, data: data.subarray(off, off + Number(kv.length)) };
      // raw_data (9) sits after name (8), where external_data (13) and data_location (14) were.
      const kept = fields.filter((x) => x.no !== 13 && x.no !== 14);
      const at = kept.findIndex((x) => x.no > 9);
      kept.splice(at < 0 ? kept.length : at, 0, raw);
      return { ...g, data: encode(kept) };
    })) };
  }));
}

// ---------------------------------------------------------------------------------------------

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function files(dir: string, prefix = ''): string[] {
  return readdirSync(dir).sort().flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f), `${prefix}${f}/`) : [`${prefix}${f}`]));
}

/** Checks the external layout of `out`; returns the model and data bytes. */
function checkLayout(out: string): { model: Uint8Array; data: Uint8Array } {
  const model = readFileSync(join(out, 'onnx', 'model.onnx'));
  const data = readFileSync(join(out, 'onnx', 'model.onnx_data'));
  const ts = initializers(model);
  const ext = ts.filter((t) => t.external).sort((a, b) => Number(a.external!.offset) - Number(b.external!.offset));
  assert.ok(ext.length > 0);
  let end = 0;
  for (const t of ts) {
    if (!t.external) {
      assert.equal(t.location, null, t.name);
      assert.ok(t.raw !== null && t.raw < 1024, `${t.name}: ${t.raw} bytes inline`);
      continue;
    }
    assert.equal(t.raw, null, `${t.name}: external tensor also has raw_data`);
    assert.equal(t.location, 1, `${t.name}: data_location`);
    assert.deepEqual(Object.keys(t.external), ['location', 'offset', 'length'], t.name);
    assert.equal(t.external.location, 'model.onnx_data');
    assert.ok(Number(t.external.length) >= 1024, t.name);
  }
  for (const t of ext) {
    const off = Number(t.external!.offset);
    assert.equal(off % 4096, 0, `${t.name}: offset ${off} not 4096-aligned`);
    assert.ok(off >= end, `${t.name} overlaps the previous tensor`);
    assert.ok(data.subarray(end, off).every((x) => x === 0), `padding before ${t.name} is not zeros`);
    end = off + Number(t.external!.length);
  }
  assert.equal(data.length, end, 'model.onnx_data ends with the last tensor');
  return { model, data };
}

/** The config.json transformers.js reads: the checkpoint's, plus use_external_data_format. */
function checkConfig(src: string, out: string): void {
  const before = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  const after = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(after['transformers.js_config'], { use_external_data_format: { 'model.onnx': true } });
  delete after['transformers.js_config'];
  assert.deepEqual(after, before);
}

/** Runs model.onnx from disk in onnxruntime-node on one prompt; every output's values. */
async function runOrt(out: string, ids: number[]): Promise<Record<string, Float32Array>> {
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, number | string>;
  const L = cfg.num_hidden_layers as number;
  const kv = cfg.num_key_value_heads as number;
  const H = (cfg.head_dim as number | undefined) ?? (cfg.hidden_size as number) / (cfg.num_attention_heads as number);
  const s = await ort.InferenceSession.create(join(out, 'onnx', 'model.onnx'), { intraOpNumThreads: 1 });
  try {
    const T = ids.length;
    const base = cfg.model_type === 'gemma3_text' ? 1 : 0;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, T]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(T).fill(1n), [1, T]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i + base))), [1, T]),
    };
    for (let l = 0; l < L; l++) {
      feeds[`past_key_values.${l}.key`] = new ort.Tensor('float32', new Float32Array(0), [1, kv, 0, H]);
      feeds[`past_key_values.${l}.value`] = new ort.Tensor('float32', new Float32Array(0), [1, kv, 0, H]);
    }
    const res = await s.run(feeds);
    return Object.fromEntries(Object.entries(res).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await s.release();
  }
}

async function checkInTransformersJs(src: string, out: string, label: string): Promise<void> {
  const engine = await Engine.open(src, { threads: 2 });
  const tok = loadTokenizer(src);
  const tj = await loadTransformersJs(out);
  try {
    let max = 0;
    for (const prompt of ['The history of the city', 'She was born in a small']) {
      max = Math.max(max, await checkTransformersJs(tj, engine, tok, prompt, 32, 1e-3));
    }
    console.log(`${label}: external-data ONNX greedy identical in transformers.js; first-step top-5 max |Δp| ${max.toExponential(2)}`);
  } finally {
    await tj.model.dispose();
    await engine.close();
  }
}

/**
 * SHA-256 of model.onnx as exported inline before external data was implemented (commit
 * ff5a327). A deliberate change to the ONNX graph must update these.
 */
const INLINE_BEFORE: Record<string, string> = {
  llama3: '1aeb3b5a9839f707a708d0883b67655610c893f124af47a7de6c7da6f9686e36',
  gemma3: '78e5f1ba8c386485a0d51e29773d7557ceddf4ff8eaa0d41544bf2fe5052dc97',
  'wiki-28m': 'f1264e76f0ebdbee39853726d60d7eb300bc43f79d521fbe8434884d4b55160a',
};

async function externalVsInline(label: string, src: string, probe: number[]): Promise<void> {
  const tmp = makeTmpDir(`onnx-ext-${label}`);
  const inline = join(tmp, 'inline');
  const ext = join(tmp, 'external');
  let t = Date.now();
  const ri = await exportOnnx(src, inline);
  const ti = Date.now() - t;
  t = Date.now();
  const re = await exportOnnx(src, ext, { externalData: true });
  const te = Date.now() - t;

  // Inline: unchanged, and no external fields.
  assert.equal(ri.externalData, false);
  assert.deepEqual(files(inline), ['compact-export.json', 'config.json', 'generation_config.json', 'onnx/model.onnx', 'tokenizer.json', 'tokenizer_config.json']);
  const inlineModel = readFileSync(join(inline, 'onnx', 'model.onnx'));
  assert.equal(sha(inlineModel), INLINE_BEFORE[label], `${label}: inline model.onnx differs from the export before external data`);
  assert.ok(initializers(inlineModel).every((x) => x.external === null && x.location === null && x.raw !== null));
  assert.deepEqual(readFileSync(join(inline, 'config.json')), readFileSync(join(src, 'config.json')));

  // External: layout, config, and the same model once re-inlined.
  assert.equal(re.externalData, true);
  assert.deepEqual(re.files.sort(), ['config.json', 'generation_config.json', 'onnx/model.onnx', 'onnx/model.onnx_data', 'tokenizer.json', 'tokenizer_config.json']);
  assert.deepEqual(files(ext), ['compact-export.json', ...re.files].sort());
  const { model, data } = checkLayout(ext);
  assert.equal(re.bytes, model.length + data.length);
  assert.ok(model.length < 64 * 1024, `${label}: model.onnx is ${model.length} bytes`);
  assert.ok(data.length >= 0.99 * (inlineModel.length - model.length), `${label}: model.onnx_data holds the weights`);
  assert.ok(Buffer.from(reinline(model, data)).equals(inlineModel), `${label}: external tensors spliced back ≠ inline model.onnx`);
  checkConfig(src, ext);
  for (const f of ['generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) {
    assert.deepEqual(readFileSync(join(ext, f)), readFileSync(join(inline, f)), f);
  }

  // onnxruntime-node from disk: bit-identical outputs.
  const a = await runOrt(inline, probe);
  const b = await runOrt(ext, probe);
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  for (const k of Object.keys(a)) assert.ok(Buffer.from(a[k]!.buffer, a[k]!.byteOffset, a[k]!.byteLength).equals(Buffer.from(b[k]!.buffer, b[k]!.byteOffset, b[k]!.byteLength)), `${label}: ${k} differs`);
  console.log(`${label}: inline ${(inlineModel.length / 1e6).toFixed(2)} MB in ${ti} ms; external model.onnx ${(model.length / 1e3).toFixed(1)} kB + model.onnx_data ${(data.length / 1e6).toFixed(2)} MB in ${te} ms; onnxruntime outputs bit-identical (${Object.keys(a).length} tensors)`);

  await checkInTransformersJs(src, ext, label);
}

test('external data: the llama3 fixture (rope scaling) — layout, onnxruntime, transformers.js, inline unchanged', async () => {
  await externalVsInline('llama3', fixtureWithTokenizer('llama3'), [1, 17, 300, 42, 999, 5]);
});

test('external data: the gemma3 fixture (two rope tables, 1-based positions)', async () => {
  await externalVsInline('gemma3', fixtureWithTokenizer('gemma3'), [2, 17, 300, 42, 999, 5]);
});

test('external data: wiki-28m — layout, onnxruntime, transformers.js, inline unchanged', async () => {
  await externalVsInline('wiki-28m', shared('models/wiki-28m'), [464, 2106, 286, 262, 1748, 286, 3576]);
});

test('external data is deterministic, and the CLI flag forces it either way', async () => {
  const src = fixtureWithTokenizer('qwen3');
  const tmp = makeTmpDir('onnx-ext-cli');
  assert.equal(await main(['export', src, '--format', 'onnx', '--out', join(tmp, 'a'), '--external-data']), 0);
  assert.equal(await main(['export', src, '--format', 'onnx', '--out', join(tmp, 'b'), '--external-data', '--json']), 0);
  assert.equal(await main(['export', src, '--format', 'onnx', '--out', join(tmp, 'c')]), 0);
  assert.equal(await main(['export', src, '--format', 'onnx', '--out', join(tmp, 'd'), '--external-data=false']), 0);
  for (const f of files(join(tmp, 'a'))) assert.ok(readFileSync(join(tmp, 'a', f)).equals(readFileSync(join(tmp, 'b', f))), `${f} differs between two runs`);
  assert.ok(files(join(tmp, 'a')).includes('onnx/model.onnx_data'));
  checkLayout(join(tmp, 'a'));
  // Default ('auto') on a small model and --external-data=false: inline, identical.
  assert.deepEqual(files(join(tmp, 'c')), files(join(tmp, 'd')));
  assert.ok(!files(join(tmp, 'c')).includes('onnx/model.onnx_data'));
  for (const f of files(join(tmp, 'c'))) assert.ok(readFileSync(join(tmp, 'c', f)).equals(readFileSync(join(tmp, 'd', f))), f);
  // GGUF has no external data.
  assert.equal(await main(['export', src, '--format', 'gguf', '--out', join(tmp, 'm.gguf'), '--external-data']), 2, 'a usage mistake');
});

test('a model over 2 GiB is refused inline when external data is disallowed, naming the flag', async () => {
  // The llama3 fixture with an 8.4M-token embedding (2.15 GB f32) in a sparse safetensors file:
  // the size is known from the header, so nothing is read.
  const src = fixtureWithTokenizer('llama3');
  const file = join(src, 'model.safetensors');
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  const V = 8_400_000;
  const out: Record<string, unknown> = { __metadata__: header.__metadata__ };
  const chunks: Buffer[] = [];
  let at = 0;
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || name === 'model.embed_tokens.weight') continue;
    const info = t as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const bytes = buf.subarray(8 + n + info.data_offsets[0], 8 + n + info.data_offsets[1]);
    out[name] = { dtype: info.dtype, shape: info.shape, data_offsets: [at, at + bytes.length] };
    chunks.push(bytes);
    at += bytes.length;
  }
  const D = (header['model.embed_tokens.weight'] as { shape: number[] }).shape[1]!;
  out['model.embed_tokens.weight'] = { dtype: 'F32', shape: [V, D], data_offsets: [at, at + V * D * 4] };
  let json = JSON.stringify(out);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([head, Buffer.from(json), ...chunks]));
  truncateSync(file, 8 + json.length + at + V * D * 4);
  const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  cfg.vocab_size = V;
  writeFileSync(join(src, 'config.json'), JSON.stringify(cfg, null, 2));

  const parent = makeTmpDir('onnx-ext-big');
  await assert.rejects(exportOnnx(src, join(parent, 'x'), { externalData: false }), (e: unknown) => {
    assert.ok(e instanceof CompactError, String(e));
    assert.match(e.message, /2\.0 GiB of f32 weights exceed the 2 GiB an ONNX file can hold inline; allow external data \(--external-data\)/);
    return true;
  });
  assert.deepEqual(readdirSync(parent), []);
});
