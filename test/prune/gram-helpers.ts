/** Every layer's G from one engine pass, read back whole from a GramStore (tests only). */
import type { Engine } from '../../src/engine/runner.ts';
import { GramStore } from '../../src/prune/gram-store.ts';

/**
 * Per layer, the dense G ([experts × I × I] row-major, expert after expert; one matrix for a
 * dense FFN) summed by the engine into a GramStore of `tile`-sided tiles, and act² if asked.
 */
export async function engineGrams(engine: Engine, seqs: Int32Array[], opts: { tile?: number; act2?: boolean } = {}): Promise<{ grams: Float64Array[]; act2?: Float64Array[] }> {
  const spec = engine.spec;
  const I = spec.intermediate;
  const E = spec.moe ? spec.moe.experts : 1;
  const store = await GramStore.create(I, E, { tile: opts.tile });
  try {
    const r = await engine.forward(seqs, { act2: opts.act2, gram: store, lastLayer: spec.layers - 1 });
    const grams = Array.from({ length: spec.layers }, (_, l) => {
      const G = new Float64Array(E * I * I);
      for (let e = 0; e < E; e++) {
        const rows = store.rows(l, e);
        for (let i = 0; i * rows.blockRows < I; i++) G.set(rows.rows(i) as Float64Array, e * I * I + i * rows.blockRows * I);
      }
      return G;
    });
    return { grams, act2: r.act2 };
  } finally {
    await store.close();
  }
}
