import { Buffer } from 'node:buffer';
import { EventEmitter } from 'eventemitter3';
import { KvError } from '../../../shared/errors.js';
import { bucketOfBinary } from '../../../shared/keystream.js';
import { chainOf, unitOf, type ClusterMap } from '../../../shared/cluster-map.js';
import type { Durability } from '../../../shared/protocol/frames.js';
import type { PeerPlane, PeerReply } from '../../peer/index.js';
import type { KvEngine, UnitMarkSource } from '../engine/types.js';
import type { HistoryEntry } from '../engine/unit-history.js';
import type { HintStore } from './hint-store.js';
import { HintedHandoff } from './handoff.js';
import { ChangeLog } from './change-log.js';
import { ReplicationMarks } from './mark-source.js';
import { Backfiller } from './backfill.js';
import { noteStreamed } from './backfill-marks.js';
import type { PullRequest, ValuesRequest } from './backfill-messages.js';
import type { WriteHint } from '../write-hint.js';
import { MajorityWaits, majorityShortfall } from './majority-waits.js';
import { StreamOutbox } from './outbox.js';
import { FailoverFence, isAhead } from './failover-fence.js';
import { Handover, handoverWaitMs } from './takeover.js';
import { LeftSeqnos, handedSeqnos } from './handed-seqnos.js';
import { PersistedAcks } from '../persisted-acks.js';
import { REPLICATION_DEFAULTS, type ReplicationOptions } from './options.js';
import {
  applyState, copyHolders, fetchSources, heldSeqnos, holdsUnit, isRecord, newReplicationCounters, isUint, unitsHeld, type ReplRecord, type ReplicationCounters,
} from './records.js';

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
 * Backfill (serving and copying pages, deltas) lives in backfill.ts; hinted handoff for
 * down replicas in handoff.ts; the batched outgoing stream (records, acks) in outbox.ts.
 */

export type { ReplicationCounters } from './records.js';

/** `backfill-ended`: a backfill finished or was given up; what `report()` says has changed. */
export class Replicator extends EventEmitter<{
  'backfill-ended': (units: number[]) => void;
  /**
   * Units whose history differed from their active's: rolled back to the newest point
   * both share and caught up by delta (`how: 'delta'`, `discarded` records dropped), or
   * dropped and copied again in full (`how: 'copy'`).
   */
  rollback: (info: { source: string; units: number[]; how: 'delta' | 'copy'; discarded: number }) => void;
  /** A hint replay delivered `count` held hints; `left` are still held. */
  'hint-replay': (info: { count: number; left: number }) => void;
  /** The units this node is the active of but must not serve yet changed: waiting for their handover (takeover.ts). */
  held: (units: ReadonlySet<number>) => void;
}> {
  readonly counters: ReplicationCounters = newReplicationCounters();
  private readonly options: ReplicationOptions;
  private map: ClusterMap | null = null;
  private self = -1;
  /** Last seqno assigned (active) or applied (replica), per unit. */
  private readonly seqs = new Map<number, number>();
  /** Recent records per unit, for delta recovery. */
  private readonly changes: ChangeLog;
  /** Unit seqnos, fingerprints and recent records, for the disk engine to commit with the data. */
  readonly marks: UnitMarkSource;
  /**
   * This node may have been failed over: data it holds may be behind or hold writes the
   * cluster lost. The next map it is back in makes it verify every unit it holds.
   */
  private isSuspect = false;
  /** Failed, or back and verifying: data of units not held is kept (not purged). */
  private isKeeping = false;
  /** This node has been in a map: until then its peers would refuse its dials. */
  private hasBeenPlaced = false;
  /** The peer whose stream last advanced each unit's seqno. */
  private readonly streamFrom = new Map<number, string>();
  private readonly fence = new FailoverFence();
  /** Units handed over at a switch, to this node and by it. */
  private readonly handover = new Handover({
    ask: (peer, at) => this.plane.send(peer, { t: 'hand?', at }),
    answer: (peer) => this.outbox.beacon(peer),
    onHeld: (units) => this.emit('held', units),
    waitMs: () => handoverWaitMs(this.leaseTermMs(), this.options.handoverWaitMs),
    isCopying: (unit) => this.backfiller.active.has(unit),
    seqOf: (unit) => this.seqs.get(unit) ?? 0,
    streamedFrom: (unit) => this.streamFrom.get(unit),
    keepsCopy: (peer, unit) => holdsUnit(this.map, this.nodeIndexByKey.get(peer) ?? -1, unit, new Map()),
    copyHolders: (unit) => copyHolders(this.map, this.self, unit),
    catchUp: (peer, units) => void this.backfiller.start(peer, units),
    counters: this.counters,
  });
  /** Seqnos of the units this node left lately: its handover answers still report them. */
  private readonly leftSeqs = new LeftSeqnos(() => 2 * handoverWaitMs(this.leaseTermMs(), this.options.handoverWaitMs));
  /** The term of the lease nodes serve under (ms), once a manager set one: bounds a handover wait. */
  leaseTermMs: () => number | null = () => null;
  /** `majority` writes waiting for their replicas' acknowledgements. */
  private readonly majority = new MajorityWaits();
  private readonly outbox: StreamOutbox;
  private readonly backfiller: Backfiller;
  private isClosed = false;
  private readonly handoff: HintedHandoff;
  /** Index in the current map of each node, by peer key. */
  private nodeIndexByKey = new Map<string, number>();
  /** persistMajority: what replicas have on disk, and the writes waiting for it. */
  private readonly persisted: PersistedAcks;

  /**
   * @param hints where this node keeps hints it holds for others; null turns hinted
   *   handoff off (records for a down replica are dropped and backfilled later)
   */
  constructor(private readonly engine: KvEngine, private readonly plane: PeerPlane, options: Partial<ReplicationOptions> = {}, hints: HintStore | null = null) {
    super();
    this.options = { ...REPLICATION_DEFAULTS, ...options };
    this.changes = new ChangeLog(this.options.changeLogBytes);
    this.marks = new ReplicationMarks(this.seqs, this.changes);
    this.persisted = new PersistedAcks(engine, (peer, flat) => this.plane.send(peer, { t: 'ack', a: [], p: flat }));
    plane.on('message', this.onMessage);
    plane.on('peer-down', this.onPeerDown);
    plane.on('peer-up', this.onPeerUp);
    const self = this;
    this.backfiller = new Backfiller({
      get map() { return self.map; },
      get self() { return self.self; },
      get isClosed() { return self.isClosed; },
      seqs: this.seqs,
      changes: this.changes,
      counters: this.counters,
      apply: (key, value, flags, expAt) => applyState(engine, key, value, flags, expAt),
      onBackfillEnded: (units) => {
        this.handover.onCopied(units);
        this.emit('backfill-ended', units);
      },
      onRollback: (source, units, how, discarded) => this.emit('rollback', { source, units, how, discarded }),
    }, engine, plane, this.options);
    this.handoff = new HintedHandoff({
      onHintsDelivered: (count, left) => this.emit('hint-replay', { count, left }),
      get map() { return self.map; },
      get self() { return self.self; },
      get nodeIndexByKey() { return self.nodeIndexByKey; },
      get isClosed() { return self.isClosed; },
      counters: this.counters,
      isBackfilling: (unit) => this.backfiller.active.has(unit),
      seqOf: (unit) => this.seqs.get(unit) ?? 0,
      setSeq: (unit, seq, record) => {
        this.seqs.set(unit, seq);
        this.changes.append(record);
        this.handover.advanced(unit);
      },
      apply: (key, value, flags, expAt) => applyState(engine, key, value, flags, expAt),
      backfill: (source, units) => void this.backfiller.start(source, units),
    }, plane, hints, this.options);
    this.outbox = new StreamOutbox({
      get epoch() { return self.map?.epoch ?? 0; },
      counters: this.counters,
      handedTo: (peer) => handedSeqnos(self.map, self.nodeIndexByKey.get(peer) ?? -1, self.seqs, self.leftSeqs),
    }, plane, this.handoff);
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
    // A node the map does not list yet is refused by every peer's firewall, and each
    // refused dial pushes hyperswarm's redial further out: dial once placed. A node that
    // left the map keeps its links (hints it holds may still be delivered).
    if (self >= 0) this.hasBeenPlaced = true;
    if (previous !== null) this.fence.note(previous, map);
    this.handover.follow(previous, map, self);
    const keys = map.nodes.filter((n, i) => i !== self && n.state !== 'failed' && n.peerKey !== null).map((n) => n.peerKey!);
    this.plane.setPeers(this.hasBeenPlaced ? keys : []);
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
    // A copy begun before this node may have been failed over proves nothing: again.
    if (isVerifying) for (const fill of this.backfiller.active.values()) fill.isTorn = true;
    const bySource = fetchSources(previous, map, self, held, (unit) => this.backfiller.active.has(unit));
    for (const [source, units] of bySource) void this.backfiller.start(source, units);
    // A newer epoch: acknowledge again, at it, what this node holds as a replica, so an
    // active waiting on a `majority` write it sent under this epoch counts this copy.
    if (previous !== null && map.epoch > previous.epoch) this.outbox.reack(map, self, this.seqs);
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

  /** Each unit's seqno and the fingerprint of its record there: what a warm restart keeps. */
  unitMarks(): Array<[number, number, string | null]> {
    return [...this.seqs].map(([unit, seq]) => [unit, seq, this.changes.printAt(unit, seq)]);
  }

  /**
   * Back from a warm restart with the items of a snapshot: take its seqnos and start each
   * unit's history at them, then verify every unit held in the next map, as after a
   * failover (delta when the history matches the active's, a full copy otherwise).
   */
  restoreMarks(marks: ReadonlyArray<[number, number, string | null]>, mayHoldUnmarked = false, histories: ReadonlyMap<number, HistoryEntry[]> = new Map()): void {
    // A disk engine may hold items of units it has no seqno for (killed while copying or
    // purging them): those are cleared before their copy, so no deleted key comes back.
    if (mayHoldUnmarked) this.backfiller.isClearingUnmarked = true;
    for (const [unit, seq, print] of marks) {
      this.seqs.set(unit, seq);
      // With its recent history from the disk, a unit whose last records the active does
      // not have rolls back by delta; with only its mark, it is copied in full.
      const history = histories.get(unit);
      if (history === undefined || !this.changes.restore(unit, history, seq)) this.changes.anchor(unit, seq, print);
    }
    this.markSuspect();
  }

  /** A unit's seqno now, for a backup (backup-op.ts); null while the unit is being copied here. */
  unitSeq(unit: number): number | null {
    return this.backfiller.active.has(unit) ? null : this.seqs.get(unit) ?? 0;
  }

  /** A unit's seqno now and its records after `since` (backup-op.ts); null when the log does not reach back that far. */
  unitChangesSince(unit: number, since: number): { seq: number; records: readonly ReplRecord[] } | null {
    if (this.backfiller.active.has(unit)) return null;
    const seq = this.seqs.get(unit) ?? 0;
    const records = this.changes.since(unit, since, seq);
    return records === null ? null : { seq, records };
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
    this.leftSeqs.prune();
    for (const [u, seq] of [...this.seqs]) {
      if (held.has(u) || this.backfiller.active.has(u)) continue;
      this.leftSeqs.note(u, seq, map?.unitBits ?? 0);
      this.seqs.delete(u);
      this.changes.drop(u);
      this.backfiller.residue.add(u);
    }
  }

  /** Units being backfilled now. */
  get backfilling(): number {
    return this.backfiller.active.size;
  }

  /**
   * Whether this node's copy of the unit holding `key` (a binary string) is whole: it has
   * the unit's seqno and is not copying, rolling back or verifying it. A replica read of
   * a unit whose copy is not whole could miss a key the active has.
   */
  isCopyWhole(key: string): boolean {
    const map = this.map;
    if (map === null) return false;
    const unit = unitOf(map, bucketOfBinary(key, map.bits));
    return this.seqs.has(unit) && !this.backfiller.active.has(unit) && !this.backfiller.residue.has(unit);
  }

  /** Units being copied here, records sent to replicas and not yet acknowledged (hinted if a link drops), peers whose link is up. */
  gauges(): { backfilling: number; unacked: number; peers_up: number } {
    return { backfilling: this.backfiller.active.size, unacked: this.handoff.unackedRecords, peers_up: this.plane.upPeers().length };
  }

  /**
   * After a successful write on the active: stream the key's new state to the replicas.
   * Resolves when the durability asked for is met; null when there is nothing to wait for.
   * `hint` is what the executor already knows (the bucket, the item as written), so the
   * key is not hashed again nor the item read back.
   */
  onWrite(key: string, durability: Durability, hint?: WriteHint): Promise<void> | null {
    const map = this.map;
    if (map === null) return null;
    const bucket = hint !== undefined && hint.bucket >= 0 && hint.bits === map.bits ? hint.bucket : bucketOfBinary(key, map.bits);
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
    const item = hint?.item === undefined ? this.engine.peek(key) : hint.item;
    const record: ReplRecord = [unit, seq, Buffer.from(key, 'latin1'), item?.value ?? null, item?.flags ?? 0, item?.expAt ?? 0];
    this.changes.append(record);
    if (chain.length < 2) return null;
    const peers: string[] = [];
    for (let i = 1; i < chain.length; i++) {
      const node = map.nodes[chain[i]!];
      if (node === undefined || node.peerKey === null || node.state === 'failed') continue;
      peers.push(node.peerKey);
      this.outbox.push(node.peerKey, record, durability === 'persistMajority');
    }
    if (durability !== 'majority' && durability !== 'persistMajority') return null;
    const need = Math.floor(chain.length / 2);
    const reachable = peers.filter((p) => this.plane.isUp(p));
    if (reachable.length < need) {
      return Promise.reject(KvError.unavailable(`majority needs ${need} replica(s) of unit ${unit}; ${reachable.length} reachable`, { isSafeToRetry: false }));
    }
    this.counters.majorityWaits++;
    if (durability === 'persistMajority') return this.persisted.wait(unit, seq, need, peers, this.options.majorityTimeoutMs);
    return this.majority.wait(unit, seq, map.epoch, need, peers, this.options.majorityTimeoutMs, () => { this.counters.majorityTimeouts++; });
  }

  /**
   * Why `durability` cannot be met for a write of `key` now (checked before the write
   * runs); null when it can. `majority` needs a majority of the unit's chain, the active
   * included, reachable over the peer plane at this node's epoch.
   */
  checkDurability(key: string, durability: Durability): string | null {
    const map = this.map;
    if (durability !== 'majority' || map === null) return null;
    return majorityShortfall(map, bucketOfBinary(key, map.bits), this.self, (peer) => this.plane.isUp(peer));
  }

  /** What the manager needs from this node: backfills under way and the seqno of every unit it holds. */
  report(): { backfilling: number; seqnos: number[]; copiedBytes: number } {
    return { backfilling: this.backfiller.active.size, seqnos: heldSeqnos(this.map, this.self, this.seqs), copiedBytes: this.counters.backfillBytes };
  }

  close(): void {
    this.isClosed = true;
    this.plane.off('message', this.onMessage);
    this.plane.off('peer-down', this.onPeerDown);
    this.plane.off('peer-up', this.onPeerUp);
    this.handoff.close();
    this.majority.close(KvError.unavailable('node shutting down'));
    this.persisted.close();
    this.handover.close();
    this.outbox.close();
  }

  private readonly onMessage = (peer: string, message: unknown, reply: PeerReply | undefined): void => {
    if (this.isClosed || message === null || typeof message !== 'object') return;
    const m = message as { t?: unknown };
    try {
      if (m.t === 'rep') this.onRecords(peer, (message as { r?: unknown }).r, (message as { e?: unknown }).e, (message as { u?: unknown }).u === 1);
      else if (m.t === 'ack') {
        this.onAcks(peer, (message as { a?: unknown }).a, (message as { e?: unknown }).e);
        this.persisted.onAcks(peer, (message as { p?: unknown }).p);
      }
      else if (m.t === 'pull' && reply !== undefined) reply(this.backfiller.serve(peer, message as PullRequest));
      else if (m.t === 'vals' && reply !== undefined) reply(this.backfiller.serveValues(peer, message as ValuesRequest));
      else if (m.t === 'hint' && reply !== undefined) this.handoff.onHintStore(peer, (message as { h?: unknown }).h, reply);
      else if (m.t === 'hrep' && reply !== undefined) reply({ s: this.handoff.applyHinted((message as { r?: unknown }).r, (message as { e?: unknown }).e) });
      // A request of no known kind: answered at once, so the requester does not wait out its deadline.
      else if (reply !== undefined) reply(KvError.badRequest(`unknown peer request ${JSON.stringify(String(m.t)).slice(0, 40)}`));
    } catch (err) {
      if (reply !== undefined) reply(err instanceof KvError ? err : KvError.badRequest(String(err)));
    }
    this.handover.onMessage(peer, message);
  };

  /**
   * Records from `peer`, sent at its map epoch `epoch`. Records of a unit whose active was
   * failed over, sent by that old active under an epoch before the failover, are refused
   * and not acknowledged: the unit's new active does not have that history (DESIGN §7).
   */
  private onRecords(peer: string, raw: unknown, epoch: unknown, isUrgent: boolean): void {
    if (!Array.isArray(raw)) return;
    const sentAt = isUint(epoch) ? epoch : 0;
    let acks: Map<number, number> | undefined;
    const held = new Map<number, boolean>();
    const ownActive = new Map<number, boolean>();
    for (const r of raw) {
      if (!isRecord(r)) continue;
      const [unit, seq, keyBytes, value, flags, expAt] = r;
      // The unit's active was failed over: what it still sends from before is history the
      // unit's new active does not have (Kafka's leader-epoch fencing). Or this node is
      // behind a map that made it the unit's replica (`isAhead`). Or the unit's new active
      // sent newer records first (`Handover.isLate`).
      const refused = this.fence.isStale(unit, peer, sentAt) ? 'staleRefused'
        : isAhead(this.map, this.self, unit, sentAt, ownActive) ? 'aheadRefused' : this.handover.isLate(unit, peer, sentAt) ? 'lateRefused' : null;
      if (refused !== null) {
        this.counters[refused]++;
        continue;
      }
      const fill = this.backfiller.active.get(unit);
      // A unit this node does not hold in the map it follows (the sender adopted a map that
      // adds this node first, or this node already left the chain): the record is not
      // applied. Taken, it would give the unit a seqno and a one-record history here, and
      // the backfill that follows once this node adopts the map would offer it as a shared
      // point and get only a delta after it: every key written before would be missing.
      // The backfill's snapshot, cut once the source streams to this node, has the key.
      if (fill === undefined && !holdsUnit(this.map, this.self, unit, held)) continue;
      const last = this.seqs.get(unit) ?? 0;
      const key = Buffer.from(keyBytes).toString('latin1');
      if (fill !== undefined) noteStreamed(fill, key, r);
      else if (seq !== last + 1 && seq > last) {
        // Records were missed (a dropped link, or a chain this node just joined): copy the unit.
        this.counters.gaps++;
        void this.backfiller.start(peer, [unit]);
        const started = this.backfiller.active.get(unit);
        if (started !== undefined) noteStreamed(started, key, r);
      }
      // A link never repeats a record, so an old seqno from the peer this unit follows is a
      // duplicate; from another peer it is a write the previous active accepted just before
      // a switch, which must not be lost.
      if (seq <= last && fill === undefined && this.streamFrom.get(unit) === peer) continue;
      applyState(this.engine, key, value, flags, expAt);
      this.counters.recordsApplied++;
      this.handover.applied(unit, peer, sentAt);
      if (seq > last) {
        this.seqs.set(unit, seq);
        this.streamFrom.set(unit, peer);
        if (this.backfiller.active.get(unit) === undefined) this.changes.append(r);
        this.handover.advanced(unit);
      }
      acks ??= new Map();
      acks.set(unit, Math.max(acks.get(unit) ?? 0, seq));
    }
    if (acks !== undefined) {
      this.outbox.ack(peer, acks);
      // A disk engine also says when these records are on its disk (for persistMajority):
      // at once when the active waits for it (`u`), else with the engine's next commit.
      if (this.engine.isDurable) this.persisted.reportWhenDurable(peer, acks, isUrgent);
    }
  }

  /**
   * Acknowledgements from `peer`, whose map was at `epoch`. They count towards a
   * `majority` write only when the copy had seen the write's epoch: a copy behind it
   * re-acknowledges once it adopts the map (see `reack`).
   */
  private onAcks(peer: string, raw: unknown, epoch: unknown): void {
    if (!Array.isArray(raw)) return;
    this.majority.onAcks(peer, raw, isUint(epoch) ? epoch : 0, (unit, seq) => this.handoff.untrack(peer, unit, seq));
  }

  private readonly onPeerDown = (peer: string): void => {
    this.majority.peerDown(peer);
    this.persisted.peerDown(peer);
    this.handoff.peerDown(peer);
  };

  private readonly onPeerUp = (peer: string): void => {
    this.handover.onPeerUp(peer);
    this.outbox.onPeerUp(peer);
    this.backfiller.onPeerUp(peer);
    this.handoff.replayIfAny();
  };
}

