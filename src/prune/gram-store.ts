/**
 * Every layer's Gram matrix of down_proj's input, spilled to a private temporary folder as the
 * calibration pass produces it: I² float64 per layer (wiki-28m 13 MB, an 8B model 1.6 GB), so
 * memory holds one layer's G at a time whatever the depth, and each planner candidate's refit
 * reads the layers back one by one. A MoE layer holds one G per expert (experts·I² float64, one
 * file), read back one expert at a time.
 */
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeOnExit } from '../io/atomic-dir.ts';

export class GramStore {
  /** The private temporary folder. */
  readonly dir: string;
  readonly #layers = new Set<number>();
  readonly #release: () => void;
  private constructor(
    dir: string,
    readonly size: number,
    readonly experts: number,
  ) {
    this.dir = dir;
    // Up to tens of GB for a big model: never left behind by Ctrl-C or a kill.
    this.#release = removeOnExit(dir);
  }

  /** `size`: I, the side of each matrix; `experts`: matrices per layer (1 for a dense FFN). */
  static async create(size: number, experts = 1): Promise<GramStore> {
    return new GramStore(await mkdtemp(join(tmpdir(), 'compact-gram-')), size, experts);
  }

  /** `gram`: the layer's matrices, expert after expert ([experts × I × I]). */
  async put(layer: number, gram: Float64Array): Promise<void> {
    const want = this.experts * this.size * this.size;
    if (gram.length !== want) throw new Error(`gram of layer ${layer} has ${gram.length} entries, expected ${this.experts > 1 ? `${this.experts}·` : ''}${this.size}²`);
    await writeFile(this.#file(layer), new Uint8Array(gram.buffer, gram.byteOffset, gram.byteLength));
    this.#layers.add(layer);
  }

  /** Expert `expert`'s G of `layer` (the layer's only one for a dense FFN). */
  async get(layer: number, expert = 0): Promise<Float64Array> {
    if (!this.#layers.has(layer)) throw new Error(`no gram matrix stored for layer ${layer}`);
    if (!(Number.isInteger(expert) && expert >= 0 && expert < this.experts)) throw new Error(`expert ${expert} is outside 0..${this.experts - 1}`);
    if (this.experts > 1) return this.#readExpert(layer, expert);
    const buf = await readFile(this.#file(layer));
    // A Float64Array view needs 8-byte alignment; copy when the buffer's offset does not give it.
    if (buf.byteOffset % 8 === 0) return new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
    return new Float64Array(new Uint8Array(buf).buffer);
  }

  /** One expert's block by a positioned read: a layer's experts·I² never come into memory at once. */
  async #readExpert(layer: number, expert: number): Promise<Float64Array> {
    const out = new Float64Array(this.size * this.size);
    const bytes = new Uint8Array(out.buffer);
    const fh = await open(this.#file(layer), 'r');
    try {
      let done = 0;
      while (done < bytes.length) {
        const { bytesRead } = await fh.read(bytes, done, bytes.length - done, expert * bytes.length + done);
        if (bytesRead === 0) throw new Error(`${this.#file(layer)}: ends before expert ${expert}'s matrix`);
        done += bytesRead;
      }
    } finally {
      await fh.close();
    }
    return out;
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    this.#release();
  }

  #file(layer: number): string {
    return join(this.dir, `layer-${layer}.f64`);
  }
}
