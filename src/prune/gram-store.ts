/**
 * Every layer's Gram matrix of down_proj's input, summed on disk in a private temporary folder as
 * the calibration pass produces it: the upper triangle in f32 square tiles, I²/2 floats per layer
 * (wiki-28m 3.3 MB, an 8B model 411 MB). Memory holds one tile while G is summed (each batch's
 * tile is added to the one on disk; the page cache, not the process, keeps the hot file) and one
 * block of rows while the refit reads it back, whatever the depth or I. A MoE layer has one G per
 * expert (its own file), read back one expert at a time.
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
  /** One tile in the file's element type (f32, or f64 for a store made with `f64`). */
  readonly #scratch: Float32Array | Float64Array;
  private constructor(
    dir: string,
    /** I, the side of each matrix. */
    readonly size: number,
    /** Matrices per layer (1 for a dense FFN). */
    readonly experts: number,
    readonly tile: number,
    readonly f64: boolean,
  ) {
    this.dir = dir;
    this.tiles = Math.ceil(size / tile);
    this.#scratch = new (f64 ? Float64Array : Float32Array)(Math.min(size, tile) ** 2);
    // Up to tens of GB for a big model: never left behind by Ctrl-C or a kill.
    this.#release = removeOnExit(dir);
  }

  /**
   * `size`: I, the side of each matrix; `experts`: matrices per layer (1 for a dense FFN); `f64`:
   * keep the tiles in float64 (twice the disk; for a G known exactly, as tests hand over with `put`).
   */
  static async create(size: number, experts = 1, opts: { tile?: number; f64?: boolean } = {}): Promise<GramStore> {
    const tile = opts.tile ?? GRAM_TILE;
    if (!(Number.isInteger(tile) && tile >= 1)) throw new Error(`gram tile must be a positive integer, got ${tile}`);
    return new GramStore(await mkdtemp(join(tmpdir(), 'compact-gram-')), size, experts, tile, !!opts.f64);
  }

  /** Adds tile (i, j), i ≤ j, of `layer`'s (`expert`'s) G ([rows of i × rows of j] f32); `first` replaces instead. */
  add(layer: number, expert: number, i: number, j: number, block: Float32Array | Float64Array, first: boolean): void {
    const len = this.#side(i) * this.#side(j);
    if (!(i <= j && j < this.tiles) || block.length !== len) throw new Error(`gram tile (${i}, ${j}) of layer ${layer}: ${block.length} entries, expected ${len} (tiles ${this.tiles})`);
    const fd = this.#fd(this.#key(layer, expert), first);
    const at = this.#offset(i, j);
    const t = this.#scratch.subarray(0, len);
    if (first) t.set(block);
    else {
      this.#read(fd, t, at, layer);
      for (let k = 0; k < len; k++) t[k]! += block[k]!;
    }
    writeSync(fd, t, 0, t.byteLength, at);
  }

  /**
   * A whole G at once (tests, and callers that have one in memory): `gram` is the layer's
   * matrices expert after expert ([experts × I × I] row-major), stored as the calibration would.
   */
  put(layer: number, gram: Float64Array): void {
    const I = this.size;
    if (gram.length !== this.experts * I * I) throw new Error(`gram of layer ${layer} has ${gram.length} entries, expected ${this.experts > 1 ? `${this.experts}·` : ''}${I}²`);
    for (let e = 0; e < this.experts; e++) {
      for (let i = 0; i < this.tiles; i++) {
        for (let j = i; j < this.tiles; j++) {
          const [ri, cj] = [this.#side(i), this.#side(j)];
          const t = new Float64Array(ri * cj);
          for (let r = 0; r < ri; r++) for (let c = 0; c < cj; c++) t[r * cj + c] = gram[e * I * I + (i * this.tile + r) * I + j * this.tile + c]!;
          this.add(layer, e, i, j, t, true);
        }
      }
    }
  }

  /** Whether any position reached `expert`'s G of `layer`: its trace Σ_t ‖a_t‖² is positive. */
  hasPositions(layer: number, expert = 0): boolean {
    const fd = this.#fdOf(layer, expert);
    for (let i = 0; i < this.tiles; i++) {
      const ri = this.#side(i);
      const t = this.#scratch.subarray(0, ri * ri);
      this.#read(fd, t, this.#offset(i, i), layer);
      for (let r = 0; r < ri; r++) if (t[r * ri + r]! > 0) return true;
    }
    return false;
  }

  /** Row blocks of `layer`'s (`expert`'s) G (block i = tile row i, assembled from the tiles and their transposes). */
  rows(layer: number, expert = 0): GramRows {
    const fd = this.#fdOf(layer, expert);
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

  #key(layer: number, expert: number): number {
    if (!(Number.isInteger(expert) && expert >= 0 && expert < this.experts)) throw new Error(`expert ${expert} is outside 0..${this.experts - 1}`);
    return layer * this.experts + expert;
  }

  #fdOf(layer: number, expert: number): number {
    const fd = this.#fds.get(this.#key(layer, expert));
    if (fd === undefined) throw new Error(`no gram matrix stored for layer ${layer}${this.experts > 1 ? ` expert ${expert}` : ''}`);
    return fd;
  }

  #side(i: number): number {
    return Math.min(this.tile, this.size - i * this.tile);
  }

  /** Tile (i, j), i ≤ j, in row order of the upper triangle, each in a slot of tile² floats. */
  #offset(i: number, j: number): number {
    const n = this.tiles;
    return (i * n - (i * (i - 1)) / 2 + (j - i)) * this.tile * this.tile * this.#scratch.BYTES_PER_ELEMENT;
  }

  #fd(key: number, create: boolean): number {
    let fd = this.#fds.get(key);
    if (fd === undefined) {
      const layer = Math.floor(key / this.experts);
      if (!create) throw new Error(`gram of layer ${layer}: a tile was added before the layer's first batch`);
      fd = openSync(join(this.dir, `matrix-${key}.f32`), 'w+');
      this.#fds.set(key, fd);
    }
    return fd;
  }

  #read(fd: number, into: Float32Array | Float64Array, at: number, layer: number): void {
    const got = readSync(fd, into, 0, into.byteLength, at);
    if (got !== into.byteLength) throw new Error(`gram of layer ${layer} in ${this.dir}: short read (${got} of ${into.byteLength} bytes at ${at})`);
  }
}
