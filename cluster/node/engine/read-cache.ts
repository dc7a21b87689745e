/** An item as the disk engine holds it in memory. Its bytes are shared: nobody writes into them. */
export interface DiskEntry {
  /** The stored form, `[header][value]` (disk-record.ts): what a commit hands lmdb. */
  readonly record: Buffer;
  /** The value: a view into `record`. */
  readonly value: Uint8Array;
  readonly flags: number;
  /** Absolute expiry, unix seconds; 0 never. */
  readonly expAt: number;
  readonly cas: number;
}

/** Bytes charged per cached entry on top of key and value (Map slot, objects, buffer views). */
const ENTRY_OVERHEAD_BYTES = 96;

/** A cached entry and its reference bit. */
interface Slot {
  entry: DiskEntry;
  isReferenced: boolean;
}

/**
 * The disk engine's read cache: committed items recently read or written, bounded in
 * bytes (`--memory-size`). Replacement is CLOCK (second chance), not exact LRU: a hit only
 * sets the entry's reference bit, so a cached read costs one Map lookup and no reordering.
 * The Map's insertion order is the clock; making room walks it from the oldest entry,
 * evicting entries whose bit is clear and moving the others to the back with the bit
 * cleared. An entry read since the hand last passed survives one more round.
 */
export class ReadCache {
  private readonly slots = new Map<string, Slot>();
  private sizeBytes = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly limitBytes: number) {}

  get bytes(): number {
    return this.sizeBytes;
  }

  get count(): number {
    return this.slots.size;
  }

  get(key: string): DiskEntry | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    slot.isReferenced = true;
    return slot.entry;
  }

  /** Cache `entry` for `key` (replacing what was cached); new entries start unreferenced. */
  set(key: string, entry: DiskEntry): void {
    const cost = costOf(key, entry);
    const slot = this.slots.get(key);
    if (cost > this.limitBytes) {
      if (slot !== undefined) this.drop(key, slot);
      return;
    }
    if (slot !== undefined) {
      this.sizeBytes += cost - costOf(key, slot.entry);
      slot.entry = entry;
    } else {
      this.slots.set(key, { entry, isReferenced: false });
      this.sizeBytes += cost;
    }
    if (this.sizeBytes > this.limitBytes) this.shrink();
  }

  delete(key: string): void {
    const slot = this.slots.get(key);
    if (slot !== undefined) this.drop(key, slot);
  }

  clear(): void {
    this.slots.clear();
    this.sizeBytes = 0;
  }

  private drop(key: string, slot: Slot): void {
    this.sizeBytes -= costOf(key, slot.entry);
    this.slots.delete(key);
  }

  private shrink(): void {
    // Every pass clears the bits it meets, so the walk ends within two rounds of the clock.
    while (this.sizeBytes > this.limitBytes) {
      for (const [key, slot] of this.slots) {
        if (this.sizeBytes <= this.limitBytes) return;
        this.slots.delete(key);
        if (slot.isReferenced) {
          slot.isReferenced = false;
          this.slots.set(key, slot);
        } else {
          this.sizeBytes -= costOf(key, slot.entry);
        }
      }
    }
  }
}

function costOf(key: string, e: DiskEntry): number {
  return key.length + e.value.length + ENTRY_OVERHEAD_BYTES;
}
