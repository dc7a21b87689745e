/** An item as the disk engine holds it in memory. `value` is shared: nobody writes into it. */
export interface DiskEntry {
  readonly value: Uint8Array;
  readonly flags: number;
  /** Absolute expiry, unix seconds; 0 never. */
  readonly expAt: number;
  readonly cas: number;
}

/** Bytes charged per cached entry on top of key and value (Map slot, object, buffer header). */
const ENTRY_OVERHEAD_BYTES = 96;

/**
 * The disk engine's read cache: committed items recently read or written, least recently
 * used dropped first, bounded in bytes (`--memory-size`). A Map keeps insertion order,
 * so re-inserting on a hit makes the first key the least recently used.
 */
export class ReadCache {
  private readonly entries = new Map<string, DiskEntry>();
  private sizeBytes = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly limitBytes: number) {}

  get bytes(): number {
    return this.sizeBytes;
  }

  get count(): number {
    return this.entries.size;
  }

  get(key: string): DiskEntry | undefined {
    const e = this.entries.get(key);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, e);
    return e;
  }

  set(key: string, entry: DiskEntry): void {
    const cost = costOf(key, entry);
    if (cost > this.limitBytes) {
      this.delete(key);
      return;
    }
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.sizeBytes -= costOf(key, old);
      this.entries.delete(key);
    }
    this.entries.set(key, entry);
    this.sizeBytes += cost;
    if (this.sizeBytes > this.limitBytes) this.shrink();
  }

  delete(key: string): void {
    const old = this.entries.get(key);
    if (old === undefined) return;
    this.sizeBytes -= costOf(key, old);
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
    this.sizeBytes = 0;
  }

  private shrink(): void {
    for (const [key, e] of this.entries) {
      if (this.sizeBytes <= this.limitBytes) return;
      this.sizeBytes -= costOf(key, e);
      this.entries.delete(key);
    }
  }
}

function costOf(key: string, e: DiskEntry): number {
  return key.length + e.value.length + ENTRY_OVERHEAD_BYTES;
}
