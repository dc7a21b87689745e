import { KvError } from '../../../shared/errors.js';
import type { CasResult, CfgEntry, CfgEvent, CfgFence, CfgSnapshot } from './cfg.js';

/** A lease as the file store keeps it. Deadlines live in memory only. */
export interface StoredLease {
  id: string;
  ttlMs: number;
}

/** Byte order of UTF-8 keys, the order etcd sorts in. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The revision of an event. */
export function eventRev(event: CfgEvent): number {
  return event.type === 'put' ? event.entry.modRev : event.modRev;
}

/** The key of an event. */
export function eventKey(event: CfgEvent): string {
  return event.type === 'put' ? event.entry.key : event.key;
}

/**
 * The whole state of the file store and the pure operations on it. Writes go to a
 * clone (the draft); the caller persists the draft and only then makes it current, so the
 * state readers see is always one that is on disk.
 */
export class FileState {
  /** Revision of the last write. */
  rev = 0;
  /** History holds every event with modRev > compactRev. */
  compactRev = 0;
  /** Next lease id to hand out. */
  nextLeaseId = 1;
  readonly entries = new Map<string, CfgEntry>();
  readonly leases = new Map<string, StoredLease>();
  /** Recent events, oldest first. */
  history: CfgEvent[] = [];
  /** Events produced on this draft since it was cloned. */
  pending: CfgEvent[] = [];

  /** A copy to apply writes to; entries are immutable and shared. */
  clone(): FileState {
    const copy = new FileState();
    copy.rev = this.rev;
    copy.compactRev = this.compactRev;
    copy.nextLeaseId = this.nextLeaseId;
    for (const [k, v] of this.entries) copy.entries.set(k, v);
    for (const [k, v] of this.leases) copy.leases.set(k, v);
    copy.history = this.history.slice();
    return copy;
  }

  /** Entries under `prefix`, sorted, at the current revision. */
  snapshot(prefix: string): CfgSnapshot {
    const entries: CfgEntry[] = [];
    for (const entry of this.entries.values()) {
      if (entry.key.startsWith(prefix)) entries.push(entry);
    }
    entries.sort((a, b) => compareKeys(a.key, b.key));
    return { entries, rev: this.rev };
  }

  /** Events under `prefix` with modRev > fromRev, or null when that history is gone. */
  eventsSince(prefix: string, fromRev: number): CfgEvent[] | null {
    if (fromRev < this.compactRev) return null;
    return this.history.filter((e) => eventRev(e) > fromRev && eventKey(e).startsWith(prefix));
  }

  /** Write `value` to `key`; returns the new modRev. */
  put(key: string, value: Uint8Array, leaseId: string | null): number {
    this.checkLease(leaseId);
    const rev = this.rev + 1;
    const old = this.entries.get(key);
    // Keep a private copy: a caller reusing its buffer must not change stored state.
    const entry: CfgEntry = { key, value: new Uint8Array(value), modRev: rev, createRev: old?.createRev ?? rev, lease: leaseId };
    this.entries.set(key, entry);
    this.rev = rev;
    this.pending.push({ type: 'put', entry });
    return rev;
  }

  /** Delete `key`; returns false when it did not exist. */
  delete(key: string): boolean {
    if (!this.entries.has(key)) return false;
    this.rev += 1;
    this.entries.delete(key);
    this.pending.push({ type: 'delete', key, modRev: this.rev });
    return true;
  }

  /** Compare-and-set; see {@link Cfg.cas}. */
  cas(key: string, value: Uint8Array | null, expectRev: number, fence: CfgFence | undefined, leaseId: string | null): CasResult {
    const current = this.entries.get(key)?.modRev ?? 0;
    if (fence !== undefined && this.entries.get(fence.key)?.createRev !== fence.createRev) {
      return { ok: false, rev: current, isFenceBroken: true };
    }
    if (current !== expectRev) return { ok: false, rev: current, isFenceBroken: false };
    if (value === null) {
      this.delete(key);
      return { ok: true, rev: this.rev, isFenceBroken: false };
    }
    return { ok: true, rev: this.put(key, value, leaseId), isFenceBroken: false };
  }

  /** Record a new lease. */
  grantLease(ttlMs: number): StoredLease {
    const lease: StoredLease = { id: String(this.nextLeaseId++), ttlMs };
    this.leases.set(lease.id, lease);
    return lease;
  }

  /**
   * End a lease and delete its keys, all at one revision as etcd does. Returns false when
   * the lease was already gone.
   */
  endLease(id: string): boolean {
    if (!this.leases.delete(id)) return false;
    const doomed = [...this.entries.values()].filter((e) => e.lease === id).map((e) => e.key);
    if (doomed.length === 0) return true;
    this.rev += 1;
    for (const key of doomed.sort(compareKeys)) {
      this.entries.delete(key);
      this.pending.push({ type: 'delete', key, modRev: this.rev });
    }
    return true;
  }

  /** Forget history at and before `rev` (bounded by the current revision). */
  compact(rev: number): void {
    const upTo = Math.min(rev, this.rev);
    if (upTo <= this.compactRev) return;
    this.history = this.history.filter((e) => eventRev(e) > upTo);
    this.compactRev = upTo;
  }

  /**
   * Move pending events into the history and trim it to at most `limit` events, dropping
   * whole revisions so no revision is ever half in the history.
   */
  seal(limit: number): CfgEvent[] {
    const events = this.pending;
    this.pending = [];
    this.history.push(...events);
    if (this.history.length > limit) {
      let cut = this.history.length - limit;
      const lastDropped = eventRev(this.history[cut - 1]!);
      while (cut < this.history.length && eventRev(this.history[cut]!) === lastDropped) cut++;
      this.history = this.history.slice(cut);
      this.compactRev = Math.max(this.compactRev, lastDropped);
    }
    return events;
  }

  private checkLease(leaseId: string | null): void {
    if (leaseId !== null && !this.leases.has(leaseId)) {
      throw KvError.notFound(`lease ${leaseId} has expired or was revoked`);
    }
  }
}
