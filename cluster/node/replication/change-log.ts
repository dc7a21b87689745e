import { recordBytes, type ReplRecord } from './records.js';
import { xxh64 } from '../../../shared/xxh64.js';

/** A record as the replication stream sends it. */
export type LogRecord = ReplRecord;

interface UnitLog {
  /** Seqno just before the first record kept. */
  base: number;
  /**
   * What is known of the record at `base`: the record itself (evicted last), its
   * fingerprint (the unit was copied from a snapshot cut there), or nothing.
   */
  anchor: LogRecord | string | null;
  records: LogRecord[];
  /** Index of the first live record in `records` (evicted ones are skipped, then compacted). */
  head: number;
  /**
   * Seqno of the last record restored from the disk's history (0: none): records up to it
   * know their key and fingerprint but not their value, so they prove points and can be
   * rolled back, but `since` never returns them (restored-delta.ts fills them from the engine).
   */
  restoredUpTo: number;
}

/** Fingerprints of restored records (their values are not known, so they cannot be computed). */
const restoredPrints = new WeakMap<LogRecord, string>();

/**
 * The recent replication records of every unit a node holds, in seqno order, bounded in
 * bytes: what lets a node that comes back after a failover catch up with only the
 * changes it missed (delta recovery) instead of a full copy. A unit's log is always
 * contiguous; a jump in seqnos starts it again.
 */
export class ChangeLog {
  private readonly units = new Map<number, UnitLog>();
  /** Eviction order: one unit number per record appended. */
  private order: number[] = [];
  private orderHead = 0;
  private sizeBytes = 0;

  constructor(private readonly maxBytes = 32 * 1024 * 1024) {}

  get bytes(): number {
    return this.sizeBytes;
  }

  /** Record `r` (its unit's next seqno, or a fresh start after a jump). */
  append(r: LogRecord): void {
    if (this.maxBytes <= 0) return;
    const unit = r[0];
    let log = this.units.get(unit);
    if (log === undefined || r[1] !== log.base + (log.records.length - log.head) + 1) {
      if (log !== undefined) this.drop(unit);
      log = { base: r[1] - 1, anchor: null, records: [], head: 0, restoredUpTo: 0 };
      this.units.set(unit, log);
    }
    log.records.push(r);
    this.sizeBytes += recordBytes(r);
    this.order.push(unit);
    while (this.sizeBytes > this.maxBytes && this.orderHead < this.order.length) this.evictOne();
  }

  /**
   * The records after `since` up to the unit's last one, when the log still holds all of
   * them; null when it does not (the caller then copies the unit in full).
   */
  since(unit: number, since: number, current: number): LogRecord[] | null {
    const log = this.units.get(unit);
    if (log !== undefined && since < log.restoredUpTo) return null;
    return this.sinceThroughRestored(unit, since, current);
  }

  /**
   * Like `since`, but also through records restored from the disk's history (which know
   * their key and fingerprint, not their value: `isRestored`); the caller fills those from
   * the engine (restored-delta.ts). Null when the log does not hold every record after `since`.
   */
  sinceThroughRestored(unit: number, since: number, current: number): LogRecord[] | null {
    const log = this.units.get(unit);
    if (log === undefined) return since === current ? [] : null;
    const last = log.base + (log.records.length - log.head);
    if (last !== current || since < log.base || since > last) return null;
    return log.records.slice(log.head + (since - log.base));
  }

  /** True for a record restored from the disk's history: its value is not known here. */
  isRestored(r: LogRecord): boolean {
    return restoredPrints.has(r);
  }

  /**
   * The unit was copied from a snapshot at seqno `seq` whose record there has fingerprint
   * `print` (null when the source did not know it): its history starts again there.
   */
  anchor(unit: number, seq: number, print: string | null): void {
    this.drop(unit);
    if (this.maxBytes <= 0) return;
    this.units.set(unit, { base: seq, anchor: print, records: [], head: 0, restoredUpTo: 0 });
  }

  /**
   * The unit's history as the disk kept it (unit-history.ts): `history[0]` is the point it
   * starts from, then one entry per record up to `seq`, each with its fingerprint and key.
   * False (and nothing changes) when it does not run whole up to `seq`.
   */
  restore(unit: number, history: ReadonlyArray<[number, string | null, Uint8Array | null]>, seq: number): boolean {
    if (this.maxBytes <= 0 || history.length < 2 || history[history.length - 1]![0] !== seq) return false;
    const [base, anchor] = history[0]!;
    const records: LogRecord[] = [];
    for (let i = 1; i < history.length; i++) {
      const [at, print, key] = history[i]!;
      if (at !== base + i || print === null || key === null) return false;
      const r: LogRecord = [unit, at, key, null, 0, 0];
      restoredPrints.set(r, print);
      records.push(r);
    }
    this.drop(unit);
    this.units.set(unit, { base, anchor, records, head: 0, restoredUpTo: seq });
    for (const r of records) {
      this.sizeBytes += recordBytes(r);
      this.order.push(unit);
    }
    while (this.sizeBytes > this.maxBytes && this.orderHead < this.order.length) this.evictOne();
    return true;
  }

  /** A record's fingerprint (kept for a restored record, computed for any other). */
  printOf(r: LogRecord): string {
    return restoredPrints.get(r) ?? fingerprint(r);
  }

  /** The fingerprint of the unit's record at `seq`, when the log knows it. */
  printAt(unit: number, seq: number): string | null {
    const log = this.units.get(unit);
    if (log === undefined || seq < log.base) return null;
    if (seq === log.base) return typeof log.anchor === 'string' || log.anchor === null ? log.anchor : this.printOf(log.anchor);
    const at = log.head + (seq - log.base) - 1;
    return at < log.records.length ? this.printOf(log.records[at]!) : null;
  }

  /**
   * Earlier points of the unit's history this log can prove, newest first: the `dense`
   * seqnos before `seq`, then ever further back (`seq − 16, seq − 32, …`) down to the
   * oldest one it knows, each with the fingerprint of its record there. A copy whose last
   * records the active does not have offers them, so the active can name the newest point
   * the two histories share.
   */
  earlierPoints(unit: number, seq: number, dense = 8, max = 24): Array<[number, string]> {
    const log = this.units.get(unit);
    if (log === undefined) return [];
    const out: Array<[number, string]> = [];
    for (let back = 1; out.length < max && seq - back >= log.base; back = back < dense ? back + 1 : back * 2) {
      const print = this.printAt(unit, seq - back);
      if (print !== null) out.push([seq - back, print]);
    }
    // And the oldest point it can prove: the anchor, or else its first record.
    const last = out.length > 0 ? out[out.length - 1]![0] : seq;
    for (const at of [log.base, log.base + 1]) {
      if (out.length >= max || at >= last) break;
      const print = this.printAt(unit, at);
      if (print !== null) {
        out.push([at, print]);
        break;
      }
    }
    return out;
  }

  /**
   * Roll the unit's history back to seqno `at`: the records after it are removed and
   * returned (null when the log does not reach back to `at`, and nothing changes).
   */
  truncate(unit: number, at: number): LogRecord[] | null {
    const log = this.units.get(unit);
    if (log === undefined || at < log.base) return null;
    const last = log.base + (log.records.length - log.head);
    if (at > last) return null;
    const cut = log.head + (at - log.base);
    const removed = log.records.splice(cut);
    if (log.restoredUpTo > at) log.restoredUpTo = at;
    for (const r of removed) this.sizeBytes -= recordBytes(r);
    return removed;
  }

  /** Forget a unit (its data was purged, or copied in full). */
  drop(unit: number): void {
    const log = this.units.get(unit);
    if (log === undefined) return;
    for (let i = log.head; i < log.records.length; i++) this.sizeBytes -= recordBytes(log.records[i]!);
    this.units.delete(unit);
  }

  private evictOne(): void {
    const unit = this.order[this.orderHead++]!;
    if (this.orderHead > 4096 && this.orderHead * 2 > this.order.length) {
      this.order = this.order.slice(this.orderHead);
      this.orderHead = 0;
    }
    const log = this.units.get(unit);
    if (log === undefined || log.head >= log.records.length) return;
    this.sizeBytes -= recordBytes(log.records[log.head]!);
    log.anchor = log.records[log.head]!;
    log.records[log.head] = undefined as unknown as LogRecord;
    log.head++;
    log.base++;
    if (log.head > 64 && log.head * 2 > log.records.length) {
      log.records = log.records.slice(log.head);
      log.head = 0;
    }
  }
}

/**
 * Identifies a record. Records are applied in seqno order, so two copies holding the same
 * record at a unit's seqno S hold the same state of the unit up to S.
 */
export function fingerprint(r: LogRecord): string {
  const head = Buffer.alloc(13);
  head[0] = r[3] === null ? 0 : 1;
  head.writeUInt32LE(r[2].length, 1);
  head.writeUInt32LE(r[4] >>> 0, 5);
  head.writeUInt32LE(r[5] >>> 0, 9);
  return xxh64(Buffer.concat([head, r[2], r[3] ?? Buffer.alloc(0)])).toString(16);
}
