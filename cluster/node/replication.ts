import { EventEmitter } from 'eventemitter3';
import { KvError } from '../../shared/errors.js';
import { bucketOfBinary } from '../../shared/keystream.js';
import { chainOf, unitOf, type ClusterMap } from '../../shared/cluster-map.js';
import type { Durability } from '../../shared/protocol/frames.js';
import type { PeerPlane, PeerReply } from '../peer/index.js';
import type { MemoryEngine } from './engine/memory-engine.js';
import type { Hint, HintStore } from './hints.js';

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
 * Hinted handoff: a record that cannot reach a replica (link down or its queue full,
 * or sent but not acknowledged when the link went down) goes as a hint to a fallback
 * node — the next live node of the map outside the unit's chain, another zone first —
 * which keeps it in its {@link HintStore}. When the replica's link comes up, the holder
 * replays its hints in seqno order per unit; the receiver applies one only when its own
 * seqno of the unit is below the hint's, so a hint never overwrites newer data. A hint
 * whose replica no longer holds the unit goes to the unit's current chain instead. Hints
 * never count as acks for `majority` writes.
 */

/** One replicated change: the item's state after a write, or its removal (`value` null). */
type Record = [unit: number, seq: number, key: Uint8Array, value: Uint8Array | null, flags: number, expAt: number];

export interface ReplicationOptions {
  /** Longest a `majority` write waits for replica acks before answering TIMEOUT. @default 2000 */
  majorityTimeoutMs: number;
  /** Items per backfill page. @default 512 */
  backfillPageItems: number;
  /** Keys examined per backfill page request. @default 65536 */
  backfillPageBudget: number;
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
  hintReplayBatch: 512,
  hintRetryMs: 1000,
  maxUnackedBytesPerPeer: 16 * 1024 * 1024,
});

/** A replay target that is this node itself (the holder is now in the unit's chain). */
const SELF = '';
/** Answers to a hint replay, one per hint. */
const HINT_APPLIED = 0;
const HINT_STALE = 1;
const HINT_RETRY = 2;
/** Largest replication or hint message body aimed for (the plane's frame limit is 8 MiB). */
const MESSAGE_BYTES = 4 * 1024 * 1024;

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
}

export class Replicator extends EventEmitter<{ backfilled: (units: number[]) => void }> {
  readonly counters: ReplicationCounters = {
    recordsSent: 0, recordsApplied: 0, acksSent: 0, majorityWaits: 0, majorityTimeouts: 0, backfills: 0, backfillItems: 0, backfillRetries: 0, backfillBytes: 0, gaps: 0,
    hintsStored: 0, hintBytes: 0, hintsSent: 0, hintsDropped: 0, hintsDelivered: 0, hintsExpired: 0, hintsApplied: 0, hintsStale: 0,
  };
  private readonly options: ReplicationOptions;
  private map: ClusterMap | null = null;
  private self = -1;
  /** Last seqno assigned (active) or applied (replica), per unit. */
  private readonly seqs = new Map<number, number>();
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
  /** Records sent to each replica and not yet acknowledged, per unit in seqno order: hinted if the link drops. */
  private readonly unacked = new Map<string, { units: Map<number, Record[]>; bytes: number }>();
  /** Highest hinted seqno applied past a gap, per unit (receiver side): older hints are stale. */
  private readonly hintHigh = new Map<number, number>();
  private isReplaying = false;
  private isReplayAgain = false;
  private replayTimer: NodeJS.Timeout | null = null;
  /** Index in the current map of each node, by peer key. */
  private nodeIndexByKey = new Map<string, number>();

  /**
   * @param hints where this node keeps hints it holds for others; null turns hinted
   *   handoff off (records for a down replica are dropped and backfilled later)
   */
  constructor(private readonly engine: MemoryEngine, private readonly plane: PeerPlane, options: Partial<ReplicationOptions> = {}, private readonly hints: HintStore | null = null) {
    super();
    this.options = { ...REPLICATION_DEFAULTS, ...options };
    plane.on('message', this.onMessage);
    plane.on('peer-down', this.onPeerDown);
    plane.on('peer-up', this.onPeerUp);
    this.syncHintCounters();
    if (hints !== null && hints.count > 0) this.scheduleReplay(this.options.hintRetryMs);
  }

  /** Follow a new map: peers to keep links to, and units to backfill. */
  applyMap(map: ClusterMap, self: number): void {
    const previous = this.map;
    const previousSelf = this.self;
    this.map = map;
    this.self = self;
    this.nodeIndexByKey = new Map(map.nodes.flatMap((n, i) => (n.peerKey === null ? [] : [[n.peerKey, i] as [string, number]])));
    const keys = map.nodes.filter((n, i) => i !== self && n.state !== 'failed' && n.peerKey !== null).map((n) => n.peerKey!);
    this.plane.setPeers(keys);
    if (self < 0) return;
    // Units this node now holds a copy of but did not before: fetch their data.
    const held = previous === null || previousSelf < 0 ? new Set<number>() : unitsHeld(previous, previousSelf);
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
    if (this.hints !== null && this.hints.count > 0) void this.replay();
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
    if (chain.length < 2 || chain[0] !== this.self) return null;
    const unit = unitOf(map, bucket);
    const seq = (this.seqs.get(unit) ?? 0) + 1;
    this.seqs.set(unit, seq);
    // This node numbers the unit now: a late record from its previous active (same seqnos,
    // other writes) must be applied, not taken for a duplicate.
    this.streamFrom.delete(unit);
    const item = this.engine.peek(key);
    const record: Record = [unit, seq, Buffer.from(key, 'latin1'), item?.value ?? null, item?.flags ?? 0, item?.expAt ?? 0];
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
    if (this.replayTimer !== null) clearTimeout(this.replayTimer);
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
          this.track(peer, batch);
        } else {
          // Down or its queue is full: the records go to a fallback as hints.
          this.handOff(peer, batch);
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
      else if (m.t === 'hint' && reply !== undefined) this.onHintStore(peer, (message as { h?: unknown }).h, reply);
      else if (m.t === 'hrep' && reply !== undefined) reply({ s: this.applyHinted((message as { r?: unknown }).r) });
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
      if (fill !== undefined) fill.touched.add(key);
      else if (seq !== last + 1 && seq > last) {
        // Records were missed (a dropped link, or a chain this node just joined): copy the unit.
        this.counters.gaps++;
        void this.backfill(peer, [unit]);
        this.backfills.get(unit)?.touched.add(key);
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
      this.untrack(peer, unit, seq);
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
    // What was sent and not acknowledged may have been lost with the link: hint it.
    const sent = this.unacked.get(peer);
    this.unacked.delete(peer);
    if (sent === undefined || this.isClosed) return;
    const records: Record[] = [];
    for (const list of sent.units.values()) records.push(...list);
    if (records.length > 0) this.handOff(peer, records);
  };

  private readonly onPeerUp = (): void => {
    if (this.hints !== null && this.hints.count > 0) void this.replay();
  };

  // ---- hinted handoff: active side ----

  /** Keep what was sent to `peer` until it is acknowledged (only when hints are on). */
  private track(peer: string, records: Record[]): void {
    if (this.hints === null) return;
    let sent = this.unacked.get(peer);
    if (sent === undefined) {
      sent = { units: new Map(), bytes: 0 };
      this.unacked.set(peer, sent);
    }
    for (const r of records) {
      // Beyond the bound a lost record is a gap the replica backfills.
      if (sent.bytes >= this.options.maxUnackedBytesPerPeer) break;
      let list = sent.units.get(r[0]);
      if (list === undefined) {
        list = [];
        sent.units.set(r[0], list);
      }
      list.push(r);
      sent.bytes += recordBytes(r);
    }
  }

  private untrack(peer: string, unit: number, seq: number): void {
    const sent = this.unacked.get(peer);
    const list = sent?.units.get(unit);
    if (sent === undefined || list === undefined) return;
    let i = 0;
    while (i < list.length && list[i]![1] <= seq) sent.bytes -= recordBytes(list[i++]!);
    if (i === list.length) sent.units.delete(unit);
    else if (i > 0) list.splice(0, i);
  }

  /** `records` could not reach replica `peer`: send them as hints to a fallback node. */
  private handOff(peer: string, records: Record[]): void {
    const map = this.map;
    if (this.hints === null || this.isClosed) return;
    if (map === null) {
      this.counters.hintsDropped += records.length;
      return;
    }
    const byFallback = new Map<string, Record[]>();
    const fallbackOfUnit = new Map<number, string | null>();
    for (const r of records) {
      let fallback = fallbackOfUnit.get(r[0]);
      if (fallback === undefined) {
        fallback = this.fallbackFor(map, peer, r[0]);
        fallbackOfUnit.set(r[0], fallback);
      }
      if (fallback === null) continue; // `peer` no longer holds the unit: nothing to hand off
      const list = byFallback.get(fallback) ?? [];
      list.push(r);
      byFallback.set(fallback, list);
    }
    for (const [fallback, list] of byFallback) void this.sendHints(fallback, peer, map.epoch, list);
  }

  /**
   * The fallback for hints meant for `intended` about `unit`: the next live node of the
   * map after it that is not in the unit's chain, another zone first; this node itself
   * when there is none. Null when `intended` is no longer in the unit's chain.
   */
  private fallbackFor(map: ClusterMap, intended: string, unit: number): string | null {
    const chain = chainOf(map, unit * 2 ** (map.bits - map.unitBits));
    const at = this.nodeIndexByKey.get(intended) ?? -1;
    if (at < 0 || !chain.includes(at)) return null;
    const zone = map.nodes[at]!.zone;
    let sameZone: string | null = null;
    for (let k = 1; k < map.nodes.length; k++) {
      const i = (at + k) % map.nodes.length;
      const node = map.nodes[i]!;
      if (i === this.self || chain.includes(i) || node.peerKey === null || node.state === 'failed' || node.state === 'leaving') continue;
      if (!this.plane.isUp(node.peerKey) || this.plane.isBusy(node.peerKey)) continue;
      if (node.zone !== zone || zone === '') return node.peerKey;
      sameZone ??= node.peerKey;
    }
    return sameZone ?? SELF;
  }

  private async sendHints(fallback: string, intended: string, epoch: number, records: Record[]): Promise<void> {
    const store = this.hints!;
    for (const batch of batches(records, MESSAGE_BYTES, 4096, recordBytes)) {
      let taken: boolean[] | null = null;
      if (fallback !== SELF) {
        try {
          const res = await this.plane.request(fallback, { t: 'hint', h: batch.map((r) => [intended, epoch, ...r]) }, 10_000) as { ok?: unknown };
          if (Array.isArray(res?.ok)) taken = res.ok.map((x) => x === true);
        } catch {
          // The fallback went away: keep them here instead.
        }
      }
      if (taken === null) {
        taken = await store.add(batch.map((record) => ({ intended, epoch, record }))).catch(() => batch.map(() => false));
        this.syncHintCounters();
        this.scheduleReplay(0);
      }
      for (let i = 0; i < batch.length; i++) {
        if (taken[i] === true) this.counters.hintsSent++;
        else this.counters.hintsDropped++;
      }
    }
  }

  // ---- hinted handoff: fallback (holder) side ----

  private onHintStore(peer: string, raw: unknown, reply: PeerReply): void {
    const store = this.hints;
    if (store === null) {
      reply(KvError.unavailable('this node keeps no hints'));
      return;
    }
    if (!Array.isArray(raw) || !raw.every(isHintEntry)) {
      reply(KvError.badRequest(`malformed hints from peer ${peer.slice(0, 8)}`));
      return;
    }
    const entries = (raw as HintEntry[]).map(([intended, epoch, ...record]) => ({ intended, epoch, record: record as Record }));
    store.add(entries).then((taken) => {
      this.syncHintCounters();
      reply({ ok: taken });
      // The replica may be reachable from here (a full queue on the active, a partition).
      void this.replay();
    }, (err: Error) => {
      this.syncHintCounters();
      reply(KvError.unavailable(`hint log: ${err.message}`));
    });
  }

  private scheduleReplay(ms: number): void {
    if (this.replayTimer !== null || this.isClosed || this.hints === null) return;
    this.replayTimer = setTimeout(() => {
      this.replayTimer = null;
      void this.replay();
    }, ms);
    this.replayTimer.unref();
  }

  /**
   * Deliver held hints to every target that is up, in seqno order per unit; delete the
   * ones every target took (applied, or already newer there). Runs one at a time; runs
   * again while hints are left.
   */
  private async replay(): Promise<void> {
    const store = this.hints;
    if (store === null || this.isClosed) return;
    if (this.isReplaying) {
      this.isReplayAgain = true;
      return;
    }
    this.isReplaying = true;
    try {
      do {
        this.isReplayAgain = false;
        const expired = store.expire();
        this.counters.hintsExpired += expired;
        const map = this.map;
        if (map === null || this.self < 0) break;
        const byTarget = new Map<string, Hint[]>();
        for (const h of store.all()) {
          for (const t of this.targetsOf(map, h)) {
            if (h.done?.has(t) === true || (t !== SELF && !this.plane.isUp(t))) continue;
            const list = byTarget.get(t) ?? [];
            list.push(h);
            byTarget.set(t, list);
          }
        }
        for (const [target, list] of byTarget) {
          list.sort((a, b) => a.record[0] - b.record[0] || a.record[1] - b.record[1]);
          for (const batch of batches(list, MESSAGE_BYTES, this.options.hintReplayBatch, (h) => h.bytes)) {
            let statuses: unknown[];
            if (target === SELF) {
              statuses = this.applyHinted(batch.map((h) => h.record));
            } else {
              try {
                const res = await this.plane.request(target, { t: 'hrep', r: batch.map((h) => h.record) }, 10_000) as { s?: unknown };
                statuses = Array.isArray(res?.s) ? res.s : [];
              } catch {
                break; // the target went away; its peer-up replays again
              }
            }
            if (this.isClosed) return;
            for (let i = 0; i < batch.length; i++) {
              if (statuses[i] === HINT_APPLIED || statuses[i] === HINT_STALE) (batch[i]!.done ??= new Set()).add(target);
            }
          }
        }
        const now = this.map ?? map;
        const complete: Hint[] = [];
        for (const h of store.all()) {
          if (h.done === undefined) continue;
          const targets = this.targetsOf(now, h);
          if (targets.length > 0 && targets.every((t) => h.done!.has(t))) complete.push(h);
        }
        store.remove(complete);
        this.counters.hintsDelivered += complete.length;
        this.syncHintCounters();
      } while (this.isReplayAgain && !this.isClosed);
    } finally {
      this.isReplaying = false;
      this.syncHintCounters();
      if (store.count > 0) this.scheduleReplay(this.options.hintRetryMs);
    }
  }

  /**
   * Where a hint goes now: its intended node while that node is in the unit's chain;
   * otherwise the unit followed to every live node of its current chain ({@link SELF}
   * for this node).
   */
  private targetsOf(map: ClusterMap, h: Hint): string[] {
    const chain = chainOf(map, h.record[0] * 2 ** (map.bits - map.unitBits));
    const at = this.nodeIndexByKey.get(h.intended) ?? -1;
    if (at >= 0 && chain.includes(at) && map.nodes[at]!.state !== 'failed') return [at === this.self ? SELF : h.intended];
    const out: string[] = [];
    for (const i of chain) {
      const node = map.nodes[i];
      if (node === undefined || node.peerKey === null || node.state === 'failed') continue;
      out.push(i === this.self ? SELF : node.peerKey);
    }
    return out;
  }

  // ---- hinted handoff: receiver side ----

  /**
   * Apply hinted records, version-checked: one is applied only when this node's seqno of
   * its unit (or a hint already applied past a gap) is below the hint's. Answers per
   * record: applied, stale (this node has newer data), or retry (not a holder of the
   * unit in this node's map, or the unit is being backfilled).
   */
  private applyHinted(raw: unknown): number[] {
    const out: number[] = [];
    if (!Array.isArray(raw)) return out;
    const map = this.map;
    const gapped = new Map<string, Set<number>>();
    for (const r of raw) {
      if (map === null || this.self < 0 || !isRecord(r)) {
        out.push(HINT_RETRY);
        continue;
      }
      const [unit, seq, keyBytes, value, flags, expAt] = r;
      const chain = chainOf(map, unit * 2 ** (map.bits - map.unitBits));
      const at = chain.indexOf(this.self);
      if (at < 0 || this.backfills.has(unit)) {
        out.push(HINT_RETRY);
        continue;
      }
      const last = this.seqs.get(unit) ?? 0;
      const high = Math.max(last, this.hintHigh.get(unit) ?? 0);
      if (seq <= high) {
        this.counters.hintsStale++;
        out.push(HINT_STALE);
        continue;
      }
      this.apply(Buffer.from(keyBytes).toString('latin1'), value, flags, expAt);
      this.counters.hintsApplied++;
      out.push(HINT_APPLIED);
      if (at === 0 || (seq === last + 1 && high === last)) {
        this.seqs.set(unit, seq);
        continue;
      }
      // Records before this one are missing (lost in flight, or their hints expired):
      // keep the unit's seqno so the gap stays visible, and backfill it from the active.
      this.hintHigh.set(unit, seq);
      const source = map.nodes[chain[0]!]?.peerKey ?? null;
      if (source !== null && this.plane.isUp(source)) {
        const units = gapped.get(source) ?? new Set();
        units.add(unit);
        gapped.set(source, units);
      }
    }
    for (const [source, units] of gapped) {
      this.counters.gaps += units.size;
      void this.backfill(source, [...units]);
    }
    return out;
  }

  private syncHintCounters(): void {
    this.counters.hintsStored = this.hints?.count ?? 0;
    this.counters.hintBytes = this.hints?.bytes ?? 0;
  }

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
    const seqs = units.map((u) => [u, this.seqs.get(u) ?? 0]);
    const page = this.engine.page(after, limit, this.options.backfillPageBudget, (key) => wanted.has(unitOf(map, bucketOfBinary(key, map.bits))));
    return {
      items: page.items.map((it) => [Buffer.from(it.key, 'latin1'), it.value, it.flags, it.expAt]),
      next: page.next === null ? null : Buffer.from(page.next, 'latin1'),
      seqs,
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
    for (const u of todo) this.backfills.set(u, { source, touched: new Set() });
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

  private async copyUnits(source: string, units: number[]): Promise<void> {
    let after: Uint8Array | null = null;
    let startSeqs: Array<[number, number]> | null = null;
    for (;;) {
      if (this.isClosed) return;
      const res = await this.plane.request(source, { t: 'pull', units, after, limit: this.options.backfillPageItems }, 10_000) as PullResponse;
      startSeqs ??= Array.isArray(res.seqs) ? res.seqs.filter((p): p is [number, number] => Array.isArray(p) && isUint(p[0]) && isUint(p[1])) : [];
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
    }
    for (const [unit, seq] of startSeqs ?? []) if (seq > (this.seqs.get(unit) ?? 0)) this.seqs.set(unit, seq);
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
}

interface PullResponse {
  items?: unknown;
  next?: unknown;
  seqs?: unknown;
}

/** `[intended, epoch, ...record]` as sent to a fallback. */
type HintEntry = [intended: string, epoch: number, ...record: Record];

function isHintEntry(h: unknown): h is HintEntry {
  return Array.isArray(h) && h.length === 8 && typeof h[0] === 'string' && /^[0-9a-f]{64}$/.test(h[0]) && isUint(h[1]) && isRecord(h.slice(2));
}

/** Bytes a record takes, roughly, on the wire. */
function recordBytes(r: Record): number {
  return r[2].length + (r[3]?.length ?? 0) + 32;
}

/** Split `items` into runs of at most `maxCount` items and about `maxBytes` bytes. */
function* batches<T>(items: T[], maxBytes: number, maxCount: number, size: (t: T) => number): Generator<T[]> {
  if (items.length <= maxCount && items.length < 64 && items.every((t) => size(t) < maxBytes / 64)) {
    if (items.length > 0) yield items;
    return;
  }
  let batch: T[] = [];
  let bytes = 0;
  for (const t of items) {
    const n = size(t);
    if (batch.length > 0 && (batch.length >= maxCount || bytes + n > maxBytes)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(t);
    bytes += n;
  }
  if (batch.length > 0) yield batch;
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isRecord(r: unknown): r is Record {
  return Array.isArray(r) && r.length === 6 && isUint(r[0]) && isUint(r[1]) && r[2] instanceof Uint8Array
    && (r[3] === null || r[3] instanceof Uint8Array) && isUint(r[4]) && isUint(r[5]);
}

/** Each unit's chain. */
function unitChains(map: ClusterMap): Array<[number, readonly number[]]> {
  const out: Array<[number, readonly number[]]> = [];
  const units = 2 ** map.unitBits;
  const perUnit = 2 ** (map.bits - map.unitBits);
  for (let u = 0; u < units; u++) out.push([u, chainOf(map, u * perUnit)]);
  return out;
}

function unitsHeld(map: ClusterMap, self: number): Set<number> {
  const held = new Set<number>();
  for (const [unit, chain] of unitChains(map)) if (chain.includes(self)) held.add(unit);
  return held;
}

/** The active of `unit` in `previous`, as an index into `previous.nodes`, if it is still in `next`. */
function previousActive(previous: ClusterMap, unit: number, next: ClusterMap): number {
  const perUnit = 2 ** (previous.bits - previous.unitBits);
  const idx = chainOf(previous, unit * perUnit)[0];
  if (idx === undefined) return -1;
  const node = previous.nodes[idx];
  return node !== undefined && next.nodes.some((n) => n.id === node.id && n.state !== 'failed') ? idx : -1;
}
