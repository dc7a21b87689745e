import type { PeerPlane } from '../../peer/index.js';
import type { HintedHandoff } from './handoff.js';
import type { ClusterMap } from '../../../shared/cluster-map.js';
import { MESSAGE_BYTES, batches, recordBytes, unitChains, type ReplRecord, type ReplicationCounters } from './records.js';

/** What the outbox needs from the replicator. */
export interface OutboxHost {
  /** The epoch of the map this node follows now (0 before the first): stamped on every message. */
  readonly epoch: number;
  readonly counters: ReplicationCounters;
  /** This node's seqno of every unit `peer` is the active of, `[unit, seqno, …]`: carried by the `ep` it gets. */
  handedTo(peer: string): number[];
}

/** How often an `ep` the link did not take is sent again, and for how long. */
const BEACON_RETRY_MS = 100;
const BEACON_RETRY_FOR_MS = 60_000;

/**
 * The replication stream's outgoing side: records for replicas and acknowledgements for
 * actives, gathered per peer and sent once per microtask, so a burst of writes costs one
 * message per peer instead of one per write. A record a peer's link does not take (down,
 * or its queue full) is handed off as a hint; one it takes is kept until acknowledged.
 */
export class StreamOutbox {
  private readonly records = new Map<string, ReplRecord[]>();
  /** Peers some of whose waiting records come from persistMajority writes. */
  private readonly urgent = new Set<string>();
  private readonly acks = new Map<string, Map<number, number>>();
  /** Peers to tell this node's epoch (`{ t: 'ep' }`), after any records and acks for them. */
  private readonly beacons = new Set<string>();
  /** `ep`s the link did not take (down, or its queue full), by peer: when the first was refused. */
  private readonly unsent = new Map<string, number>();
  private retryTimer: NodeJS.Timeout | null = null;
  private isFlushScheduled = false;

  constructor(private readonly host: OutboxHost, private readonly plane: PeerPlane, private readonly handoff: HintedHandoff) {}

  /**
   * Stream `record` to replica `peer`. `isUrgent`: the write waits for the replica's disk
   * (persistMajority); its message says so (`u: 1`), and the replica commits at once.
   */
  push(peer: string, record: ReplRecord, isUrgent = false): void {
    if (isUrgent) this.urgent.add(peer);
    let box = this.records.get(peer);
    if (box === undefined) {
      box = [];
      this.records.set(peer, box);
    }
    box.push(record);
    this.scheduleFlush();
  }

  /** Acknowledge to active `peer` that this node holds each unit up to its seqno (the highest wins). */
  ack(peer: string, seqs: ReadonlyMap<number, number>): void {
    if (seqs.size === 0) return;
    let mine = this.acks.get(peer);
    if (mine === undefined) {
      mine = new Map();
      this.acks.set(peer, mine);
    }
    for (const [unit, seq] of seqs) if (seq > (mine.get(unit) ?? 0)) mine.set(unit, seq);
    this.scheduleFlush();
  }

  /** Acknowledge to each active of `map` every unit this node (`self`) is a replica of, at its seqno in `seqs`. */
  reack(map: ClusterMap, self: number, seqs: ReadonlyMap<number, number>): void {
    const byActive = new Map<string, Map<number, number>>();
    for (const [unit, chain] of unitChains(map)) {
      if (chain.indexOf(self) <= 0) continue;
      const seq = seqs.get(unit);
      const active = map.nodes[chain[0]!]?.peerKey ?? null;
      if (seq === undefined || active === null) continue;
      let acks = byActive.get(active);
      if (acks === undefined) {
        acks = new Map();
        byActive.set(active, acks);
      }
      acks.set(unit, seq);
    }
    for (const [active, acks] of byActive) this.ack(active, acks);
  }

  /**
   * Tell `peer` this node's map epoch, after every record already queued for it: a unit's
   * new active learns that this node handed the unit over (takeover.ts).
   */
  beacon(peer: string): void {
    this.beacons.add(peer);
    this.scheduleFlush();
  }

  /** The link to `peer` is up: an `ep` it did not take goes now. */
  onPeerUp(peer: string): void {
    if (this.unsent.has(peer)) this.beacon(peer);
  }

  close(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.unsent.clear();
  }

  /** Send the `ep`s the links did not take again, every BEACON_RETRY_MS while any is left. */
  private scheduleRetry(): void {
    if (this.retryTimer !== null || this.unsent.size === 0) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      const now = Date.now();
      for (const [peer, since] of this.unsent) {
        if (now - since > BEACON_RETRY_FOR_MS) this.unsent.delete(peer);
        else this.beacons.add(peer);
      }
      if (this.beacons.size > 0) this.scheduleFlush();
    }, BEACON_RETRY_MS);
    this.retryTimer.unref();
  }

  private scheduleFlush(): void {
    if (this.isFlushScheduled) return;
    this.isFlushScheduled = true;
    queueMicrotask(this.flush);
  }

  private readonly flush = (): void => {
    this.isFlushScheduled = false;
    const { counters, epoch } = this.host;
    for (const [peer, records] of this.records) {
      const isUrgent = this.urgent.has(peer);
      for (const batch of batches(records, MESSAGE_BYTES, 1 << 16, recordBytes)) {
        if (this.plane.send(peer, isUrgent ? { t: 'rep', r: batch, e: epoch, u: 1 } : { t: 'rep', r: batch, e: epoch })) {
          counters.recordsSent += batch.length;
          this.handoff.track(peer, batch);
        } else {
          // Down or its queue is full: the records go to a fallback as hints.
          this.handoff.handOff(peer, batch);
        }
      }
    }
    this.records.clear();
    this.urgent.clear();
    for (const [peer, units] of this.acks) {
      const flat: number[] = [];
      for (const [unit, seq] of units) flat.push(unit, seq);
      if (this.plane.send(peer, { t: 'ack', a: flat, e: epoch })) counters.acksSent++;
    }
    this.acks.clear();
    // Each unit's seqno as of the records queued before it: a peer that lacks some of them
    // (hinted, or lost with the link) copies them before it serves the unit (takeover.ts).
    for (const peer of this.beacons) {
      if (this.plane.send(peer, { t: 'ep', e: epoch, s: this.host.handedTo(peer) })) this.unsent.delete(peer);
      else if (!this.unsent.has(peer)) this.unsent.set(peer, Date.now());
    }
    this.beacons.clear();
    this.scheduleRetry();
  };
}
