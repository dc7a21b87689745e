/**
 * What the executor knows about a write it just ran, handed to the replicator so that it
 * neither hashes the key again nor reads the item back from the engine.
 */
export interface WriteHint {
  /** The key's bucket at `bits`, from the executor's ownership check; -1 when it was not computed. */
  readonly bucket: number;
  readonly bits: number;
  /**
   * The item as the write left it (`value` a copy the replicator may keep), null when the
   * write left none (DELETE, an expiry already past), undefined when unknown: read it back.
   */
  readonly item: WrittenItem | null | undefined;
}

/** An item's stored state, as a replication record carries it. */
export interface WrittenItem {
  readonly value: Uint8Array;
  readonly flags: number;
  /** Absolute expiry, unix seconds; 0 = never. */
  readonly expAt: number;
}
