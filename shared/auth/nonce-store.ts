import { KvError } from '../errors.js';
import { NONCE_STORE_DEFAULTS, type NonceLedger, type NonceStoreOptions, type NonceVerdict } from './options.js';
import { randomBytes, toHex } from './keys.js';

/** Bytes in a server or client nonce. */
export const NONCE_BYTES = 32;

interface Entry {
  owner: object;
  expiresAt: number;
  isUsed: boolean;
}

/**
 * Single-use challenge nonces, shared by every connection of a process. Each nonce is
 * bound to the owner that asked for it (one `AuthServer`, i.e. one connection), so a
 * signature seen on one connection cannot be raced onto another. A used nonce is kept
 * as a tombstone until its retention ends, so a replay is reported as `replay` on any
 * connection; past that it is `unknown`, which is refused all the same.
 *
 * Bounded: at most `maxEntries` entries. Entries sit in insertion order, which is expiry
 * order while every TTL is the same, so expired ones are swept from the front.
 */
export class NonceStore implements NonceLedger {
  private readonly entries = new Map<string, Entry>();
  private readonly opts: NonceStoreOptions;

  constructor(options: Partial<NonceStoreOptions> = {}) {
    this.opts = {
      maxEntries: options.maxEntries ?? NONCE_STORE_DEFAULTS.maxEntries,
      ttlMs: options.ttlMs ?? NONCE_STORE_DEFAULTS.ttlMs,
      now: options.now ?? NONCE_STORE_DEFAULTS.now,
    };
    if (!Number.isSafeInteger(this.opts.maxEntries) || this.opts.maxEntries < 1) throw KvError.invalidArgument('maxEntries must be a positive integer');
    if (!(this.opts.ttlMs > 0)) throw KvError.invalidArgument('ttlMs must be positive');
  }

  /** Entries held (outstanding and tombstones). */
  get size(): number {
    return this.entries.size;
  }

  /** The store's clock. */
  now(): number {
    return this.opts.now();
  }

  /** A fresh random nonce, valid for `ttlMs` (default: the store's) and only for `owner`. */
  issue(owner: object, ttlMs: number = this.opts.ttlMs, nowMs: number = this.opts.now()): Uint8Array {
    this.sweep(nowMs);
    while (this.entries.size >= this.opts.maxEntries) this.dropOldest();
    // 256 random bits: a collision is not a practical concern, but never overwrite one.
    let nonce = randomBytes(NONCE_BYTES);
    while (this.entries.has(toHex(nonce))) nonce = randomBytes(NONCE_BYTES);
    this.entries.set(toHex(nonce), { owner, expiresAt: nowMs + ttlMs, isUsed: false });
    return nonce;
  }

  /**
   * Present `nonce` on behalf of `owner`. Only `ok` uses it up; a nonce of another owner
   * is left alone (its owner may still use it).
   */
  consume(nonce: Uint8Array, owner: object, nowMs: number = this.opts.now()): NonceVerdict {
    if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) return 'unknown';
    const key = toHex(nonce);
    const entry = this.entries.get(key);
    if (entry === undefined) return 'unknown';
    if (entry.isUsed) return 'replay';
    if (entry.owner !== owner) return 'unknown';
    if (nowMs >= entry.expiresAt) {
      this.entries.delete(key);
      return 'expired';
    }
    // Re-insert at the back so the tombstone keeps the map in expiry order.
    this.entries.delete(key);
    this.entries.set(key, { owner, expiresAt: nowMs + this.opts.ttlMs, isUsed: true });
    return 'ok';
  }

  /** Forget an outstanding nonce of `owner` (its connection closed or moved on). Tombstones stay. */
  retire(nonce: Uint8Array, owner: object): void {
    if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) return;
    const key = toHex(nonce);
    const entry = this.entries.get(key);
    if (entry !== undefined && !entry.isUsed && entry.owner === owner) this.entries.delete(key);
  }

  /** Drop expired entries from the front; returns how many went. */
  sweep(nowMs: number = this.opts.now()): number {
    let dropped = 0;
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > nowMs) break;
      this.entries.delete(key);
      dropped++;
    }
    return dropped;
  }

  private dropOldest(): void {
    const first = this.entries.keys().next();
    if (first.done !== true) this.entries.delete(first.value);
  }
}
