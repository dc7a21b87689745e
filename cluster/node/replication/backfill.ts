import { KvError } from '../../../shared/errors.js';
import { backoffDelay } from '../../../shared/backoff.js';
import { bucketOfBinary } from '../../../shared/keystream.js';
import { chainOf, unitGridRanges, unitOf, type ClusterMap } from '../../../shared/cluster-map.js';
import type { PeerPlane } from '../../peer/index.js';
import { INDEX_BUCKET_BITS, type KvEngine } from '../engine/types.js';
import { clearUnits } from './clear-units.js';
import type { ChangeLog, LogRecord } from './change-log.js';
import { isRecord, isUint, recordBytes, type ReplicationCounters } from './records.js';
import { DELTA_VISITS_PER_PULL, deltaSince, type DeltaFromLog, type VisitBudget } from './restored-delta.js';
import type { ReplicationOptions } from './options.js';
import type { PullRequest, PullResponse, ValuesRequest } from './backfill-messages.js';
import { forgetStreamed, newBackfill, type Backfill } from './backfill-marks.js';

/**
 * Backfill, both sides: serving pages of a snapshot of units (with a delta instead when
 * the requester's history matches, see change-log.ts), and copying units from a source
 * while the replication stream keeps flowing. Split out of replicator.ts, which owns the
 * stream, the seqnos and the change log this reads and writes through `BackfillHost`.
 */

/** What the backfill needs from the replicator. */
export interface BackfillHost {
  readonly map: ClusterMap | null;
  readonly self: number;
  readonly isClosed: boolean;
  /** Last seqno per unit. */
  readonly seqs: Map<number, number>;
  readonly changes: ChangeLog;
  readonly counters: ReplicationCounters;
  apply(key: string, value: Uint8Array | null, flags: number, expAt: number): void;
  /** A backfill ended: copied, or given up because the units or the source left the map. */
  onBackfillEnded(units: number[]): void;
  /**
   * Units this node held data for are dropped and copied in full from `source`: their
   * history differs from the active's (a failover took place without them), so what they
   * held past the common point is discarded.
   */
  onRollback?(source: string, units: number[], how: 'delta' | 'copy', discarded: number): void;
}

export class Backfiller {
  /** Backfills under way, by unit. */
  readonly active = new Map<number, Backfill>();
  /** Units whose seqnos were forgotten while their items may still be here (a purge is under way). */
  readonly residue = new Set<number>();
  /**
   * Items of units without a seqno may be here (a node back from its disk after a crash
   * during a copy or a purge): every unit copied in full is cleared first, once.
   */
  isClearingUnmarked = false;
  private readonly clearedUnmarked = new Set<number>();
  /** Backfills waiting to retry, by source: a link coming up ends the wait. */
  private readonly waiting = new Map<string, Set<() => void>>();
  /** Backfill pages wait here for their turn (see pageTurn). */
  private pageQueue: Promise<void> = Promise.resolve();

  constructor(
    private readonly host: BackfillHost,
    private readonly engine: KvEngine,
    private readonly plane: PeerPlane,
    private readonly options: ReplicationOptions,
  ) {}

  /** Serve a page of a snapshot of `units`, with the seqno the unit had when the page was cut. */
  serve(peer: string, req: PullRequest): unknown {
    const units = Array.isArray(req.units) ? req.units.filter(isUint) : [];
    const map = this.host.map;
    if (map === null || units.length === 0) throw KvError.badRequest('pull needs units and a map');
    // The snapshot must not be cut before this node streams the unit to the requester:
    // writes between the cut and this node adopting the map that adds the requester would
    // reach it by neither path. Until then the requester retries.
    const requester = map.nodes.findIndex((n) => n.peerKey === peer);
    const perUnit = 2 ** (map.bits - map.unitBits);
    if (requester < 0 || units.some((u) => !chainOf(map, u * perUnit).includes(requester))) {
      throw KvError.unavailable('this node does not stream these units to the requester yet', { isSafeToRetry: true });
    }
    const wanted = new Set(units);
    // A cursor in the bucket index's order is of no use to an engine without one (a node
    // started again with another engine): such a copy starts over.
    const isBucketOrder = req.order === 'bucket';
    const canUseIndex = this.engine.hasBucketIndex && map.unitBits <= INDEX_BUCKET_BITS;
    const cursor = req.after instanceof Uint8Array ? Buffer.from(req.after).toString('latin1') : null;
    const after = isBucketOrder && !canUseIndex ? null : cursor;
    const limit = Math.min(isUint(req.limit) ? req.limit : this.options.backfillPageItems, 4096);
    // Each unit's seqno, with the fingerprint of its record there: a copy's history starts at it.
    const seqs = units.map((u) => {
      const seq = this.host.seqs.get(u) ?? 0;
      return [u, seq, this.host.changes.printAt(u, seq) ?? ''];
    });
    // Delta recovery: a requester that holds a unit up to seqno S, with the same record at S
    // as this node, gets only the records after S.
    const delta: LogRecord[] = [];
    const deltaUnits: number[] = [];
    const rewound: Array<[number, number]> = [];
    if (after === null && Array.isArray(req.since)) {
      let budget = this.options.maxDeltaBytes;
      const visits: VisitBudget = { left: DELTA_VISITS_PER_PULL };
      for (const offer of req.since.slice(0, units.length)) {
        if (!Array.isArray(offer) || !isUint(offer[0]) || !isUint(offer[1]) || offer[1] === 0 || typeof offer[2] !== 'string' || !wanted.has(offer[0])) continue;
        const [unit, since, print] = offer as [number, number, string];
        const point = this.commonPoint(unit, since, print, offer[3], budget, visits);
        if (point === null) continue;
        let bytes = 0;
        for (const r of point.records) bytes += recordBytes(r);
        if (bytes > budget) continue;
        budget -= bytes;
        for (const r of point.records) delta.push(r);
        deltaUnits.push(unit);
        if (point.isRestored) this.host.counters.deltaRestoredUnits++;
        if (point.at !== since) rewound.push([unit, point.at]);
        wanted.delete(unit);
      }
    }
    // With a bucket index only the wanted units' keys are read, in the index's order.
    const isIndexed = canUseIndex && (after === null || isBucketOrder);
    const budget = this.options.backfillPageBudget;
    const page = wanted.size === 0
      ? { items: [], next: null }
      : isIndexed
        ? this.engine.bucketPage(unitGridRanges(wanted, map.unitBits, INDEX_BUCKET_BITS)!, after, limit, budget)!
        : this.engine.page(after, limit, budget, (key) => wanted.has(unitOf(map, bucketOfBinary(key, map.bits))));
    return {
      items: page.items.map((it) => [Buffer.from(it.key, 'latin1'), it.value, it.flags, it.expAt]),
      next: page.next === null ? null : Buffer.from(page.next, 'latin1'),
      ...(isIndexed && page.next !== null ? { order: 'bucket' } : {}),
      seqs,
      ...(deltaUnits.length === 0 ? {} : { delta, deltaUnits }),
      ...(rewound.length === 0 ? {} : { rewound }),
    };
  }

  /**
   * The newest point of `unit`'s history this node shares with a requester that offers
   * its last record (`since`, `print`) and, when that is not here, `earlier` points
   * `[[seqno, fingerprint], …]`; with the records after it. Null when none is provable
   * from this node's change log (the requester then takes a full copy).
   */
  private commonPoint(unit: number, since: number, print: string, earlier: unknown, maxBytes: number, visits: VisitBudget): ({ at: number } & DeltaFromLog) | null {
    const current = this.host.seqs.get(unit) ?? 0;
    const tryAt = (at: number, p: string): DeltaFromLog | null => {
      if (this.host.changes.printAt(unit, at) !== p) return null;
      return deltaSince(this.host.changes, (key) => this.engine.peek(key), unit, at, current, maxBytes, visits);
    };
    const exact = tryAt(since, print);
    if (exact !== null) return { at: since, ...exact };
    if (!Array.isArray(earlier)) return null;
    for (const point of earlier.slice(0, 64)) {
      if (!Array.isArray(point) || !isUint(point[0]) || typeof point[1] !== 'string' || point[0] === 0 || point[0] >= since) continue;
      const delta = tryAt(point[0], point[1]);
      if (delta !== null) return { at: point[0], ...delta };
    }
    return null;
  }

  /**
   * A requester rolling a unit back to a point both histories share asks for the values
   * this node holds now of the keys it had written after that point (and this node has
   * not written since): `[key, value | null, flags, expAt]` each.
   */
  serveValues(peer: string, req: ValuesRequest): unknown {
    const map = this.host.map;
    const keys = Array.isArray(req.keys) ? req.keys.filter((k): k is Uint8Array => k instanceof Uint8Array) : [];
    if (map === null || keys.length === 0 || keys.length > 65_536) throw KvError.badRequest('vals needs 1 to 65536 keys and a map');
    const requester = map.nodes.findIndex((n) => n.peerKey === peer);
    const perUnit = 2 ** (map.bits - map.unitBits);
    const items: unknown[] = [];
    for (const k of keys) {
      const key = Buffer.from(k).toString('latin1');
      const unit = unitOf(map, bucketOfBinary(key, map.bits));
      if (requester < 0 || !chainOf(map, unit * perUnit).includes(requester)) {
        throw KvError.unavailable('this node does not stream these units to the requester', { isSafeToRetry: true });
      }
      const item = this.engine.peek(key);
      items.push(item === null ? [k, null, 0, 0] : [k, item.value, item.flags, item.expAt]);
    }
    return { items };
  }

  /**
   * Copy `units` from `source` page by page while the stream keeps flowing. A failed copy
   * (the link is not up yet, the source is busy) starts again with backoff for as long as
   * this node holds the units and the source is in the map: the manager switches a move
   * only once no backfill is under way, so giving up early would lose the data.
   */
  async start(source: string, units: number[]): Promise<void> {
    const todo = units.filter((u) => !this.active.has(u));
    if (todo.length === 0) return;
    for (const u of todo) this.active.set(u, newBackfill(source));
    this.host.counters.backfills++;
    try {
      for (let attempt = 0; ; attempt++) {
        if (this.host.isClosed) return;
        const still = todo.filter((u) => this.holdsUnit(u));
        if (still.length === 0 || !this.isPeerInMap(source)) return;
        if (attempt > 0 && this.host.map !== null) forgetStreamed(this.active, this.host.map, source, still);
        try {
          await this.copyUnits(source, still);
          return;
        } catch {
          this.host.counters.backfillRetries++;
          await this.retryDelay(source, backoffDelay(this.options.backfillRetryBackoffMs, attempt));
        }
      }
    } finally {
      for (const u of todo) if (this.active.get(u)?.source === source) this.active.delete(u);
      // Done or given up (the units moved on): either way the manager may be waiting on it.
      this.host.onBackfillEnded(todo);
    }
  }

  /** The link to `peer` is up: backfills from it that wait to retry go now. */
  onPeerUp(peer: string): void {
    const wakers = this.waiting.get(peer);
    if (wakers === undefined) return;
    this.waiting.delete(peer);
    for (const wake of wakers) wake();
  }

  /** Wait `ms` before retrying a copy from `source`, or less if its link comes up. */
  private retryDelay(source: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wakers = this.waiting.get(source) ?? new Set<() => void>();
      this.waiting.set(source, wakers);
      const wake = (): void => {
        clearTimeout(timer);
        wakers.delete(wake);
        if (wakers.size === 0 && this.waiting.get(source) === wakers) this.waiting.delete(source);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      wakers.add(wake);
    });
  }

  private async copyUnits(source: string, all: number[]): Promise<void> {
    let after: Uint8Array | null = null;
    let order: string | null = null;
    let startSeqs: Array<[number, number, string]> | null = null;
    let units = all;
    let rewoundUnits = new Set<number>();
    // Units this node has history for: offer the last record of each, so the source can
    // send only what came after it.
    // Earlier points too: if this node holds records the source does not have (it was the
    // active and was failed over), the source names the newest point both share and this
    // node rolls back to it (Couchbase's failover-log rollback, Kafka's truncation).
    const since: Array<[number, number, string, Array<[number, string]>]> = [];
    // Units this node held data for when the copy began (seqnos the stream sets meanwhile
    // prove nothing); those with writes in their history are rollbacks if copied in full.
    const hadSeq = new Set(all.filter((u) => this.host.seqs.has(u)));
    const hadHistory = new Set(all.filter((u) => (this.host.seqs.get(u) ?? 0) > 0));
    for (const u of all) {
      const seq = this.host.seqs.get(u) ?? 0;
      const print = seq > 0 ? this.host.changes.printAt(u, seq) : null;
      if (print !== null) since.push([u, seq, print, this.host.changes.earlierPoints(u, seq)]);
    }
    for (;;) {
      if (this.host.isClosed) return;
      // One page at a time per node, paced: copies yield to client requests.
      const done = await this.pageTurn();
      let pageBytes = 0;
      try {
        const res = await this.plane.request(source, {
          t: 'pull', units, after, limit: this.options.backfillPageItems, ...(after === null && since.length > 0 ? { since } : {}), ...(order === null ? {} : { order }),
        }, 10_000) as PullResponse;
        if (units.some((u) => this.active.get(u)?.isTorn === true)) throw KvError.unavailable('the stream skipped records during the copy: it starts over');
        if (startSeqs === null) {
          startSeqs = Array.isArray(res.seqs) ? res.seqs.filter((p): p is [number, number, string] => Array.isArray(p) && isUint(p[0]) && isUint(p[1])) : [];
          const deltaUnits = new Set(Array.isArray(res.deltaUnits) ? res.deltaUnits.filter((u): u is number => isUint(u) && units.includes(u)) : []);
          const rollback = this.rollBack(deltaUnits, res.rewound, since);
          const records = Array.isArray(res.delta) ? res.delta : [];
          const deltaKeys = new Set<string>();
          for (const r of records) {
            if (!isRecord(r) || !deltaUnits.has(r[0])) continue;
            const key = Buffer.from(r[2]).toString('latin1');
            // The stream is newer than any delta record of a key it wrote meanwhile.
            if (this.active.get(r[0])?.touched.has(key) !== true) this.host.apply(key, r[3], r[4], r[5]);
            this.host.changes.append(r);
            deltaKeys.add(key);
            this.host.counters.deltaRecords++;
          }
          this.host.counters.deltaUnits += deltaUnits.size;
          if (rollback !== null) {
            rewoundUnits = new Set(rollback.units);
            await this.repair(source, rollback, deltaKeys);
          }
          // Units copied in full over data of their own: that data may hold writes the
          // cluster lost in a failover, or keys deleted since, so it goes first.
          const full = units.filter((u) => !deltaUnits.has(u));
          const stale = new Set(full.filter((u) => hadSeq.has(u) || this.residue.has(u) || (this.isClearingUnmarked && !this.clearedUnmarked.has(u))));
          for (const u of stale) this.clearedUnmarked.add(u);
          if (stale.size > 0) {
            this.host.counters.fullResyncs += stale.size;
            // A rollback when the unit had a history here; else leftovers of a purge are cleared.
            const diverged = [...stale].filter((u) => hadHistory.has(u));
            if (diverged.length > 0) this.host.onRollback?.(source, diverged, 'copy', 0);
            await clearUnits(this.engine, stale, {
              map: () => (this.host.isClosed ? null : this.host.map),
              isKept: (unit, key) => this.active.get(unit)?.touched.has(key) === true,
            });
            // Cleared once: a retry of this copy needs no second pass (the stream keeps the
            // keys it writes meanwhile, deletes included). The unit's history goes with
            // its data: offered by a retry, it could buy a delta that skips what was cleared.
            for (const u of stale) {
              this.residue.delete(u);
              this.host.seqs.delete(u);
              this.host.changes.drop(u);
            }
          }
          units = full;
          if (units.length === 0) break;
        }
        for (const it of Array.isArray(res.items) ? res.items : []) {
          if (!Array.isArray(it) || !(it[0] instanceof Uint8Array) || !(it[1] instanceof Uint8Array)) continue;
          pageBytes += it[0].length + it[1].length;
          const key = Buffer.from(it[0]).toString('latin1');
          const map = this.host.map;
          const unit = map === null ? -1 : unitOf(map, bucketOfBinary(key, map.bits));
          if (this.active.get(unit)?.touched.has(key) === true) continue;
          this.host.apply(key, it[1], isUint(it[2]) ? it[2] : 0, isUint(it[3]) ? it[3] : 0);
          this.host.counters.backfillItems++;
          this.host.counters.backfillBytes += it[0].length + it[1].length;
        }
        if (!(res.next instanceof Uint8Array)) break;
        after = res.next;
        // The source's cursor is a key, or (`order: 'bucket'`) a place in its bucket index.
        order = res.order === 'bucket' ? 'bucket' : null;
      } finally {
        done(pageBytes);
      }
    }
    // The unit now follows the source's numbering, whatever this node had before. A full
    // copy's history starts at the snapshot; the stream's records since then continue it.
    for (const [unit, seq, print] of startSeqs ?? []) {
      if (!all.includes(unit)) continue;
      const fill = this.active.get(unit);
      const isFull = units.includes(unit);
      if (isFull) this.host.changes.anchor(unit, seq, typeof print === 'string' && print !== '' ? print : null);
      for (const r of fill?.records ?? []) if (r[1] > seq) this.host.changes.append(r);
      const isRewound = rewoundUnits.has(unit);
      this.host.seqs.set(unit, Math.max(seq, fill?.streamed ?? 0, isFull || isRewound ? 0 : this.host.seqs.get(unit) ?? 0));
    }
  }

  /**
   * Units the source sends a delta for from an earlier point than this node's last record:
   * this node holds records the unit's active does not have (it was failed over, or cut
   * off). Its history after that point is discarded: the records leave the change log and
   * the keys they wrote leave the engine (keys the stream wrote meanwhile stay), to be
   * filled again from the source by `repair`. Null when no unit is rewound.
   */
  private rollBack(deltaUnits: Set<number>, raw: unknown, offers: ReadonlyArray<[number, number, string, Array<[number, string]>]>): Rollback | null {
    if (!Array.isArray(raw)) return null;
    const offered = new Map(offers.map((o) => [o[0], o]));
    const out: Rollback = { units: [], keys: new Set(), discarded: 0 };
    for (const point of raw) {
      if (!Array.isArray(point) || !isUint(point[0]) || !isUint(point[1])) continue;
      const [unit, at] = point as [number, number];
      const offer = offered.get(unit);
      // Only to a point this node offered: a source cannot make it drop more than that.
      const removed = deltaUnits.has(unit) && offer !== undefined && offer[3].some((p) => p[0] === at) ? this.host.changes.truncate(unit, at) : null;
      if (removed === null) {
        // Not a point this node offered: its history of the unit is no use; copy it in full.
        for (const u of [unit, ...out.units]) {
          this.residue.add(u);
          this.host.seqs.delete(u);
          this.host.changes.drop(u);
        }
        throw KvError.badRequest(`the source rewound unit ${unit} to a point not offered`);
      }
      const fill = this.active.get(unit);
      for (const r of removed) {
        const key = Buffer.from(r[2]).toString('latin1');
        out.keys.add(key);
        if (fill?.touched.has(key) !== true) this.host.apply(key, null, 0, 0);
      }
      // Until the repair is done this unit's seqno proves nothing: without one, a copy that
      // fails from here on is a full one, and so is a disk node's after a crash meanwhile
      // (its items of a unit without a seqno are cleared first).
      this.host.seqs.delete(unit);
      this.residue.add(unit);
      out.units.push(unit);
      out.discarded += removed.length;
    }
    if (out.units.length === 0) return null;
    this.host.counters.rollbackUnits += out.units.length;
    this.host.counters.rollbackRecords += out.discarded;
    return out;
  }

  /**
   * Fill the keys a rollback removed, except those the delta or the stream wrote since,
   * with the source's values now. Should it fail, the rolled-back units are copied in full.
   */
  private async repair(source: string, rollback: Rollback, written: ReadonlySet<string>): Promise<void> {
    const wanted = [...rollback.keys].filter((k) => !written.has(k));
    try {
      for (let i = 0; i < wanted.length; i += 4096) {
        const slice = wanted.slice(i, i + 4096);
        const res = await this.plane.request(source, { t: 'vals', keys: slice.map((k) => Buffer.from(k, 'latin1')) }, 10_000) as { items?: unknown };
        for (const it of Array.isArray(res.items) ? res.items : []) {
          if (!Array.isArray(it) || !(it[0] instanceof Uint8Array) || !(it[1] === null || it[1] instanceof Uint8Array)) continue;
          const key = Buffer.from(it[0]).toString('latin1');
          const map = this.host.map;
          const unit = map === null ? -1 : unitOf(map, bucketOfBinary(key, map.bits));
          if (!rollback.keys.has(key) || this.active.get(unit)?.touched.has(key) === true) continue;
          this.host.apply(key, it[1], isUint(it[2]) ? it[2] : 0, isUint(it[3]) ? it[3] : 0);
        }
      }
    } catch (err) {
      for (const u of rollback.units) {
        this.residue.add(u);
        this.host.seqs.delete(u);
        this.host.changes.drop(u);
      }
      throw err;
    }
    for (const u of rollback.units) this.residue.delete(u);
    this.host.onRollback?.(source, rollback.units, 'delta', rollback.discarded);
  }

  /**
   * Wait for this node's turn to copy a page; call the returned function with the page's
   * bytes once it is applied. Pages of all backfills go one at a time, and after each the
   * next waits `backfillPace` times as long as that page took, so copying takes at most
   * 1 / (1 + backfillPace) of the node's time and client requests keep their latency;
   * with `backfillBytesPerSec`, also as long as the page's bytes take at that rate.
   */
  private async pageTurn(): Promise<(bytes: number) => void> {
    const previous = this.pageQueue;
    let release!: () => void;
    this.pageQueue = new Promise<void>((resolve) => { release = resolve; });
    await previous;
    const started = performance.now();
    return (bytes) => {
      const took = performance.now() - started;
      const rate = this.options.backfillBytesPerSec;
      const paced = Math.min(took * this.options.backfillPace, 1000);
      const paid = rate > 0 ? (bytes / rate) * 1000 - took : 0;
      const pause = Math.max(paced, paid);
      if (pause >= 1 && !this.host.isClosed) setTimeout(release, pause);
      else release();
    };
  }

  /** True when this node is in `unit`'s chain in its current map. */
  private holdsUnit(unit: number): boolean {
    const map = this.host.map;
    if (map === null || this.host.self < 0) return false;
    return chainOf(map, unit * 2 ** (map.bits - map.unitBits)).includes(this.host.self);
  }

  private isPeerInMap(peer: string): boolean {
    return this.host.map?.nodes.some((n) => n.peerKey === peer && n.state !== 'failed') === true;
  }
}

/** Units rolled back to a point shared with their active, and the keys to fill again. */
interface Rollback {
  units: number[];
  keys: Set<string>;
  /** Records discarded, all units together. */
  discarded: number;
}
