import { performance } from 'node:perf_hooks';
import type { ClusterMap } from '../../../shared/cluster-map.js';
import { isUint, unitChains, type ReplicationCounters } from './records.js';

/** What the handover needs from the replicator. */
export interface HandoverHost {
  /** Send `peer` a request to hand over the units it was the active of before `epoch` (`{ t: 'hand?', at }`). */
  ask(peer: string, epoch: number): void;
  /** Tell `peer` this node's epoch (`{ t: 'ep' }`), after every record already queued for it (outbox.ts). */
  answer(peer: string): void;
  /** The units held changed (some were held, or released). */
  onHeld(units: ReadonlySet<number>): void;
  /** Longest a unit is held, ms. */
  waitMs(): number;
  readonly counters: ReplicationCounters;
}

/**
 * How long a unit is held at most: past the lease term nodes serve under (`leaseTermMs`,
 * with room for clocks that run at slightly different rates), a previous active that has
 * not adopted the map that took the unit away has stopped serving: its lease renewals
 * are acknowledged at that map's epoch, after the map (map-service.ts). `fallbackMs`
 * without a lease.
 */
export function handoverWaitMs(leaseTermMs: number | null, fallbackMs: number): number {
  return leaseTermMs === null ? fallbackMs : Math.ceil(leaseTermMs * 1.05);
}

/** A unit held: the peers that must hand it over, the epoch they must be at, and when the wait ends. */
interface Pending {
  peers: Set<string>;
  epoch: number;
  until: number;
}

/**
 * The handover at the switch of a move (DESIGN §5), or of a graceful failover.
 *
 * Maps reach nodes in any order: the unit's new active may follow the switched map while
 * its previous active still follows the one before, where it is the active, and takes
 * writes from clients on that map. Its records reach the new active late. Applied over what
 * the new active wrote meanwhile, they revert acknowledged writes; refused, the writes the
 * previous active acknowledged are lost.
 *
 * So the new active does not serve such a unit until the previous active has handed it
 * over. It asks (`{ t: 'hand?', at: E }`, E the epoch of the map that made it the active),
 * again whenever the link comes up. The previous active answers once it follows a map of
 * epoch E or later, where it takes no more writes for the unit: with a message at its
 * epoch (`{ t: 'ep' }`) sent after every record it queued for the new active, on the same
 * ordered link. Any message of its at E or later releases the unit, records included.
 * Until then the new active applies its records as a replica does.
 *
 * Whom to ask: the unit's active in the map this node followed before, when that map is
 * the one the switch came from (epoch E − 1). A node that missed maps (back from a
 * partition or cut off from its manager) cannot tell who was the active at E − 1: it asks
 * every live node. A node's first map (it just started) holds nothing.
 *
 * A unit is released without a handover when a map shows the peers it waits for failed or
 * gone (epoch fencing refuses their late records: failover-fence.ts), when this node is no
 * longer its active, and at the latest after `waitMs`: the lease term, past which a node
 * that has not adopted the new map has stopped serving (lease.ts), so that a unit is never
 * held for a peer that is alive but cannot be reached.
 *
 * A copy may still get a previous active's record after the new active's (`isLate`).
 */
export class Handover {
  private readonly pending = new Map<number, Pending>();
  /** Peers that asked for a handover at an epoch this node has not reached yet: answered once it does. */
  private readonly requests = new Map<string, number>();
  /** Per unit: the newest epoch of the records applied here, and who sent them (`isLate`). */
  private readonly newest = new Map<number, { epoch: number; peer: string }>();
  private epoch = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly host: HandoverHost, private readonly now: () => number = () => performance.now()) {}

  /** Units this node is the active of in its map but does not serve yet. */
  get held(): ReadonlySet<number> {
    return new Set(this.pending.keys());
  }

  /**
   * Follow `map`, which `self` adopts after `previous`: answer the peers waiting for this
   * epoch, release the units no longer this node's or whose peers are gone, and hold (and
   * ask for) the units it takes over from live nodes.
   */
  follow(previous: ClusterMap | null, map: ClusterMap, self: number): void {
    this.epoch = map.epoch;
    for (const [peer, epoch] of this.requests) {
      if (epoch > map.epoch) continue;
      this.requests.delete(peer);
      this.host.answer(peer);
    }
    let isChanged = false;
    // Units were split: their numbers mean other buckets now.
    if (previous !== null && previous.unitBits !== map.unitBits) {
      isChanged = this.pending.size > 0;
      this.pending.clear();
      this.newest.clear();
    }
    const me = self < 0 ? undefined : map.nodes[self];
    const live = new Set(map.nodes.filter((n) => n.state !== 'failed' && n.peerKey !== null && n !== me).map((n) => n.peerKey!));
    const chains = unitChains(map);
    for (const [unit, p] of this.pending) {
      for (const peer of p.peers) if (!live.has(peer)) p.peers.delete(peer);
      if (chains[unit]?.[1][0] === self && p.peers.size > 0) continue;
      this.pending.delete(unit);
      isChanged = true;
    }
    if (previous !== null && me !== undefined && me.state !== 'failed' && map.epoch > previous.epoch && previous.unitBits === map.unitBits) {
      const asked = this.takeOver(previous, map, self, live, chains);
      for (const peer of asked) this.host.ask(peer, map.epoch);
      if (asked.size > 0) isChanged = true;
    }
    if (isChanged) this.changed();
  }

  /** Hold the units `self` is the active of in `map` and was not in `previous`; returns the peers to ask. */
  private takeOver(previous: ClusterMap, map: ClusterMap, self: number, live: ReadonlySet<string>, chains: Array<[number, readonly number[]]>): Set<string> {
    const asked = new Set<string>();
    const isStale = previous.epoch !== map.epoch - 1;
    const before = unitChains(previous);
    const id = map.nodes[self]!.id;
    const until = this.now() + this.host.waitMs();
    for (const [unit, chain] of chains) {
      if (chain[0] !== self || this.pending.has(unit)) continue;
      const was = before[unit]?.[1][0];
      const from = was === undefined ? undefined : previous.nodes[was];
      if (from?.id === id) continue;
      let peers: Set<string>;
      if (isStale) peers = new Set(live);
      else if (from !== undefined && from.peerKey !== null && live.has(from.peerKey)) peers = new Set([from.peerKey]);
      else continue;
      if (peers.size === 0) continue;
      this.pending.set(unit, { peers, epoch: map.epoch, until });
      this.host.counters.handoverWaits++;
      for (const peer of peers) asked.add(peer);
    }
    return asked;
  }

  /**
   * A message from `peer`: a request for a handover, or, at its map's epoch, anything it
   * sent after its records from before (records, acks, `ep`). A hint's epoch is the one it
   * was made at, not its sender's.
   */
  onMessage(peer: string, message: unknown): void {
    const { t, e: epoch, at } = message as { t?: unknown; e?: unknown; at?: unknown };
    if (t === 'hand?') {
      if (!isUint(at)) return;
      if (at <= this.epoch) this.host.answer(peer);
      else this.requests.set(peer, Math.max(at, this.requests.get(peer) ?? 0));
      return;
    }
    if (this.pending.size === 0 || t === 'hrep' || typeof epoch !== 'number') return;
    let isReleased = false;
    for (const [unit, p] of this.pending) {
      if (epoch < p.epoch || !p.peers.delete(peer) || p.peers.size > 0) continue;
      this.pending.delete(unit);
      isReleased = true;
    }
    if (isReleased) this.changed();
  }

  /** The link to `peer` is up: ask it again (a request or its answer may have been lost with the link). */
  onPeerUp(peer: string): void {
    let epoch = -1;
    for (const p of this.pending.values()) if (p.peers.has(peer)) epoch = Math.max(epoch, p.epoch);
    if (epoch >= 0) this.host.ask(peer, epoch);
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * True for a record of `unit` that `peer` sent at `sentAt`, when another node sent this
   * copy records of the unit under a newer epoch. It comes from a previous active that had
   * not handed the unit over yet when it sent it, and arrives after the new active's
   * records: the new active had it before it wrote, and it may be older than what that
   * node wrote since. The copy refuses it; the gap it leaves makes the copy catch up from
   * the new active.
   */
  isLate(unit: number, peer: string, sentAt: number): boolean {
    const n = this.newest.get(unit);
    return n !== undefined && sentAt < n.epoch && n.peer !== peer;
  }

  /** A record of `unit` from `peer` at `sentAt` was applied. */
  applied(unit: number, peer: string, sentAt: number): void {
    const n = this.newest.get(unit);
    if (n === undefined || sentAt > n.epoch) this.newest.set(unit, { epoch: sentAt, peer });
    else if (sentAt === n.epoch) n.peer = peer;
  }

  /** Tell the host, and wake up when the first wait still running ends. */
  private changed(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    let first = Infinity;
    for (const p of this.pending.values()) first = Math.min(first, p.until);
    if (first !== Infinity) {
      this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(first - this.now())) + 1);
      this.timer.unref();
    }
    this.host.onHeld(this.held);
  }

  /** Waits that ran out: their units are served without a handover. */
  private readonly onTimer = (): void => {
    this.timer = null;
    const now = this.now();
    for (const [unit, p] of this.pending) {
      if (p.until > now) continue;
      this.pending.delete(unit);
      this.host.counters.handoverTimeouts++;
    }
    this.changed();
  };
}
