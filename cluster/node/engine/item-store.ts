import BTreeModule from 'sorted-btree';
import { isExpiredAt } from './expiry.js';
import { HashIndex } from './hash-index.js';
import { ItemTable, MAX_SLOTS } from './item-table.js';
import { LruList } from './lru-list.js';
import { NO_CHUNK, SlabAllocator, offsetOf, pageIdOf } from './slab-allocator.js';

const BTree = BTreeModule.default;
/** Slot ids in key order; the comparator reads the keys from the slots' chunks. */
export type SlotTree = InstanceType<typeof BTree<number, undefined>>;

const INITIAL_SLOTS = 1024;
// Measured at 1 M random inserts: 64-key nodes cost 14.3 B/item (32: 19.7; 256: 13.5 but
// slower inserts).
const TREE_NODE_KEYS = 64;
// Without eviction, a write that does not fit still reclaims expired items near the
// LRU tail, but gives up after this many live ones.
const NO_EVICT_SCAN_ITEMS = 64;

export interface ItemStoreOptions {
  limitBytes: number;
  overheadBytes: number;
  isEvictionEnabled: boolean;
  /** Clock in unix seconds, for expiry checks in the eviction walk. */
  nowS: () => number;
}

/**
 * Where items live and what they cost: slab chunks, slot records, the hash index, the
 * LRU list and the key-ordered tree, kept consistent together, plus the byte accounting
 * and eviction. Knows nothing of memcached commands; `MemoryEngine` builds those on it.
 *
 * A write is two steps so the caller can fill the new chunk from anywhere, including
 * the slot's current chunk: `reserve` makes room and allocates, the caller writes
 * `[key length][key][value]` at the address, then `commit` links it in. Chunks do not
 * move between the two; compaction runs only in `settle`, at the end of an operation.
 */
export class ItemStore {
  readonly slabs = new SlabAllocator();
  readonly items: ItemTable;
  readonly lru: LruList;
  readonly order: SlotTree;
  /** Accounted bytes of all items. */
  bytes = 0;
  evictions = 0;
  expired = 0;
  /** The last CAS handed out; also the count of successful writes. */
  lastCas = 0;
  private readonly index: HashIndex;

  constructor(private readonly options: Readonly<ItemStoreOptions>) {
    this.items = new ItemTable(this.slabs, INITIAL_SLOTS);
    this.index = new HashIndex(this.items, INITIAL_SLOTS);
    this.lru = new LruList(this.items);
    const items = this.items;
    this.order = new BTree<number, undefined>(undefined, (a, b) => items.compare(a, b), TREE_NODE_KEYS);
  }

  /** Slot holding `key` (hash `h`), expired or not, or -1. */
  find(key: string, h: number): number {
    return this.index.find(key, h);
  }

  /** The page holding the chunk at `addr`. */
  pageOf(addr: number): Uint8Array {
    return this.slabs.pages[pageIdOf(addr)]!;
  }

  /** Offset of the value bytes in the chunk at `addr` for a key of `keyBytes`. */
  valueOffset(addr: number, keyBytes: number): number {
    return offsetOf(addr) + 1 + keyBytes;
  }

  nextCas(): number {
    return ++this.lastCas;
  }

  /**
   * Make room for `slot` (-1: a new item) to hold `keyBytes + valueBytes` and allocate
   * its new chunk. Returns the chunk address, or -1 when it cannot fit. The slot keeps
   * its current chunk, readable, until `commit`; when the size class is unchanged the
   * address returned is that chunk itself.
   */
  reserve(slot: number, keyBytes: number, valueBytes: number): number {
    const { limitBytes, overheadBytes } = this.options;
    const need = 1 + keyBytes + valueBytes;
    const chunk = this.slabs.chunkBytesFor(need);
    if (chunk + overheadBytes > limitBytes) return -1;
    let delta = chunk + overheadBytes;
    if (slot < 0 && this.items.isAtLimit) return -1;
    if (slot >= 0) {
      const current = this.items.loc(slot);
      const currentBytes = this.slabs.chunkBytesAt(current);
      // Same size class: rewrite in place (overlapping copies are safe with set()).
      if (currentBytes === chunk) return current;
      delta = chunk - currentBytes;
    }
    if (this.bytes + delta > limitBytes && !this.makeRoom(limitBytes - delta, slot)) return -1;
    const addr = this.slabs.alloc(need);
    return addr === NO_CHUNK ? -1 : addr;
  }

  /** Point `slot` (or a new slot for -1) at the written chunk `addr`. Returns the new CAS. */
  commit(slot: number, h: number, addr: number, valueLen: number, flags: number, expAt: number): number {
    const items = this.items;
    const chunk = this.slabs.chunkBytesAt(addr);
    if (slot < 0) {
      if (items.isFull) this.growSlots();
      slot = items.allocSlot();
      items.setLoc(slot, addr);
      this.index.insert(slot, h);
      this.order.set(slot, undefined);
      this.lru.pushFront(slot);
      this.bytes += chunk + this.options.overheadBytes;
    } else {
      const old = items.loc(slot);
      if (old !== addr) {
        this.bytes += chunk - this.slabs.chunkBytesAt(old);
        items.setLoc(slot, addr);
        this.slabs.free(old);
      }
      this.lru.moveToFront(slot);
    }
    const cas = this.nextCas();
    items.setItem(slot, valueLen, flags, expAt, cas);
    return cas;
  }

  /** Drop an item on request (delete, or a write that expires it at once). */
  remove(slot: number, h: number): void {
    const items = this.items;
    const addr = items.loc(slot);
    this.index.remove(slot, h);
    // The tree compares keys read from the chunk, so it goes before the chunk is freed.
    this.order.delete(slot);
    this.lru.remove(slot);
    this.bytes -= this.slabs.chunkBytesAt(addr) + this.options.overheadBytes;
    this.slabs.free(addr);
    items.freeSlot(slot);
  }

  /** Drop an item found expired, and count it. */
  reclaimExpired(slot: number, h: number): void {
    this.remove(slot, h);
    this.expired++;
  }

  /** Let the allocator compact, now that every live chunk is reachable from its slot. */
  settle(): void {
    this.slabs.compact(this.onRelocate);
  }

  clear(): void {
    this.order.clear();
    this.index.clear();
    this.lru.clear();
    this.items.clear();
    this.slabs.reset();
    this.bytes = 0;
  }

  /** Walk the LRU from the tail, reclaiming expired items and, if enabled, evicting. */
  private makeRoom(targetBytes: number, keep: number): boolean {
    const now = this.options.nowS();
    const items = this.items;
    const isEvicting = this.options.isEvictionEnabled;
    let live = 0;
    let s = this.lru.tail;
    while (s >= 0 && this.bytes > targetBytes) {
      const prev = this.lru.prevOf(s);
      if (s !== keep) {
        if (isExpiredAt(items.expAt(s), now)) {
          this.reclaimExpired(s, items.hashOf(s));
        } else if (isEvicting) {
          this.remove(s, items.hashOf(s));
          this.evictions++;
        } else if (++live >= NO_EVICT_SCAN_ITEMS) {
          break;
        }
      }
      s = prev;
    }
    return this.bytes <= targetBytes;
  }

  private growSlots(): void {
    const capacity = Math.min(this.items.capacity * 2, MAX_SLOTS);
    this.items.grow(capacity);
    this.index.resizeSlots(capacity);
  }

  private readonly onRelocate = (from: number, to: number): void => {
    const slot = this.index.findByAddress(this.items.hashAt(to), from);
    if (slot >= 0) this.items.setLoc(slot, to);
  };
}
