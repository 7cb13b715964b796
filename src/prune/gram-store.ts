/**
 * Every layer's Gram matrix of down_proj's input, spilled to a private temporary folder as the
 * calibration pass produces it: I² float64 per layer (wiki-28m 13 MB, an 8B model 1.6 GB), so
 * memory holds one layer's G at a time whatever the depth, and each planner candidate's refit
 * reads the layers back one by one.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeOnExit } from '../io/atomic-dir.ts';

export class GramStore {
  /** The private temporary folder. */
  readonly dir: string;
  readonly #layers = new Set<number>();
  readonly #release: () => void;
  private constructor(dir: string, readonly size: number) {
    this.dir = dir;
    // Up to tens of GB for a big model: never left behind by Ctrl-C or a kill.
    this.#release = removeOnExit(dir);
  }

  /** `size`: I, the side of each matrix. */
  static async create(size: number): Promise<GramStore> {
    return new GramStore(await mkdtemp(join(tmpdir(), 'compact-gram-')), size);
  }

  async put(layer: number, gram: Float64Array): Promise<void> {
    if (gram.length !== this.size * this.size) throw new Error(`gram of layer ${layer} has ${gram.length} entries, expected ${this.size}²`);
    await writeFile(this.#file(layer), new Uint8Array(gram.buffer, gram.byteOffset, gram.byteLength));
    this.#layers.add(layer);
  }

  async get(layer: number): Promise<Float64Array> {
    if (!this.#layers.has(layer)) throw new Error(`no gram matrix stored for layer ${layer}`);
    const buf = await readFile(this.#file(layer));
    // A Float64Array view needs 8-byte alignment; copy when the buffer's offset does not give it.
    if (buf.byteOffset % 8 === 0) return new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
    return new Float64Array(new Uint8Array(buf).buffer);
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    this.#release();
  }

  #file(layer: number): string {
    return join(this.dir, `layer-${layer}.f64`);
  }
}
