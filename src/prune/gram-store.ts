/**
 * Every layer's Gram matrix of down_proj's input, summed on disk in a private temporary folder as
 * the calibration pass produces it: the upper triangle in f32 square tiles, I²/2 floats per layer
 * (wiki-28m 3.3 MB, an 8B model 411 MB). Memory holds one tile while G is summed (each batch's
 * tile is added to the one on disk; the page cache, not the process, keeps the hot file) and one
 * block of rows while the refit reads it back, whatever the depth or I.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GramSink } from '../engine/runner.ts';
import { removeOnExit } from '../io/atomic-dir.ts';
import type { GramRows } from './refit.ts';

/** Tile side: 512² f32 = 1 MiB per tile, GEMMs large enough for MLAS at every I. */
export const GRAM_TILE = 512;

export class GramStore implements GramSink {
  /** The private temporary folder. */
  readonly dir: string;
  /** Tiles per side. */
  readonly tiles: number;
  readonly #fds = new Map<number, number>();
  readonly #release: () => void;
  readonly #scratch: Float32Array;
  private constructor(
    dir: string,
    /** I, the side of each matrix. */
    readonly size: number,
    readonly tile: number,
  ) {
    this.dir = dir;
    this.tiles = Math.ceil(size / tile);
    this.#scratch = new Float32Array(Math.min(size, tile) ** 2);
    // Up to tens of GB for a big model: never left behind by Ctrl-C or a kill.
    this.#release = removeOnExit(dir);
  }

  static async create(size: number, tile = GRAM_TILE): Promise<GramStore> {
    if (!(Number.isInteger(tile) && tile >= 1)) throw new Error(`gram tile must be a positive integer, got ${tile}`);
    return new GramStore(await mkdtemp(join(tmpdir(), 'compact-gram-')), size, tile);
  }

  /** Adds tile (i, j), i ≤ j, of `layer` ([rows of i × rows of j] f32); `first` replaces instead. */
  add(layer: number, i: number, j: number, block: Float32Array, first: boolean): void {
    const len = this.#side(i) * this.#side(j);
    if (!(i <= j && j < this.tiles) || block.length !== len) throw new Error(`gram tile (${i}, ${j}) of layer ${layer}: ${block.length} entries, expected ${len} (tiles ${this.tiles})`);
    const fd = this.#fd(layer, first);
    const at = this.#offset(i, j);
    if (!first) {
      const old = this.#scratch.subarray(0, len);
      this.#read(fd, old, at, layer);
      for (let k = 0; k < len; k++) old[k]! += block[k]!;
      block = old;
    }
    writeSync(fd, block, 0, block.byteLength, at);
  }

  /** Row blocks of `layer`'s G (block i = tile row i, assembled from the tiles and their transposes). */
  rows(layer: number): GramRows {
    const fd = this.#fds.get(layer);
    if (fd === undefined) throw new Error(`no gram matrix stored for layer ${layer}`);
    const I = this.size;
    return {
      size: I,
      blockRows: this.tile,
      rows: (i: number) => {
        const ri = this.#side(i);
        const out = new Float64Array(ri * I);
        const t = this.#scratch;
        for (let j = 0; j < this.tiles; j++) {
          const cj = this.#side(j);
          const c0 = j * this.tile;
          if (j >= i) {
            this.#read(fd, t.subarray(0, ri * cj), this.#offset(i, j), layer);
            for (let r = 0; r < ri; r++) for (let c = 0; c < cj; c++) out[r * I + c0 + c] = t[r * cj + c]!;
          } else {
            this.#read(fd, t.subarray(0, cj * ri), this.#offset(j, i), layer);
            for (let c = 0; c < cj; c++) for (let r = 0; r < ri; r++) out[r * I + c0 + c] = t[c * ri + r]!;
          }
        }
        return out;
      },
    };
  }

  async close(): Promise<void> {
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
    await rm(this.dir, { recursive: true, force: true });
    this.#release();
  }

  #side(i: number): number {
    return Math.min(this.tile, this.size - i * this.tile);
  }

  /** Tile (i, j), i ≤ j, in row order of the upper triangle, each in a slot of tile² floats. */
  #offset(i: number, j: number): number {
    const n = this.tiles;
    return (i * n - (i * (i - 1)) / 2 + (j - i)) * this.tile * this.tile * 4;
  }

  #fd(layer: number, create: boolean): number {
    let fd = this.#fds.get(layer);
    if (fd === undefined) {
      if (!create) throw new Error(`gram of layer ${layer}: a tile was added before the layer's first batch`);
      fd = openSync(join(this.dir, `layer-${layer}.f32`), 'w+');
      this.#fds.set(layer, fd);
    }
    return fd;
  }

  #read(fd: number, into: Float32Array, at: number, layer: number): void {
    const got = readSync(fd, into, 0, into.byteLength, at);
    if (got !== into.byteLength) throw new Error(`${join(this.dir, `layer-${layer}.f32`)}: short read (${got} of ${into.byteLength} bytes at ${at})`);
  }
}
