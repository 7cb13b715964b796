/**
 * ShortGPT (Men et al., 2024) as a baseline: remove the whole decoder layers that change the
 * residual stream least. Block influence BI_l = 1 − mean_t cos(x_l,t, x_{l+1},t), where x_l is
 * the input of layer l and x_{l+1} its raw output (before the final norm for the last layer), over
 * every calibration token.
 *
 * The result stays a standard checkpoint: the remaining layers are renumbered 0…L−k−1,
 * `num_hidden_layers` is updated and per-layer config lists (`layer_types`) are trimmed to the kept
 * layers. A config that derives its attention pattern from the layer index instead (Gemma 3's legacy
 * `sliding_window_pattern`) gets an explicit `layer_types`, since renumbering would otherwise move
 * the pattern onto different layers.
 */
import { CompactError } from '../errors.ts';
import { templateOf, tensorName } from '../families/templates.ts';
import type { ModelSpec } from '../families/types.ts';
import type { WriteEntry } from '../io/safetensors-writer.ts';

export function blockInfluence(layerCosine: ArrayLike<number>): number[] {
  return Array.from(layerCosine, (c) => 1 - c);
}

/** The k layers of lowest BI, ascending by index; ties go to the later layer (deeper layers are the usual redundancy). */
export function lowestInfluence(bi: number[], k: number): number[] {
  if (!(Number.isInteger(k) && k >= 1 && k < bi.length)) throw new CompactError(`shortgpt: cannot drop ${k} of ${bi.length} layers`);
  const order = bi.map((_, i) => i).sort((a, b) => bi[a]! - bi[b]! || b - a);
  return order.slice(0, k).sort((a, b) => a - b);
}

/** Entries of the kept layers with their tensors renamed to the new layer indices; globals unchanged. */
export function renumberLayers(entries: WriteEntry[], spec: ModelSpec, kept: number[]): WriteEntry[] {
  const newIndex = new Map(kept.map((old, i) => [old, i]));
  const out: WriteEntry[] = [];
  for (const e of entries) {
    const found = templateOf(spec.family, e.name);
    if (!found || found.layer === undefined) {
      out.push(e);
      continue;
    }
    const to = newIndex.get(found.layer);
    if (to !== undefined) out.push({ ...e, name: tensorName(found.template, to) });
  }
  return out;
}

/** config.json changes for keeping `kept` of the spec's layers. */
export function layerConfigChanges(raw: Record<string, unknown>, spec: ModelSpec, kept: number[]): Record<string, unknown> {
  const changes: Record<string, unknown> = { num_hidden_layers: kept.length };
  const lt = raw.layer_types;
  if (Array.isArray(lt)) {
    changes.layer_types = kept.map((l) => lt[l]);
  } else if (new Set(spec.layerTypes).size > 1) {
    changes.layer_types = kept.map((l) => (spec.layerTypes[l] === 'sliding' ? 'sliding_attention' : 'full_attention'));
  }
  return changes;
}
