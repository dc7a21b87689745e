/**
 * The storage the memcached front end talks to. The proxy wires it to the cluster; tests
 * use an in-memory map. Every method may reject with a `KvError`; the front end turns the
 * error's code into a memcached answer (see `error-map.ts`).
 *
 * Keys are raw bytes (1–250 of them, already validated). TTLs are memcached expiration
 * times in seconds: 0 never expires, up to 30 days is relative, larger is a unix time, and
 * a negative value expires the item at once.
 */

/** A stored item as the backend returns it. */
export interface McItem {
  value: Uint8Array;
  /** 32-bit client flags stored with the item. */
  flags: number;
  cas: bigint;
  /** Seconds the item has left to live; -1 when it never expires; absent when unknown. */
  ttlSec?: number;
}

/** Modes of a store; `cas` stores only when the item's cas still equals the given one. */
export type McStoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas';

/** Outcome of a store, in memcached's words. */
export type McStoreStatus = 'STORED' | 'NOT_STORED' | 'EXISTS' | 'NOT_FOUND';

export interface McStoreResult {
  status: McStoreStatus;
  /** The item's new cas when `status` is STORED (0n otherwise or when unknown). */
  cas: bigint;
}

export interface McCounterOptions {
  /**
   * When the key is missing, create it holding `initial` (the delta is not applied, as
   * memcached's `ma` with `N` does) instead of answering null.
   */
  initial?: bigint;
  /** TTL of an item created through `initial`. */
  ttl?: number;
}

export interface McCounterResult {
  /** The counter's value after the operation. */
  value: bigint;
  cas: bigint;
}

/** One key of a `stats cachedump` answer. */
export interface McDumpEntry {
  key: Uint8Array;
  /** Bytes of the value. */
  size: number;
}

/** Roles of a principal (DESIGN §9). */
export type McRole = 'read' | 'write' | 'scan' | 'admin';

/** The identity a connection authenticated as. */
export interface McPrincipal {
  name: string;
  roles: ReadonlySet<McRole>;
}

export interface MemcachedBackend {
  /** The item, or null when it does not exist. */
  get(key: Uint8Array): Promise<McItem | null>;
  /** The item after setting its TTL to `ttl`, or null when it does not exist. */
  getAndTouch(key: Uint8Array, ttl: number): Promise<McItem | null>;
  /**
   * Store `value`. `cas` is given for mode `cas` and may be given for `append`/`prepend`
   * (store only when it matches). NOT_FOUND answers a `cas` store of a missing key.
   */
  store(mode: McStoreMode, key: Uint8Array, value: Uint8Array, flags: number, ttl: number, cas?: bigint): Promise<McStoreResult>;
  /** Delete the key; with `cas`, only when the item's cas equals it (EXISTS otherwise). */
  delete(key: Uint8Array, cas?: bigint): Promise<'DELETED' | 'NOT_FOUND' | 'EXISTS'>;
  /**
   * Add to or subtract from a decimal counter: incr wraps at 2^64, decr stops at 0. Null
   * when the key does not exist (and no `initial` was given); rejects with BAD_REQUEST
   * when the stored value is not a decimal number.
   */
  counter(op: 'incr' | 'decr', key: Uint8Array, delta: bigint, opts?: McCounterOptions): Promise<McCounterResult | null>;
  /** Set a new TTL; false when the key does not exist. */
  touch(key: Uint8Array, ttl: number): Promise<boolean>;
  /**
   * memcached ASCII auth: the payload of the first `set` on a connection is
   * `user password`. Resolve to the principal, or null when the credentials are wrong.
   */
  authenticate(user: string, password: string): Promise<McPrincipal | null>;
  /**
   * Remove every item (memcached `flush_all`); resolves with how many were removed. Items
   * written while the flush runs may survive it. The front end checks the admin role.
   */
  flush(): Promise<number>;
  /**
   * Up to `limit` keys with their value sizes, in key order (`stats cachedump`, which
   * `memcdump` uses). The front end checks the scan role.
   */
  dump(limit: number): Promise<McDumpEntry[]>;
  /** Extra lines for `stats`, by name. */
  stats(): Promise<Record<string, string | number>>;
}
