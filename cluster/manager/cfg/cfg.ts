import type { EventEmitter } from 'eventemitter3';

/** One key of the config store as it is now. */
export interface CfgEntry {
  /** The key (UTF-8 text; keys sort by their bytes). */
  key: string;
  /** The value; callers choose the encoding (the cluster map is CBOR). Treat it as read-only. */
  value: Uint8Array;
  /** Store revision of the last write to this key. */
  modRev: number;
  /** Store revision at which the key was created; a recreated key gets a new one. */
  createRev: number;
  /** Lease the key is bound to, or null. The key is deleted when the lease ends. */
  lease: string | null;
}

/** A change to a key, as a watch delivers it. */
export type CfgEvent =
  | { type: 'put'; entry: CfgEntry }
  | { type: 'delete'; key: string; modRev: number };

/** Every key under a prefix at one store revision. */
export interface CfgSnapshot {
  /** Entries sorted by key. */
  entries: CfgEntry[];
  /** Store revision the listing is at: later changes have a greater modRev. */
  rev: number;
}

/** Conditions and attachments of a compare-and-set. */
export interface CasOptions {
  /** Bind the written key to this lease. */
  lease?: CfgLease;
  /**
   * The write lands only if `fence.key` exists with this createRev. A leader passes its
   * leadership key, so a deposed leader's late writes are refused (leader fencing).
   */
  fence?: CfgFence;
}

/** Identifies a key incarnation that a write depends on. */
export interface CfgFence {
  /** Key that must exist. */
  key: string;
  /** The createRev that key must have. */
  createRev: number;
}

/** Outcome of a compare-and-set. */
export interface CasResult {
  /** True when the write (or delete) was applied. */
  ok: boolean;
  /**
   * When ok: the store revision of the write (a delete of a missing key leaves the store
   * at its current revision). When not ok: the key's current modRev (0 when missing), so
   * the caller knows what it lost against.
   */
  rev: number;
  /** True when the write was refused because the fence key is gone or was recreated. */
  isFenceBroken: boolean;
}

/** Events of a {@link CfgWatch}. */
export interface CfgWatchEvents {
  /** A change with a modRev greater than every one delivered before. */
  event: (event: CfgEvent) => void;
  /**
   * The requested history is gone (compacted). The snapshot replaces everything the
   * listener knew; the watch goes on with changes after `snapshot.rev`.
   */
  reset: (snapshot: CfgSnapshot) => void;
  /** The connection failed; the watch retries and resumes where it stopped. */
  disconnected: (err: Error) => void;
  /** The watch failed for good and stopped; emitted at most once. */
  error: (err: Error) => void;
}

/** A stream of changes under a prefix. */
export interface CfgWatch extends EventEmitter<CfgWatchEvents> {
  /** The watched prefix. */
  readonly prefix: string;
  /** Greatest revision delivered so far (through an event or a reset). */
  readonly rev: number;
  /** Stop the watch. Idempotent; no event is emitted after it resolves. */
  close(): Promise<void>;
}

/** Events of a {@link CfgLease}. */
export interface CfgLeaseEvents {
  /** The lease expired or could not be refreshed in time; its keys are (or will be) gone. */
  lost: (err: Error) => void;
}

/** A time-limited grant; keys bound to it are deleted when it ends. */
export interface CfgLease extends EventEmitter<CfgLeaseEvents> {
  /** Store-wide id of the lease. */
  readonly id: string;
  /** Granted time to live (a backend may round the requested one up). */
  readonly ttlMs: number;
  /** True once the lease was revoked or lost. */
  readonly isEnded: boolean;
  /** Refresh the lease once. @throws KvError NOT_FOUND when it already expired */
  keepAlive(): Promise<void>;
  /** Refresh every `intervalMs` until revoked, lost or the store is closed. */
  startKeepAlive(intervalMs: number): void;
  /** Stop the periodic refresh started by {@link startKeepAlive}. */
  stopKeepAlive(): void;
  /** End the lease now and delete its keys. Emits no 'lost'. Idempotent. */
  revoke(): Promise<void>;
}

/** Events of a {@link CfgLeadership}. */
export interface CfgLeadershipEvents {
  /** Leadership ended without resign(): the lease ended or the key was deleted. */
  lost: (err: Error) => void;
}

/** Leadership won through {@link Cfg.campaign}. */
export interface CfgLeadership extends EventEmitter<CfgLeadershipEvents> {
  /** The leadership key; use it with `createRev` as a {@link CfgFence}. */
  readonly key: string;
  /** createRev of the leadership key. */
  readonly createRev: number;
  /** The value this participant campaigned with. */
  readonly value: string;
  /** The fence that makes a write depend on this leadership. */
  readonly fence: CfgFence;
  /** True until resigned or lost. */
  readonly isLeader: boolean;
  /** Step down: deletes the leadership key so the next participant leads. Idempotent. */
  resign(): Promise<void>;
}

/**
 * The manager's config store: a small revisioned key-value store with compare-and-set,
 * ordered watches, leases and leader election. Values are bytes; revisions are store-wide
 * and increase with every write.
 */
export interface Cfg {
  /** Which backend this is. */
  readonly kind: 'file' | 'etcd';
  /** The key's current entry, or null. */
  get(key: string): Promise<CfgEntry | null>;
  /** Every key starting with `prefix`, sorted, and the revision the listing is at. */
  list(prefix: string): Promise<CfgSnapshot>;
  /**
   * Write `value` (or delete when value === null) only if the key's modRev equals
   * `expectRev` (0 = the key must not exist) and the fence, if given, holds.
   */
  cas(key: string, value: Uint8Array | null, expectRev: number, opts?: CasOptions): Promise<CasResult>;
  /** Write unconditionally; resolves to the new modRev. */
  put(key: string, value: Uint8Array, opts?: { lease?: CfgLease }): Promise<number>;
  /** Delete unconditionally (a missing key is fine). */
  delete(key: string): Promise<void>;
  /**
   * Changes to keys under `prefix` with modRev > fromRev, in revision order. When fromRev
   * is older than the retained history, the watch emits 'reset' with the current listing
   * instead of resuming: the listener must replace its state.
   */
  watch(prefix: string, fromRev: number): CfgWatch;
  /** Drop history at and before `rev`; watches from older revisions then get a 'reset'. */
  compact(rev: number): Promise<void>;
  /** Grant a lease of at least `ttlMs`. */
  grantLease(ttlMs: number): Promise<CfgLease>;
  /**
   * Join the election `name`; resolves when this participant leads. Participants lead in
   * the order they joined. Rejects when the lease ends or the store closes first.
   */
  campaign(name: string, value: string, lease: CfgLease): Promise<CfgLeadership>;
  /** The current leader's value in election `name`, or null when nobody leads. */
  leader(name: string): Promise<string | null>;
  /** Stop watches, keep-alives and timers and release the connection. Idempotent. */
  close(): Promise<void>;
}
