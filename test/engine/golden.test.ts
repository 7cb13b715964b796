/**
 * The engine against transformers' own float64 outputs for every family fixture
 * (../shared/fixtures/hf-golden): logits, all hidden states, and act² summed over tokens.
 * Errors are max|a − b| / max|b| over the whole array.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { Engine, type ForwardResult } from '../../src/engine/runner.ts';
import { GOLDEN_CASES, shared } from '../helpers/paths.ts';

interface Golden {
  ids: Int32Array[];
  logits: Float32Array;
  hidden: Float32Array;
  hiddenShape: number[];
  act2: Float32Array;
  act2Shape: number[];
}

async function readGolden(dir: string): Promise<Golden> {
  const ck = await openCheckpoint(dir);
  try {
    const idsBytes = await ck.readBytes('input_ids');
    const idsAll = new Int32Array(idsBytes.buffer, idsBytes.byteOffset, idsBytes.byteLength / 4);
    const [B, S] = ck.info('input_ids').shape as [number, number];
    const ids = Array.from({ length: B }, (_, b) => idsAll.slice(b * S, (b + 1) * S));
    return {
      ids,
      logits: await ck.readFloat32('logits'),
      hidden: await ck.readFloat32('hidden_states'),
      hiddenShape: ck.info('hidden_states').shape,
      act2: await ck.readFloat32('act2'),
      act2Shape: ck.info('act2').shape,
    };
  } finally {
    await ck.close();
  }
}

/** max|a − b| / max|b|. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length');
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

const concat = (parts: ArrayLike<number>[]): Float64Array => {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p as ArrayLike<number>, at);
    at += p.length;
  }
  return out;
};

/** Golden act2 [layers, tokens, I] summed over tokens, optionally weighted per token. */
function goldenAct2(g: Golden, layer: number, weight?: (token: number) => number): Float64Array {
  const [, N, I] = g.act2Shape as [number, number, number];
  const out = new Float64Array(I);
  for (let t = 0; t < N; t++) {
    const w = weight ? weight(t) : 1;
    if (w === 0) continue;
    const base = (layer * N + t) * I;
    for (let c = 0; c < I; c++) out[c]! += w * g.act2[base + c]!;
  }
  return out;
}

const TOL = 1e-4;
// Max relative errors measured on the reference machine (f32 engine vs transformers float64):
// logits 2.8e-7–5.0e-7, hidden states 1.9e-7–5.7e-7, act2 4.8e-7–6.9e-7 across the seven cases
// (printed as "# <case> … max rel err" lines).

for (const name of GOLDEN_CASES) {
  describe(`golden ${name}`, () => {
    const root = shared('fixtures/hf-golden', name);
    let engine: Engine;
    let g: Golden;
    let r: ForwardResult;
    before(async () => {
      g = await readGolden(root); // its one safetensors file is golden.safetensors
      engine = await Engine.open(join(root, 'model'), { threads: 1 });
      r = await engine.forward(g.ids, { act2: true, hidden: true, logits: true });
    });
    after(async () => engine?.close());

    test('logits match transformers (≤ 1e-4 relative)', () => {
      const e = relErr(concat(r.logits!), g.logits);
      console.log(`# ${name} logits max rel err ${e.toExponential(2)}`);
      assert.ok(e <= TOL, `logits rel err ${e}`);
    });

    test('hidden states match transformers (≤ 1e-4 relative per state)', () => {
      const [states, N, D] = g.hiddenShape as [number, number, number];
      assert.equal(r.hidden!.length, states);
      let worst = 0;
      for (let s = 0; s < states; s++) {
        const e = relErr(concat(r.hidden![s]!), g.hidden.subarray(s * N * D, (s + 1) * N * D));
        worst = Math.max(worst, e);
        assert.ok(e <= TOL, `state ${s} rel err ${e}`);
      }
      console.log(`# ${name} hidden max rel err ${worst.toExponential(2)}`);
    });

    test('act2 summed over tokens matches transformers (≤ 1e-4 relative per layer)', () => {
      const L = g.act2Shape[0]!;
      assert.equal(r.act2!.length, L);
      let worst = 0;
      for (let l = 0; l < L; l++) {
        const e = relErr(r.act2![l]!, goldenAct2(g, l));
        worst = Math.max(worst, e);
        assert.ok(e <= TOL, `layer ${l} rel err ${e}`);
      }
      console.log(`# ${name} act2 max rel err ${worst.toExponential(2)}`);
    });
  });
}
