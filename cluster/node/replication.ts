import { EventEmitter } from 'eventemitter3';
import { KvError } from '../../shared/errors.js';
import { bucketOfBinary } from '../../shared/keystream.js';
import { chainOf, unitOf, type ClusterMap } from '../../shared/cluster-map.js';
import type { Durability } from '../../shared/protocol/frames.js';
import type { PeerPlane, PeerReply } from '../peer/index.js';
import type { MemoryEngine } from './engine/memory-engine.js';
import type { HintStore } from './hints.js';
import { HintedHandoff } from './handoff.js';
import { ChangeLog, type LogRecord } from './change-log.js';
import {
  MESSAGE_BYTES, batches, isRecord, isUint, previousActive, recordBytes, unitChains, unitsHeld, type ReplRecord as Record,
} from './replication-records.js';

/**
 * Active → replica replication (DESIGN §7) over the peer plane.
 *
 * The active applies a mutation, gives it the unit's next seqno and streams the item's
 * resulting state (not the op) to every replica of the unit's chain, in seqno order on
 * one link per peer. Replicas apply in order and acknowledge their high seqno per unit.
 * A `majority` write is answered once a majority of the chain (the active included) has
 * it. A replica that sees a gap, or that joins a chain, backfills the unit from the
 * active: pages of a snapshot while the stream keeps flowing; keys the stream touched
 * during the backfill are not overwritten by older snapshot pages.
 *
 * Delta recovery: every node keeps each unit's recent records (change-log.ts). A node
 * that backfills a unit it still has data for offers its last seqno and a fingerprint of
 * the record at it; when the source's log holds that same record and everything after,
 * only the records after it are sent. Otherwise the node drops its copy of the unit and
 * takes a full one. A node that may have been failed over (its lease ran out, the
 * manager says so, or a map shows it failed) keeps its data and verifies every unit it
 * holds this way before reporting caught up.
 *
 * Hinted handoff for down replicas lives in handoff.ts.
 */

export interface ReplicationOptions {
  /** Longest a `majority` write waits for replica acks before answering TIMEOUT. @default 2000 */
  majorityTimeoutMs: number;
  /** Items per backfill page. @default 256 */
  backfillPageItems: number;
  /** Keys examined per backfill page request. @default 16384 */
  backfillPageBudget: number;
  /**
   * After each backfill page, wait this many times as long as the page took before the
   * next (0 = copy flat out). @default 1
   */
  backfillPace: number;
  /** Bytes of recent records kept for delta recovery, all units together. @default 33554432 */
  changeLogBytes: number;
  /** Most bytes of records one delta answer carries; units beyond it are copied in full. @default 4194304 */
  maxDeltaBytes: number;
  /** Hints per replay request. @default 512 */
  hintReplayBatch: number;
  /** Retry replaying held hints this often while any are left, ms. @default 1000 */
  hintRetryMs: number;
  /**
   * Bytes of records sent to a replica and not yet acknowledged that are kept per peer,
   * to be hinted if its link goes down; beyond that they are not kept (the replica
   * backfills the gap). @default 16777216
   */
  maxUnackedBytesPerPeer: number;
}

export const REPLICATION_DEFAULTS: Readonly<ReplicationOptions> = Object.freeze({
  majorityTimeoutMs: 2000,
  backfillPageItems: 256,
  backfillPageBudget: 16_384,
  backfillPace: 1,
  changeLogBytes: 32 * 1024 * 1024,
  maxDeltaBytes: 4 * 1024 * 1024,
  hintReplayBatch: 512,
  hintRetryMs: 1000,
  maxUnackedBytesPerPeer: 16 * 1024 * 1024,
});

export interface ReplicationCounters {
  recordsSent: number;
  recordsApplied: number;
  acksSent: number;
  majorityWaits: number;
  majorityTimeouts: number;
  backfills: number;
  backfillItems: number;
  backfillRetries: number;
  backfillBytes: number;
  gaps: number;
  /** Units brought up to date from the source's change log (delta recovery). */
  deltaUnits: number;
  /** Records received that way. */
  deltaRecords: number;
  /** Units this node had data for that it had to copy in full (no common history with the source). */
  fullResyncs: number;
  /** Hints this node holds now (fallback side). */
  hintsStored: number;
  /** Bytes of the hints this node holds now. */
  hintBytes: number;
  /** Records this node (as active) handed to a fallback as hints, and the fallback took. */
  hintsSent: number;
  /** Records that could reach neither their replica nor a fallback. */
  hintsDropped: number;
  /** Held hints that reached every node they were for (applied there, or found stale), then deleted. */
  hintsDelivered: number;
  /** Held hints dropped after the hint TTL. */
  hintsExpired: number;
  /** Hinted records this node applied as the receiver. */
  hintsApplied: number;
  /** Hinted records this node refused as the receiver because it had a newer seqno. */
  hintsStale: number;
}

interface Waiter {
  unit: number;
  seq: number;
  /** Replica acks still needed. */
  need: number;
  peers: string[];
  resolve: () => void;
  reject: (err: KvError) => void;
  timer: NodeJS.Timeout;
}

interface Backfill {
  source: string;
  /** Keys the stream wrote while the snapshot was being copied: the snapshot must not overwrite them. */
  touched: Set<string>;
  /** Highest seqno the stream brought meanwhile. */
  streamed: number;
  /** The stream's records meanwhile, in order: they continue the unit's history after the copy. */
  records: LogRecord[];
}

export class Replicator extends EventEmitter<{ backfilled: (units: number[]) => void }> {
  readonly counters: ReplicationCounters = {
    recordsSent: 0, recordsApplied: 0, acksSent: 0, majorityWaits: 0, majorityTimeouts: 0, backfills: 0, backfillItems: 0, backfillRetries: 0, backfillBytes: 0, gaps: 0, deltaUnits: 0, deltaRecords: 0, fullResyncs: 0,
    hintsStored: 0, hintBytes: 0, hintsSent: 0, hintsDropped: 0, hintsDelivered: 0, hintsExpired: 0, hintsApplied: 0, hintsStale: 0,
  };
  private readonly options: ReplicationOptions;
  private map: ClusterMap | null = null;
  private self = -1;
  /** Last seqno assigned (active) or applied (replica), per unit. */
  private readonly seqs = new Map<number, number>();
  /** Recent records per unit, for delta recovery. */
  private readonly changes: ChangeLog;
  /**
   * This node may have been failed over: data it holds may be behind or hold writes the
   * cluster lost. The next map it is back in makes it verify every unit it holds.
   */
  private isSuspect = false;
  /** Failed, or back and verifying: data of units not held is kept (not purged). */
  private isKeeping = false;
  /** Backfill pages wait here for their turn (see pageTurn). */
  private pageQueue: Promise<void> = Promise.resolve();
  /** Units whose seqnos were forgotten while their items may still be here (a purge is under way). */
  private readonly residue = new Set<number>();
  /** The peer whose stream last advanced each unit's seqno. */
  private readonly streamFrom = new Map<number, string>();
  /** Highest seqno each replica acknowledged, per peer and unit. */
  private readonly acked = new Map<string, Map<number, number>>();
  private waiters: Waiter[] = [];
  private readonly outbox = new Map<string, Record[]>();
  private readonly ackbox = new Map<string, Map<number, number>>();
  private isFlushScheduled = false;
  private readonly backfills = new Map<number, Backfill>();
  private isClosed = false;
  private readonly handoff: HintedHandoff;
  /** Index in the current map of each node, by peer key. */
  private nodeIndexByKey = new Map<string, number>();

  /**
   * @param hints where this node keeps hints it holds for others; null turns hinted
   *   handoff off (records for a down replica are dropped and backfilled later)
   */
  constructor(private readonly engine: MemoryEngine, private readonly plane: PeerPlane, options: Partial<ReplicationOptions> = {}, hints: HintStore | null = null) {
    super();
    this.options = { ...REPLICATION_DEFAULTS, ...options };
    this.changes = new ChangeLog(this.options.changeLogBytes);
    plane.on('message', this.onMessage);
    plane.on('peer-down', this.onPeerDown);
    plane.on('peer-up', this.onPeerUp);
    const self = this;
    this.handoff = new HintedHandoff({
      get map() { return self.map; },
      get self() { return self.self; },
      get nodeIndexByKey() { return self.nodeIndexByKey; },
      get isClosed() { return self.isClosed; },
      counters: this.counters,
      isBackfilling: (unit) => this.backfills.has(unit),
      seqOf: (unit) => this.seqs.get(unit) ?? 0,
      setSeq: (unit, seq, record) => {
        this.seqs.set(unit, seq);
        this.changes.append(record);
      },
      apply: (key, value, flags, expAt) => this.apply(key, value, flags, expAt),
      backfill: (source, units) => void this.backfill(source, units),
    }, plane, hints, this.options);
  }

  /**
   * Follow a new map: peers to keep links to, and units to backfill.
   * @returns 'failed' when the map shows this node failed (it keeps its data), 'recovering'
   *   when it is back and verifying (data of units it was not given back stays until
   *   `forgetUnheld`), else 'following'
   */
  applyMap(map: ClusterMap, self: number): 'failed' | 'recovering' | 'following' {
    const previous = this.map;
    const previousSelf = this.self;
    this.map = map;
    this.self = self;
    this.nodeIndexByKey = new Map(map.nodes.flatMap((n, i) => (n.peerKey === null ? [] : [[n.peerKey, i] as [string, number]])));
    const keys = map.nodes.filter((n, i) => i !== self && n.state !== 'failed' && n.peerKey !== null).map((n) => n.peerKey!);
    this.plane.setPeers(keys);
    if (self < 0) {
      // Out of the map: its data is purged.
      this.isKeeping = false;
      this.forgetUnheld();
      return 'following';
    }
    // Failed over: keep data, seqnos and history for when it comes back.
    if (map.nodes[self]!.state === 'failed') {
      this.isSuspect = true;
      this.isKeeping = true;
      return 'failed';
    }
    const isVerifying = this.isSuspect;
    this.isSuspect = false;
    if (isVerifying) this.isKeeping = true;
    // Units it no longer holds are purged: their seqnos and history go first.
    else if (!this.isKeeping) this.forgetUnheld();
    // Units this node now holds a copy of but did not before: fetch their data (a node
    // that may have been failed over fetches, or verifies, every unit it holds).
    const held = previous === null || previousSelf < 0 || isVerifying ? new Set<number>() : unitsHeld(previous, previousSelf);
    const bySource = new Map<string, number[]>();
    for (const [unit, chain] of unitChains(map)) {
      const at = chain.indexOf(self);
      if (at < 0 || held.has(unit) || this.backfills.has(unit)) continue;
      // From the unit's active, or (when this node is the new active) from the previous one.
      const sourceIndex = at > 0 ? chain[0]! : previous === null ? -1 : previousActive(previous, unit, map);
      const source = sourceIndex < 0 ? null : (previous !== null && at === 0 ? previous : map).nodes[sourceIndex]?.peerKey ?? null;
      if (source === null || source === map.nodes[self]!.peerKey) continue;
      const list = bySource.get(source) ?? [];
      list.push(unit);
      bySource.set(source, list);
    }
    for (const [source, units] of bySource) void this.backfill(source, units);
    // Hints may now go to a unit's new holder.
    this.handoff.replayIfAny();
    return isVerifying ? 'recovering' : 'following';
  }

  /**
   * The manager may have failed this node over (its lease ran out, or it said so): verify
   * every unit held in the next map it is part of.
   */
  markSuspect(): void {
    this.isSuspect = true;
  }

  /** True while this node keeps data of units it does not hold (failed, or back and verifying): no purging. */
  get isKeepingData(): boolean {
    return this.isKeeping;
  }

  /** The recovery window after a return from failover is over: what was not given back may go. */
  endRecovery(): void {
    this.isKeeping = false;
    this.forgetUnheld();
  }

  /**
   * Forget the seqnos and history of units this node does not hold, before their items are
   * purged: a unit's history must never outlive its data. Not while keeping data.
   */
  forgetUnheld(): void {
    if (this.isKeeping) return;
    const map = this.map;
    const held = map === null || this.self < 0 ? new Set<number>() : unitsHeld(map, this.self);
    for (const u of [...this.seqs.keys()]) {
      if (held.has(u) || this.backfills.has(u)) continue;
      this.seqs.delete(u);
      this.changes.drop(u);
      this.residue.add(u);
    }
  }

  /** Units being backfilled now. */
  get backfilling(): number {
    return this.backfills.size;
  }

  /**
   * After a successful write on the active: stream the key's new state to the replicas.
   * Resolves when the durability asked for is met; null when there is nothing to wait for.
   */
  onWrite(key: string, durability: Durability): Promise<void> | null {
    const map = this.map;
    if (map === null) return null;
    const bucket = bucketOfBinary(key, map.bits);
    const chain = chainOf(map, bucket);
    if (chain[0] !== this.self) return null;
    // Every write gets a seqno and a place in the unit's history, with replicas or without:
    // a copy that comes back later compares histories to catch up.
    const unit = unitOf(map, bucket);
    const seq = (this.seqs.get(unit) ?? 0) + 1;
    this.seqs.set(unit, seq);
    // This node numbers the unit now: a late record from its previous active (same seqnos,
    // other writes) must be applied, not taken for a duplicate.
    this.streamFrom.delete(unit);
    const item = this.engine.peek(key);
    const record: Record = [unit, seq, Buffer.from(key, 'latin1'), item?.value ?? null, item?.flags ?? 0, item?.expAt ?? 0];
    this.changes.append(record);
    if (chain.length < 2) return null;
    const peers: string[] = [];
    for (let i = 1; i < chain.length; i++) {
      const node = map.nodes[chain[i]!];
      if (node === undefined || node.peerKey === null || node.state === 'failed') continue;
      peers.push(node.peerKey);
      this.enqueue(node.peerKey, record);
    }
    if (durability !== 'majority') return null;
    const need = Math.floor(chain.length / 2);
    const reachable = peers.filter((p) => this.plane.isUp(p));
    if (reachable.length < need) {
      return Promise.reject(KvError.unavailable(`majority needs ${need} replica(s) of unit ${unit}; ${reachable.length} reachable`, { isSafeToRetry: false }));
    }
    this.counters.majorityWaits++;
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        unit, seq, need, peers, resolve, reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          this.counters.majorityTimeouts++;
          reject(KvError.timeout(`replicas of unit ${unit} did not acknowledge within ${this.options.majorityTimeoutMs} ms`, { isSafeToRetry: false }));
        }, this.options.majorityTimeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /** What the manager needs from this node: backfills under way and the seqno of every unit it holds. */
  report(): { backfilling: number; seqnos: number[]; copiedBytes: number } {
    const flat: number[] = [];
    const map = this.map;
    const held = map === null || this.self < 0 ? null : unitsHeld(map, this.self);
    for (const [unit, seq] of this.seqs) {
      if (held !== null && !held.has(unit)) continue;
      if (flat.length >= 2 * 65_536) break;
      flat.push(unit, seq);
    }
    return { backfilling: this.backfills.size, seqnos: flat, copiedBytes: this.counters.backfillBytes };
  }

  close(): void {
    this.isClosed = true;
    this.plane.off('message', this.onMessage);
    this.plane.off('peer-down', this.onPeerDown);
    this.plane.off('peer-up', this.onPeerUp);
    this.handoff.close();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(KvError.unavailable('node shutting down'));
    }
    this.waiters = [];
  }

  private enqueue(peer: string, record: Record): void {
    let box = this.outbox.get(peer);
    if (box === undefined) {
      box = [];
      this.outbox.set(peer, box);
    }
    box.push(record);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.isFlushScheduled) return;
    this.isFlushScheduled = true;
    queueMicrotask(this.flush);
  }

  private readonly flush = (): void => {
    this.isFlushScheduled = false;
    for (const [peer, records] of this.outbox) {
      for (const batch of batches(records, MESSAGE_BYTES, 1 << 16, recordBytes)) {
        if (this.plane.send(peer, { t: 'rep', r: batch })) {
          this.counters.recordsSent += batch.length;
          this.handoff.track(peer, batch);
        } else {
          // Down or its queue is full: the records go to a fallback as hints.
          this.handoff.handOff(peer, batch);
        }
      }
    }
    this.outbox.clear();
    for (const [peer, units] of this.ackbox) {
      const flat: number[] = [];
      for (const [unit, seq] of units) flat.push(unit, seq);
      if (this.plane.send(peer, { t: 'ack', a: flat })) this.counters.acksSent++;
    }
    this.ackbox.clear();
  };

  private readonly onMessage = (peer: string, message: unknown, reply: PeerReply | undefined): void => {
    if (this.isClosed || message === null || typeof message !== 'object') return;
    const m = message as { t?: unknown };
    try {
      if (m.t === 'rep') this.onRecords(peer, (message as { r?: unknown }).r);
      else if (m.t === 'ack') this.onAcks(peer, (message as { a?: unknown }).a);
      else if (m.t === 'pull' && reply !== undefined) reply(this.onPull(peer, message as Record as unknown as PullRequest));
      else if (m.t === 'hint' && reply !== undefined) this.handoff.onHintStore(peer, (message as { h?: unknown }).h, reply);
      else if (m.t === 'hrep' && reply !== undefined) reply({ s: this.handoff.applyHinted((message as { r?: unknown }).r) });
    } catch (err) {
      if (reply !== undefined) reply(err instanceof KvError ? err : KvError.badRequest(String(err)));
    }
  };

  private onRecords(peer: string, raw: unknown): void {
    if (!Array.isArray(raw)) return;
    let acks = this.ackbox.get(peer);
    for (const r of raw) {
      if (!isRecord(r)) continue;
      const [unit, seq, keyBytes, value, flags, expAt] = r;
      const last = this.seqs.get(unit) ?? 0;
      const key = Buffer.from(keyBytes).toString('latin1');
      const fill = this.backfills.get(unit);
      if (fill !== undefined) {
        fill.touched.add(key);
        if (seq > fill.streamed) {
          fill.streamed = seq;
          fill.records.push(r);
        }
      } else if (seq !== last + 1 && seq > last) {
        // Records were missed (a dropped link, or a chain this node just joined): copy the unit.
        this.counters.gaps++;
        void this.backfill(peer, [unit]);
        const started = this.backfills.get(unit);
        if (started !== undefined) {
          started.touched.add(key);
          started.streamed = seq;
          started.records.push(r);
        }
      }
      // A link never repeats a record, so an old seqno from the peer this unit follows is a
      // duplicate; from another peer it is a write the previous active accepted just before
      // a switch, which must not be lost.
      if (seq <= last && fill === undefined && this.streamFrom.get(unit) === peer) continue;
      this.apply(key, value, flags, expAt);
      this.counters.recordsApplied++;
      if (seq > last) {
        this.seqs.set(unit, seq);
        this.streamFrom.set(unit, peer);
        if (this.backfills.get(unit) === undefined) this.changes.append(r);
      }
      acks ??= new Map();
      acks.set(unit, Math.max(acks.get(unit) ?? 0, seq));
    }
    if (acks !== undefined) {
      this.ackbox.set(peer, acks);
      this.scheduleFlush();
    }
  }

  private apply(key: string, value: Uint8Array | null, flags: number, expAt: number): void {
    if (value === null) this.engine.delete(key);
    else this.engine.set(key, value, flags, expAt);
  }

  private onAcks(peer: string, raw: unknown): void {
    if (!Array.isArray(raw)) return;
    let mine = this.acked.get(peer);
    if (mine === undefined) {
      mine = new Map();
      this.acked.set(peer, mine);
    }
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const unit = raw[i];
      const seq = raw[i + 1];
      if (!isUint(unit) || !isUint(seq)) return;
      if (seq > (mine.get(unit) ?? 0)) mine.set(unit, seq);
      this.handoff.untrack(peer, unit, seq);
    }
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if ((mine.get(w.unit) ?? 0) >= w.seq && w.peers.includes(peer)) w.need--;
      if (w.need <= 0) {
        clearTimeout(w.timer);
        w.resolve();
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
  }

  private readonly onPeerDown = (peer: string): void => {
    this.acked.delete(peer);
    this.handoff.peerDown(peer);
  };

  private readonly onPeerUp = (): void => {
    this.handoff.replayIfAny();
  };

  /** Serve a page of a snapshot of `units`, with the seqno the unit had when the page was cut. */
  private onPull(peer: string, req: PullRequest): unknown {
    const units = Array.isArray(req.units) ? req.units.filter(isUint) : [];
    const map = this.map;
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
    const after = req.after instanceof Uint8Array ? Buffer.from(req.after).toString('latin1') : null;
    const limit = Math.min(isUint(req.limit) ? req.limit : this.options.backfillPageItems, 4096);
    // Each unit's seqno, with the fingerprint of its record there: a copy's history starts at it.
    const seqs = units.map((u) => {
      const seq = this.seqs.get(u) ?? 0;
      return [u, seq, this.changes.printAt(u, seq) ?? ''];
    });
    // Delta recovery: a requester that holds a unit up to seqno S, with the same record at S
    // as this node, gets only the records after S.
    const delta: LogRecord[] = [];
    const deltaUnits: number[] = [];
    if (after === null && Array.isArray(req.since)) {
      let budget = this.options.maxDeltaBytes;
      for (const offer of req.since.slice(0, units.length)) {
        if (!Array.isArray(offer) || !isUint(offer[0]) || !isUint(offer[1]) || offer[1] === 0 || typeof offer[2] !== 'string' || !wanted.has(offer[0])) continue;
        const [unit, since, print] = offer as [number, number, string];
        const records = this.changes.since(unit, since, this.seqs.get(unit) ?? 0);
        if (records === null || this.changes.printAt(unit, since) !== print) continue;
        let bytes = 0;
        for (const r of records) bytes += recordBytes(r);
        if (bytes > budget) continue;
        budget -= bytes;
        for (const r of records) delta.push(r);
        deltaUnits.push(unit);
        wanted.delete(unit);
      }
    }
    const page = wanted.size === 0
      ? { items: [], next: null }
      : this.engine.page(after, limit, this.options.backfillPageBudget, (key) => wanted.has(unitOf(map, bucketOfBinary(key, map.bits))));
    return {
      items: page.items.map((it) => [Buffer.from(it.key, 'latin1'), it.value, it.flags, it.expAt]),
      next: page.next === null ? null : Buffer.from(page.next, 'latin1'),
      seqs,
      ...(deltaUnits.length === 0 ? {} : { delta, deltaUnits }),
    };
  }

  /**
   * Copy `units` from `source` page by page while the stream keeps flowing. A failed copy
   * (the link is not up yet, the source is busy) starts again with backoff for as long as
   * this node holds the units and the source is in the map: the manager switches a move
   * only once no backfill is under way, so giving up early would lose the data.
   */
  private async backfill(source: string, units: number[]): Promise<void> {
    const todo = units.filter((u) => !this.backfills.has(u));
    if (todo.length === 0) return;
    for (const u of todo) this.backfills.set(u, { source, touched: new Set(), streamed: 0, records: [] });
    this.counters.backfills++;
    try {
      for (let attempt = 0; ; attempt++) {
        if (this.isClosed) return;
        const still = todo.filter((u) => this.holdsUnit(u));
        if (still.length === 0 || !this.isPeerInMap(source)) return;
        try {
          await this.copyUnits(source, still);
          this.emit('backfilled', still);
          return;
        } catch {
          this.counters.backfillRetries++;
          await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 2000)));
        }
      }
    } finally {
      for (const u of todo) if (this.backfills.get(u)?.source === source) this.backfills.delete(u);
    }
  }

  private async copyUnits(source: string, all: number[]): Promise<void> {
    let after: Uint8Array | null = null;
    let startSeqs: Array<[number, number, string]> | null = null;
    let units = all;
    // Units this node has history for: offer the last record of each, so the source can
    // send only what came after it.
    const since: Array<[number, number, string]> = [];
    for (const u of all) {
      const seq = this.seqs.get(u) ?? 0;
      const print = seq > 0 ? this.changes.printAt(u, seq) : null;
      if (print !== null) since.push([u, seq, print]);
    }
    for (;;) {
      if (this.isClosed) return;
      // One page at a time per node, paced: copies yield to client requests.
      const done = await this.pageTurn();
      try {
        const res = await this.plane.request(source, {
          t: 'pull', units, after, limit: this.options.backfillPageItems, ...(after === null && since.length > 0 ? { since } : {}),
        }, 10_000) as PullResponse;
        if (startSeqs === null) {
          startSeqs = Array.isArray(res.seqs) ? res.seqs.filter((p): p is [number, number, string] => Array.isArray(p) && isUint(p[0]) && isUint(p[1])) : [];
          const deltaUnits = new Set(Array.isArray(res.deltaUnits) ? res.deltaUnits.filter((u): u is number => isUint(u) && units.includes(u)) : []);
          const records = Array.isArray(res.delta) ? res.delta : [];
          for (const r of records) {
            if (!isRecord(r) || !deltaUnits.has(r[0])) continue;
            const key = Buffer.from(r[2]).toString('latin1');
            // The stream is newer than any delta record of a key it wrote meanwhile.
            if (this.backfills.get(r[0])?.touched.has(key) !== true) this.apply(key, r[3], r[4], r[5]);
            this.changes.append(r);
            this.counters.deltaRecords++;
          }
          this.counters.deltaUnits += deltaUnits.size;
          // Units copied in full over data of their own: that data may hold writes the
          // cluster lost in a failover, or keys deleted since, so it goes first.
          const full = units.filter((u) => !deltaUnits.has(u));
          const stale = new Set(full.filter((u) => this.seqs.has(u) || this.residue.has(u)));
          if (stale.size > 0) {
            this.counters.fullResyncs += stale.size;
            await this.clearUnits(stale);
            // Cleared once: a retry of this copy needs no second pass (the stream keeps the
            // keys it writes meanwhile, deletes included).
            for (const u of stale) {
              this.residue.delete(u);
              this.seqs.delete(u);
            }
          }
          units = full;
          if (units.length === 0) break;
        }
        for (const it of Array.isArray(res.items) ? res.items : []) {
          if (!Array.isArray(it) || !(it[0] instanceof Uint8Array) || !(it[1] instanceof Uint8Array)) continue;
          const key = Buffer.from(it[0]).toString('latin1');
          const map = this.map;
          const unit = map === null ? -1 : unitOf(map, bucketOfBinary(key, map.bits));
          if (this.backfills.get(unit)?.touched.has(key) === true) continue;
          this.apply(key, it[1], isUint(it[2]) ? it[2] : 0, isUint(it[3]) ? it[3] : 0);
          this.counters.backfillItems++;
          this.counters.backfillBytes += it[0].length + it[1].length;
        }
        if (!(res.next instanceof Uint8Array)) break;
        after = res.next;
      } finally {
        done();
      }
    }
    // The unit now follows the source's numbering, whatever this node had before. A full
    // copy's history starts at the snapshot; the stream's records since then continue it.
    for (const [unit, seq, print] of startSeqs ?? []) {
      if (!all.includes(unit)) continue;
      const fill = this.backfills.get(unit);
      const isFull = units.includes(unit);
      if (isFull) this.changes.anchor(unit, seq, typeof print === 'string' && print !== '' ? print : null);
      for (const r of fill?.records ?? []) if (r[1] > seq) this.changes.append(r);
      this.seqs.set(unit, Math.max(seq, fill?.streamed ?? 0, isFull ? 0 : this.seqs.get(unit) ?? 0));
    }
  }

  /**
   * Wait for this node's turn to copy a page; call the returned function when the page is
   * applied. Pages of all backfills go one at a time, and after each the next waits
   * `backfillPace` times as long as that page took, so copying takes at most
   * 1 / (1 + backfillPace) of the node's time and client requests keep their latency.
   */
  private async pageTurn(): Promise<() => void> {
    const previous = this.pageQueue;
    let release!: () => void;
    this.pageQueue = new Promise<void>((resolve) => { release = resolve; });
    await previous;
    const started = performance.now();
    return () => {
      const pause = Math.min((performance.now() - started) * this.options.backfillPace, 1000);
      if (pause >= 1 && !this.isClosed) setTimeout(release, pause);
      else release();
    };
  }

  /**
   * Delete this node's items of `units`, except keys the stream wrote during the backfill.
   * In slices of 2048 keys, one per event-loop turn, so requests keep being served.
   */
  private async clearUnits(units: ReadonlySet<number>): Promise<void> {
    let after: string | null = null;
    for (;;) {
      const map = this.map;
      if (map === null || this.isClosed) return;
      const page = this.engine.scanKeys(after === null ? '' : `${after}\0`, 2048);
      for (const key of page.keys) {
        const unit = unitOf(map, bucketOfBinary(key, map.bits));
        if (units.has(unit) && this.backfills.get(unit)?.touched.has(key) !== true) this.engine.delete(key);
      }
      const last = page.keys.length > 0 ? page.keys[page.keys.length - 1]! : null;
      if (page.nextKey === null || last === null) return;
      after = last;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** True when this node is in `unit`'s chain in its current map. */
  private holdsUnit(unit: number): boolean {
    const map = this.map;
    if (map === null || this.self < 0) return false;
    return chainOf(map, unit * 2 ** (map.bits - map.unitBits)).includes(this.self);
  }

  private isPeerInMap(peer: string): boolean {
    return this.map?.nodes.some((n) => n.peerKey === peer && n.state !== 'failed') === true;
  }
}

interface PullRequest {
  units?: unknown;
  after?: unknown;
  limit?: unknown;
  /** `[unit, seqno, fingerprint of the record at that seqno]` per unit the requester has history for. */
  since?: unknown;
}

interface PullResponse {
  items?: unknown;
  next?: unknown;
  seqs?: unknown;
  /** Records after the offered seqnos, for `deltaUnits`. */
  delta?: unknown;
  deltaUnits?: unknown;
}

/** `[intended, epoch, ...record]` as sent to a fallback. */
