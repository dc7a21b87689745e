import { Buffer } from 'node:buffer';
import { CopyPool } from './copy-pool.js';
import { hashBytes, hashKey, randomHashSeed } from './key-hash.js';
import { F_CAS_HI, F_CAS_LO, F_EXP_AT, F_FLAGS, F_LOC, F_VALUE_LEN, RECORD_SHIFT } from './item-layout.js';
import { offsetOf, pageIdOf, type SlabAllocator } from './slab-allocator.js';

/** Pseudo slot ids naming the scan bounds in `compare`, so the B+tree can seek to them. */
export const PROBE_START = -1;
export const PROBE_END = -2;
const FREE_END = 0xffffffff;
// Value length of a free slot; real lengths are far below it.
const FREE_MARK = 0xffffffff;
/** Most slots a table holds: record indexes are slot << 3 in 32-bit arithmetic. */
export const MAX_SLOTS = 2 ** 28;

/**
 * Per-item metadata in one 32-byte record per slot (layout in item-layout.ts), plus the
 * key and value bytes reached through the slot's chunk. A chunk holds
 * `[key length][key][value]`; nothing per item lives on the JS heap.
 */
export class ItemTable {
  /** The records as unsigned words. */
  meta: Uint32Array;
  /** The same records as signed words, for the LRU links. */
  links: Int32Array;
  capacity: number;
  /** Slots in use. */
  count = 0;
  private used = 0;
  private freeHead = -1;
  private readonly pages: Uint8Array[];
  private readonly buffers: ArrayBuffer[];
  private readonly copies = new CopyPool();
  private readonly hashSeed = randomHashSeed();
  private readonly probeBytes: Uint8Array[] = [new Uint8Array(256), new Uint8Array(256)];
  private readonly probeLen = [0, 0];
  private readonly probeIsOpen = [false, false];

  constructor(slabs: SlabAllocator, capacity: number) {
    this.pages = slabs.pages;
    this.buffers = slabs.buffers;
    this.capacity = capacity;
    this.meta = new Uint32Array(capacity << RECORD_SHIFT);
    this.links = new Int32Array(this.meta.buffer);
  }

  /** True when no slot can be added even by growing. */
  get isAtLimit(): boolean {
    return this.count >= MAX_SLOTS;
  }

  /** True when `allocSlot` needs `grow` first. */
  get isFull(): boolean {
    return this.freeHead < 0 && this.used === this.capacity;
  }

  grow(capacity: number): void {
    const meta = new Uint32Array(capacity << RECORD_SHIFT);
    meta.set(this.meta);
    this.meta = meta;
    this.links = new Int32Array(meta.buffer);
    this.capacity = capacity;
  }

  /** A slot for a new item; it counts as live for `isLive` once `setItem` fills it. */
  allocSlot(): number {
    this.count++;
    let s = this.freeHead;
    if (s < 0) {
      s = this.used++;
    } else {
      const next = this.meta[(s << RECORD_SHIFT) + F_LOC]!;
      this.freeHead = next === FREE_END ? -1 : next;
    }
    this.meta[(s << RECORD_SHIFT) + F_VALUE_LEN] = FREE_MARK;
    return s;
  }

  freeSlot(slot: number): void {
    const at = slot << RECORD_SHIFT;
    this.meta[at + F_VALUE_LEN] = FREE_MARK;
    this.meta[at + F_LOC] = this.freeHead < 0 ? FREE_END : this.freeHead;
    this.freeHead = slot;
    this.count--;
  }

  /** Slots below this have been handed out at least once. */
  get highWater(): number {
    return this.used;
  }

  /** False for a slot on the free list (only meaningful below `highWater`). */
  isLive(slot: number): boolean {
    return this.meta[(slot << RECORD_SHIFT) + F_VALUE_LEN] !== FREE_MARK;
  }

  clear(): void {
    this.count = 0;
    this.used = 0;
    this.freeHead = -1;
  }

  loc(slot: number): number {
    return this.meta[(slot << RECORD_SHIFT) + F_LOC]!;
  }

  valueLen(slot: number): number {
    return this.meta[(slot << RECORD_SHIFT) + F_VALUE_LEN]!;
  }

  flags(slot: number): number {
    return this.meta[(slot << RECORD_SHIFT) + F_FLAGS]!;
  }

  expAt(slot: number): number {
    return this.meta[(slot << RECORD_SHIFT) + F_EXP_AT]!;
  }

  setExpAt(slot: number, expAt: number): void {
    this.meta[(slot << RECORD_SHIFT) + F_EXP_AT] = expAt;
  }

  cas(slot: number): number {
    const at = slot << RECORD_SHIFT;
    return this.meta[at + F_CAS_HI]! * 0x100000000 + this.meta[at + F_CAS_LO]!;
  }

  /** Point the slot at a chunk. */
  setLoc(slot: number, addr: number): void {
    this.meta[(slot << RECORD_SHIFT) + F_LOC] = addr;
  }

  /** Fill the record of a freshly written value. */
  setItem(slot: number, valueLen: number, flags: number, expAt: number, cas: number): void {
    const meta = this.meta;
    const at = slot << RECORD_SHIFT;
    meta[at + F_VALUE_LEN] = valueLen;
    meta[at + F_FLAGS] = flags;
    meta[at + F_EXP_AT] = expAt;
    meta[at + F_CAS_LO] = cas % 0x100000000;
    meta[at + F_CAS_HI] = Math.floor(cas / 0x100000000);
  }

  /** Bytes `[key length][key]` of `key` at `addr`; the caller checked it is binary. */
  writeKey(addr: number, key: string): void {
    const page = this.pages[pageIdOf(addr)]!;
    let o = offsetOf(addr);
    page[o++] = key.length;
    for (let i = 0; i < key.length; i++) page[o + i] = key.charCodeAt(i);
  }

  keyEquals(slot: number, key: string): boolean {
    const addr = this.meta[(slot << RECORD_SHIFT) + F_LOC]!;
    const page = this.pages[pageIdOf(addr)]!;
    const o = offsetOf(addr);
    const n = key.length;
    if (page[o] !== n) return false;
    for (let i = 0; i < n; i++) {
      if (page[o + 1 + i] !== key.charCodeAt(i)) return false;
    }
    return true;
  }

  keyOf(slot: number): string {
    const addr = this.meta[(slot << RECORD_SHIFT) + F_LOC]!;
    const page = this.pages[pageIdOf(addr)]!;
    const o = offsetOf(addr);
    return Buffer.from(page.buffer, page.byteOffset + o + 1, page[o]!).toString('latin1');
  }

  /** Hash of the key in the chunk at `addr` (a slot's or one being moved). */
  hashAt(addr: number): number {
    const page = this.pages[pageIdOf(addr)]!;
    const o = offsetOf(addr);
    return hashBytes(page, o + 1, page[o]!, this.hashSeed);
  }

  /** Hash of a key string, matching `hashAt` of its chunk; -1 if it is not binary. */
  hashKey(key: string): number {
    return hashKey(key, this.hashSeed);
  }

  hashOf(slot: number): number {
    return this.hashAt(this.meta[(slot << RECORD_SHIFT) + F_LOC]!);
  }

  /** A copy of the slot's value that the caller owns. */
  valueOf(slot: number): Uint8Array {
    const at = slot << RECORD_SHIFT;
    const addr = this.meta[at + F_LOC]!;
    const id = pageIdOf(addr);
    const o = offsetOf(addr);
    return this.copies.copy(this.buffers[id]!, o + 1 + this.pages[id]![o]!, this.meta[at + F_VALUE_LEN]!);
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
      const addr = this.meta[(a << RECORD_SHIFT) + F_LOC]!;
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
      const addr = this.meta[(b << RECORD_SHIFT) + F_LOC]!;
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
