/**
 * A bzip2 decompressor in plain TypeScript, for the HellaSwag task file
 * (`hellaswag_val_full.txt.bz2`). Node has no built-in bzip2 and the project takes no native
 * dependency for one file; this decoder is small and verifies every block's CRC and the stream
 * CRC, so a corrupt or truncated file fails loudly instead of yielding wrong items.
 *
 * Format (bzip2 1.0.x, as written by the reference `bzip2` and Python's `bz2`):
 * stream = "BZh" + level '1'..'9', then blocks (magic 0x314159265359), then the end marker
 * (magic 0x177245385090) + combined CRC; streams may be concatenated (as `pbzip2` writes).
 * A block: CRC, randomised bit (never written since bzip2 0.9.5; rejected), BWT origin pointer,
 * the used-byte bitmap, 2–6 Huffman tables chosen per 50 symbols by MTF-coded selectors, then
 * MTF/RUNA-RUNB-coded symbols. Decoding undoes Huffman → MTF/zero-run → BWT → the initial
 * run-length step (4 equal bytes + a count byte).
 */
import { CompactError } from '../errors.ts';

const BLOCK_MAGIC_HI = 0x314159;
const BLOCK_MAGIC_LO = 0x265359;
const END_MAGIC_HI = 0x177245;
const END_MAGIC_LO = 0x385090;
const MAX_GROUPS = 6;
const MAX_ALPHA = 258;
const MAX_CODE_LEN = 20;
/** bzip2 1.0.8 reads more selectors than this but ignores the excess (CVE-2019-12900 fix). */
const MAX_SELECTORS = 18002;
const GROUP_SIZE = 50;

/** CRC-32 as bzip2 uses it: polynomial 0x04C11DB7, MSB first, not reflected. */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

class BitReader {
  pos = 0; // next byte
  acc = 0;
  n = 0; // valid bits in acc (low bits)
  constructor(readonly buf: Uint8Array, private readonly name: string) {}

  bits(count: number): number {
    // count ≤ 24 keeps acc within 32 bits.
    while (this.n < count) {
      if (this.pos >= this.buf.length) throw new CompactError(`${this.name}: bzip2 data ends unexpectedly (truncated file?)`);
      this.acc = ((this.acc << 8) | this.buf[this.pos++]!) >>> 0;
      this.n += 8;
    }
    this.n -= count;
    return (this.acc >>> this.n) & ((1 << count) - 1);
  }

  bit(): number {
    return this.bits(1);
  }

  /** Drops the bits left in the current byte (streams start on byte boundaries). */
  alignToByte(): void {
    this.n -= this.n % 8;
    // Whole bytes still buffered go back to the byte position.
    this.pos -= this.n / 8;
    this.n = 0;
    this.acc = 0;
  }

  get bytesLeft(): number {
    return this.buf.length - this.pos + Math.floor(this.n / 8);
  }
}

interface HuffTable {
  limit: Int32Array;
  base: Int32Array;
  perm: Int32Array;
  minLen: number;
  maxLen: number;
}

/** Canonical Huffman decoding tables (the reference implementation's limit/base/perm scheme). */
function makeTable(lengths: Uint8Array, alphaSize: number): HuffTable {
  let minLen = 32;
  let maxLen = 0;
  for (let i = 0; i < alphaSize; i++) {
    minLen = Math.min(minLen, lengths[i]!);
    maxLen = Math.max(maxLen, lengths[i]!);
  }
  const perm = new Int32Array(MAX_ALPHA);
  let pp = 0;
  for (let len = minLen; len <= maxLen; len++) for (let j = 0; j < alphaSize; j++) if (lengths[j] === len) perm[pp++] = j;
  const base = new Int32Array(MAX_CODE_LEN + 2);
  const limit = new Int32Array(MAX_CODE_LEN + 2);
  for (let i = 0; i < alphaSize; i++) base[lengths[i]! + 1]!++;
  for (let i = 1; i < base.length; i++) base[i]! += base[i - 1]!;
  let vec = 0;
  for (let len = minLen; len <= maxLen; len++) {
    vec += base[len + 1]! - base[len]!;
    limit[len] = vec - 1;
    vec <<= 1;
  }
  for (let len = minLen + 1; len <= maxLen; len++) base[len] = ((limit[len - 1]! + 1) << 1) - base[len]!;
  return { limit, base, perm, minLen, maxLen };
}

/** Decompresses a whole .bz2 buffer (one or more concatenated streams). `name` is used in errors. */
export function bunzip2(data: Uint8Array, name = 'bzip2 data'): Uint8Array {
  const r = new BitReader(data, name);
  const out: Uint8Array[] = [];
  let streams = 0;
  while (true) {
    if (streams > 0) {
      r.alignToByte();
      // Trailing zero padding after the last stream is tolerated (tape-style padding); anything
      // else must be another stream.
      if (r.bytesLeft === 0) break;
      if (data.subarray(r.pos).every((b) => b === 0)) break;
    }
    if (r.bytesLeft < 4 || r.bits(8) !== 0x42 || r.bits(8) !== 0x5a || r.bits(8) !== 0x68) {
      throw new CompactError(`${name}: not a bzip2 file (no "BZh" signature${streams ? ` at byte ${r.pos - 3}` : ''})`);
    }
    const level = r.bits(8) - 0x30;
    if (level < 1 || level > 9) throw new CompactError(`${name}: bad bzip2 block size level ${level}`);
    decodeStream(r, level * 100000, out, name);
    streams++;
  }
  let total = 0;
  for (const c of out) total += c.length;
  const res = new Uint8Array(total);
  let o = 0;
  for (const c of out) {
    res.set(c, o);
    o += c.length;
  }
  return res;
}

function decodeStream(r: BitReader, maxBlock: number, out: Uint8Array[], name: string): void {
  let combined = 0;
  const tt = new Uint32Array(maxBlock);
  let block = 0;
  while (true) {
    const hi = r.bits(24);
    const lo = r.bits(24);
    if (hi === END_MAGIC_HI && lo === END_MAGIC_LO) {
      const want = r.bits(16) * 65536 + r.bits(16);
      if (want !== combined >>> 0) {
        throw new CompactError(`${name}: bzip2 stream CRC mismatch (stored ${hex(want)}, computed ${hex(combined >>> 0)})`);
      }
      return;
    }
    if (hi !== BLOCK_MAGIC_HI || lo !== BLOCK_MAGIC_LO) throw new CompactError(`${name}: bzip2 block ${block} has a bad signature (corrupt file)`);
    const storedCrc = r.bits(16) * 65536 + r.bits(16);
    const { bytes, crc } = decodeBlock(r, tt, maxBlock, name, block);
    if (crc !== storedCrc) throw new CompactError(`${name}: bzip2 block ${block} CRC mismatch (stored ${hex(storedCrc)}, computed ${hex(crc)}; corrupt file)`);
    combined = (((combined << 1) | (combined >>> 31)) ^ crc) >>> 0;
    out.push(bytes);
    block++;
  }
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

function decodeBlock(r: BitReader, tt: Uint32Array, maxBlock: number, name: string, block: number): { bytes: Uint8Array; crc: number } {
  const bad = (what: string): CompactError => new CompactError(`${name}: bzip2 block ${block}: ${what} (corrupt file)`);
  if (r.bit()) throw new CompactError(`${name}: bzip2 block ${block} is "randomised" (written by bzip2 < 0.9.5), which is not supported`);
  const origPtr = r.bits(24);

  // Which byte values occur: 16 groups of 16.
  const seqToUnseq = new Uint8Array(256);
  let nInUse = 0;
  const groupsUsed = r.bits(16);
  for (let i = 0; i < 16; i++) {
    if (!(groupsUsed & (0x8000 >> i))) continue;
    const bitsUsed = r.bits(16);
    for (let j = 0; j < 16; j++) if (bitsUsed & (0x8000 >> j)) seqToUnseq[nInUse++] = i * 16 + j;
  }
  if (nInUse === 0) throw bad('no symbols in use');
  const alphaSize = nInUse + 2;

  const nGroups = r.bits(3);
  if (nGroups < 2 || nGroups > MAX_GROUPS) throw bad(`${nGroups} Huffman tables`);
  const nSelectors = r.bits(15);
  if (nSelectors < 1) throw bad('no selectors');
  // Selectors are MTF-coded unary numbers.
  const mtfGroups = [0, 1, 2, 3, 4, 5].slice(0, nGroups);
  const selectors = new Uint8Array(Math.min(nSelectors, MAX_SELECTORS));
  for (let i = 0; i < nSelectors; i++) {
    let j = 0;
    while (r.bit()) if (++j >= nGroups) throw bad('selector out of range');
    const v = mtfGroups[j]!;
    mtfGroups.splice(j, 1);
    mtfGroups.unshift(v);
    if (i < MAX_SELECTORS) selectors[i] = v;
  }

  // Code lengths, delta-coded per table.
  const tables: HuffTable[] = [];
  const lengths = new Uint8Array(MAX_ALPHA);
  for (let t = 0; t < nGroups; t++) {
    let curr = r.bits(5);
    for (let i = 0; i < alphaSize; i++) {
      while (true) {
        if (curr < 1 || curr > MAX_CODE_LEN) throw bad(`Huffman code length ${curr}`);
        if (!r.bit()) break;
        curr += r.bit() ? -1 : 1;
      }
      lengths[i] = curr;
    }
    tables.push(makeTable(lengths, alphaSize));
  }

  // Huffman → MTF / zero runs (RUNA=0, RUNB=1 encode run lengths in bijective base 2) → bytes in tt.
  const EOB = nInUse + 1;
  const mtf = new Uint8Array(256);
  for (let i = 0; i < 256; i++) mtf[i] = i;
  const counts = new Int32Array(256);
  let nblock = 0;
  const buf = r.buf;
  let groupIndex = -1;
  let groupLeft = 0;
  let table = tables[0]!;
  let runLength = 0;
  let runWeight = 1;
  while (true) {
    if (groupLeft === 0) {
      groupIndex++;
      if (groupIndex >= selectors.length) throw bad('ran out of selectors');
      table = tables[selectors[groupIndex]!]!;
      groupLeft = GROUP_SIZE;
    }
    groupLeft--;
    // The hot loop: the reader's state is kept in locals. Ensure 24 bits are buffered (fewer only
    // at the very end of the data), then walk code lengths upward.
    while (r.n < 24 && r.pos < buf.length) {
      r.acc = ((r.acc << 8) | buf[r.pos++]!) >>> 0;
      r.n += 8;
    }
    let len = table.minLen;
    if (r.n < table.maxLen && r.pos >= buf.length && r.n < len) throw new CompactError(`${name}: bzip2 data ends unexpectedly (truncated file?)`);
    let code = (r.acc >>> (r.n - len)) & ((1 << len) - 1);
    while (code > table.limit[len]!) {
      if (++len > table.maxLen || len > r.n) throw len > r.n ? new CompactError(`${name}: bzip2 data ends unexpectedly (truncated file?)`) : bad('invalid Huffman code');
      code = (r.acc >>> (r.n - len)) & ((1 << len) - 1);
    }
    r.n -= len;
    const idx = code - table.base[len]!;
    if (idx < 0 || idx >= alphaSize) throw bad('invalid Huffman code');
    const sym = table.perm[idx]!;

    if (sym <= 1) {
      runLength += (sym + 1) * runWeight;
      runWeight <<= 1;
      if (runLength > maxBlock) throw bad('run exceeds the block size');
      continue;
    }
    if (runLength > 0) {
      const b = seqToUnseq[mtf[0]!]!;
      if (nblock + runLength > maxBlock) throw bad('data exceeds the block size');
      counts[b]! += runLength;
      tt.fill(b, nblock, nblock + runLength);
      nblock += runLength;
      runLength = 0;
      runWeight = 1;
    }
    if (sym === EOB) break;
    // Symbol k (2 ≤ k ≤ nInUse) is MTF position k − 1.
    const pos = sym - 1;
    const v = mtf[pos]!;
    mtf.copyWithin(1, 0, pos);
    mtf[0] = v;
    const b = seqToUnseq[v]!;
    if (nblock >= maxBlock) throw bad('data exceeds the block size');
    counts[b]!++;
    tt[nblock++] = b;
  }
  if (origPtr >= nblock) throw bad(`origin pointer ${origPtr} beyond the block's ${nblock} bytes`);

  // Inverse BWT: tt[i] keeps its byte in the low 8 bits and gets the link in the high 24.
  const cftab = new Int32Array(257);
  for (let i = 0; i < 256; i++) cftab[i + 1] = cftab[i]! + counts[i]!;
  for (let i = 0; i < nblock; i++) {
    const b = tt[i]! & 0xff;
    const j = cftab[b]!++;
    tt[j] = (tt[j]! | (i << 8)) >>> 0;
  }

  // Walk the links and undo the initial run-length step (4 equal bytes, then a count 0–255)
  // while computing the block CRC over the final bytes.
  let outBuf = new Uint8Array(nblock + (nblock >> 3) + 256);
  let o = 0;
  let tPos = tt[origPtr]! >>> 8;
  let last = -1;
  let run = 0;
  for (let k = 0; k < nblock; k++) {
    const entry = tt[tPos]!;
    const b = entry & 0xff;
    tPos = entry >>> 8;
    if (o + 256 > outBuf.length) {
      const grown = new Uint8Array(outBuf.length * 2);
      grown.set(outBuf.subarray(0, o));
      outBuf = grown;
    }
    if (run === 4) {
      outBuf.fill(last, o, o + b);
      o += b;
      run = 0;
      continue;
    }
    if (b === last) run++;
    else {
      last = b;
      run = 1;
    }
    outBuf[o++] = b;
  }
  let crc = 0xffffffff;
  for (let i = 0; i < o; i++) crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ outBuf[i]!) & 0xff]!;
  return { bytes: outBuf.slice(0, o), crc: ~crc >>> 0 };
}
