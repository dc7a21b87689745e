import { Buffer } from 'node:buffer';
import { hashBytes } from './key-hash.js';
import { offsetOf, pageIdOf, type SlabAllocator } from './slab-allocator.js';

/** Pseudo slot ids naming the scan bounds in `compare`, so the B+tree can seek to them. */
export const PROBE_START = -1;
export const PROBE_END = -2;
const FREE_END = 0xffffffff;

/**
 * Per-item metadata in parallel typed arrays indexed by slot id, plus the key and value
 * bytes reached through the slot's chunk. A chunk holds `[key length][key][value]`;
 * nothing per item lives on the JS heap.
 */
export class ItemTable {
  /** Chunk address (see `SlabAllocator`); the free-slot chain while a slot is free. */
  loc: Uint32Array;
  valueLen: Uint32Array;
  flags: Uint32Array;
  /** Absolute expiry in unix seconds; 0 = never. */
  expAt: Uint32Array;
  cas: Float64Array;
  capacity: number;
  /** Slots in use. */
  count = 0;
  private used = 0;
  private freeHead = -1;
  private readonly pages: Uint8Array[];
  private readonly probeBytes: Uint8Array[] = [new Uint8Array(256), new Uint8Array(256)];
  private readonly probeLen = [0, 0];
  private readonly probeIsOpen = [false, false];

  constructor(slabs: SlabAllocator, capacity: number) {
    this.pages = slabs.pages;
    this.capacity = capacity;
    this.loc = new Uint32Array(capacity);
    this.valueLen = new Uint32Array(capacity);
    this.flags = new Uint32Array(capacity);
    this.expAt = new Uint32Array(capacity);
    this.cas = new Float64Array(capacity);
  }

  /** True when `allocSlot` needs `grow` first. */
  get isFull(): boolean {
    return this.freeHead < 0 && this.used === this.capacity;
  }

  grow(capacity: number): void {
    this.loc = resizeU32(this.loc, capacity);
    this.valueLen = resizeU32(this.valueLen, capacity);
    this.flags = resizeU32(this.flags, capacity);
    this.expAt = resizeU32(this.expAt, capacity);
    const cas = new Float64Array(capacity);
    cas.set(this.cas);
    this.cas = cas;
    this.capacity = capacity;
  }

  allocSlot(): number {
    this.count++;
    const s = this.freeHead;
    if (s < 0) return this.used++;
    const next = this.loc[s]!;
    this.freeHead = next === FREE_END ? -1 : next;
    return s;
  }

  freeSlot(slot: number): void {
    this.loc[slot] = this.freeHead < 0 ? FREE_END : this.freeHead;
    this.freeHead = slot;
    this.count--;
  }

  clear(): void {
    this.count = 0;
    this.used = 0;
    this.freeHead = -1;
  }

  /** Bytes `[key length][key]` of `key` at `addr`; the caller checked it is binary. */
  writeKey(addr: number, key: string): void {
    const page = this.pages[pageIdOf(addr)]!;
    let o = offsetOf(addr);
    page[o++] = key.length;
    for (let i = 0; i < key.length; i++) page[o + i] = key.charCodeAt(i);
  }

  keyEquals(slot: number, key: string): boolean {
    const addr = this.loc[slot]!;
    const page = this.pages[pageIdOf(addr)]!;
    const o = offsetOf(addr);
    const n = key.length;
    if (page[o] !== n) return false;
    for (let i = 0; i < n; i++) {
      if (page[o + 1 + i] !== key.charCodeAt(i)) return false;
    }
    return true;
  }

  keyLength(slot: number): number {
    const addr = this.loc[slot]!;
    return this.pages[pageIdOf(addr)]![offsetOf(addr)]!;
  }

  keyOf(slot: number): string {
    const addr = this.loc[slot]!;
    const page = this.pages[pageIdOf(addr)]!;
    const o = offsetOf(addr);
    return Buffer.from(page.buffer, page.byteOffset + o + 1, page[o]!).toString('latin1');
  }

  /** Hash of the key in the chunk at `addr` (a slot's or one being moved). */
  hashAt(addr: number): number {
    const page = this.pages[pageIdOf(addr)]!;
    const o = offsetOf(addr);
    return hashBytes(page, o + 1, page[o]!);
  }

  hashOf(slot: number): number {
    return this.hashAt(this.loc[slot]!);
  }

  /** A copy of the slot's value that the caller owns. */
  valueOf(slot: number): Uint8Array {
    const addr = this.loc[slot]!;
    const page = this.pages[pageIdOf(addr)]!;
    const start = offsetOf(addr) + 1 + page[offsetOf(addr)]!;
    return page.slice(start, start + this.valueLen[slot]!);
  }

  /**
   * Make `probe` (PROBE_START or PROBE_END) stand for `key` in `compare`. A char above
   * 255 sorts after every byte, so the probe keeps the bytes before it and is marked
   * open: greater than anything sharing that prefix.
   */
  setProbe(probe: number, key: string): void {
    const p = ~probe;
    let n = 0;
    while (n < key.length && key.charCodeAt(n) <= 0xff) n++;
    if (this.probeBytes[p]!.length < n) this.probeBytes[p] = new Uint8Array(n);
    const bytes = this.probeBytes[p]!;
    for (let i = 0; i < n; i++) bytes[i] = key.charCodeAt(i);
    this.probeLen[p] = n;
    this.probeIsOpen[p] = n < key.length;
  }

  /** Byte order of two slots' keys (or probes): the B+tree's comparator. */
  compare(a: number, b: number): number {
    let pa: Uint8Array;
    let oa: number;
    let la: number;
    if (a >= 0) {
      const addr = this.loc[a]!;
      pa = this.pages[pageIdOf(addr)]!;
      oa = offsetOf(addr);
      la = pa[oa++]!;
    } else {
      pa = this.probeBytes[~a]!;
      oa = 0;
      la = this.probeLen[~a]!;
    }
    let pb: Uint8Array;
    let ob: number;
    let lb: number;
    if (b >= 0) {
      const addr = this.loc[b]!;
      pb = this.pages[pageIdOf(addr)]!;
      ob = offsetOf(addr);
      lb = pb[ob++]!;
    } else {
      pb = this.probeBytes[~b]!;
      ob = 0;
      lb = this.probeLen[~b]!;
    }
    const n = la < lb ? la : lb;
    for (let i = 0; i < n; i++) {
      const d = pa[oa + i]! - pb[ob + i]!;
      if (d !== 0) return d;
    }
    if (a < 0 && this.probeIsOpen[~a]) return b < 0 && this.probeIsOpen[~b] ? lb - la : 1;
    if (b < 0 && this.probeIsOpen[~b]) return -1;
    return la - lb;
  }
}

function resizeU32(a: Uint32Array, capacity: number): Uint32Array {
  const next = new Uint32Array(capacity);
  next.set(a.subarray(0, Math.min(a.length, capacity)));
  return next;
}
