import { performance } from 'node:perf_hooks';
import type { ClusterMap } from '../../../shared/cluster-map.js';
import { isUint, unitChains, type ReplicationCounters } from './records.js';
import { seqnosOf } from './handed-seqnos.js';

/** What the handover needs from the replicator. */
export interface HandoverHost {
  /**
   * Send `peer` a request to hand over the units it was the active of before `epoch`
   * (`{ t: 'hand?', at }`); false when its link did not take it.
   */
  ask(peer: string, epoch: number): boolean;
  /**
   * Tell `peer` this node's epoch and its seqno of every unit `peer` is the active of
   * (`{ t: 'ep', e, s }`), after every record already queued for it (outbox.ts).
   */
  answer(peer: string): void;
  /** The units held changed (some were held, or released). */
  onHeld(units: ReadonlySet<number>): void;
  /** Longest a unit is held waiting for its peers, ms. */
  waitMs(): number;
  /** True while `unit` is being copied to this node (backfill.ts). */
  isCopying(unit: number): boolean;
  /** This node's seqno of `unit`. */
  seqOf(unit: number): number;
  /** The peer whose stream last advanced `unit`'s seqno here, if any. */
  streamedFrom(unit: number): string | undefined;
  /**
   * True when `peer` holds a copy of `unit` in this node's map: it keeps the unit's history
   * and data, so this node can copy from it what it lacks. A node out of the unit's chain
   * forgets them at once, and a copy from it would clear this node's.
   */
  keepsCopy(peer: string, unit: number): boolean;
  /** The other live nodes that hold a copy of `unit` in this node's map (its replicas). */
  copyHolders(unit: number): string[];
  /** Bring `units` up to `peer`'s seqnos: copy them from it (a delta from its change log when the histories match). */
  catchUp(peer: string, units: number[]): void;
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
  /** When the wait for the peers ends (Infinity once none is left to wait for). */
  until: number;
  /** When the wait for the peers ends, however long a copy holds the unit meanwhile. */
  deadline: number;
  /** The highest seqno of the unit among the peers that handed it over: this node serves it once it has that. */
  need: number;
  /** The peer that had `need`: the unit is copied from it if this node is behind. */
  from: string | null;
  /** A copy from `from` was started to catch up: whatever it brought, the next settle serves. */
  isCaughtUp: boolean;
  /** The wait ran out before every peer handed the unit over. */
  isTimedOut: boolean;
  /** Behind `need`, and `from` keeps no copy: the unit's replicas were asked for their seqnos. */
  isAskingCopies: boolean;
  /** When the unit was held. */
  heldAt: number;
}

/** How soon a request for a handover that a live link did not take is sent again, ms. */
const ASK_RETRY_MS = 100;
/**
 * Epochs ahead of this node kept per asking peer. A peer has one or two outstanding; a
 * peer sending more (a bug, or hostile) has its newest dropped: that peer then waits for
 * its handover until its wait ends, and this node's memory stays bounded.
 */
const MAX_ASKS_PER_PEER = 16;

/** Stands for this node in `newest`: the unit was released without its previous active's handover. */
const SELF = '';

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
 * epoch (`{ t: 'ep', e, s }`) sent after every record it queued for the new active, on the
 * same ordered link, that carries its seqno of each unit the asker is now the active of.
 * Records that went another way (refused by a full or down link and hinted, or sent and
 * lost with the link) are not before it: the new active compares the seqnos with its own
 * and first copies what it lacks from the previous active (a delta from its change log).
 * A previous active that left the unit's chain keeps no copy (it reports the seqno the
 * unit left at: `LeftSeqnos`): the new active asks the unit's replicas for their seqnos
 * and copies from one that has it. A unit whose seqno gets there another way (a hint
 * replayed) is served at once (`advanced`).
 * Until then it applies its records as a replica does. A unit being copied here is not
 * served before the copy ends, however it was handed over: the copy would overwrite, or
 * clear, what it wrote meanwhile.
 *
 * Whom to ask: the unit's active in the map this node followed before, when that map is
 * the one the switch came from (epoch E − 1). A node that missed maps (back from a
 * partition or cut off from its manager) cannot tell who was the active at E − 1: it asks
 * every live node, for every unit it is the active of. A node's first map (it just
 * started) holds nothing.
 *
 * A unit is released without a handover when a map shows the peers it waits for failed or
 * gone (epoch fencing refuses their late records: failover-fence.ts), when this node is no
 * longer its active, and at the latest after `waitMs`: the lease term, past which a node
 * that has not adopted the new map has stopped serving (lease.ts), so that a unit is never
 * held for a peer that is alive but cannot be reached. Records a peer sent before E that
 * come after such a release are refused (`isLate`).
 *
 * A copy may still get a previous active's record after the new active's (`isLate`).
 */
export class Handover {
  private readonly pending = new Map<number, Pending>();
  /** Epochs peers asked for a handover at that this node has not reached yet: each is answered once it does. */
  private readonly requests = new Map<string, Set<number>>();
  /** Per unit: the newest epoch of the records applied here, and who sent them (`isLate`). */
  private newest = new Map<number, { epoch: number; peer: string }>();
  private epoch = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Requests for a handover a link did not take, by peer, with the epoch: sent again. */
  private readonly unasked = new Map<string, number>();
  private askTimer: NodeJS.Timeout | null = null;

  constructor(private readonly host: HandoverHost, private readonly now: () => number = () => performance.now()) {}

  /** Requests for a handover kept until this node reaches their epoch, all peers together. */
  get waitingAsks(): number {
    let n = 0;
    for (const epochs of this.requests.values()) n += epochs.size;
    return n;
  }

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
    for (const [peer, epochs] of this.requests) {
      let isDue = false;
      for (const e of epochs) {
        if (e > map.epoch) continue;
        epochs.delete(e);
        isDue = true;
      }
      if (epochs.size === 0) this.requests.delete(peer);
      if (isDue) this.host.answer(peer);
    }
    let isChanged = false;
    // Units were split (unitBits only grows): unit u is units [u·2^d, (u+1)·2^d) now.
    if (previous !== null && previous.unitBits !== map.unitBits) this.split(map.unitBits - previous.unitBits);
    const me = self < 0 ? undefined : map.nodes[self];
    const live = new Set(map.nodes.filter((n) => n.state !== 'failed' && n.peerKey !== null && n !== me).map((n) => n.peerKey!));
    const chains = unitChains(map);
    const settle: number[] = [];
    for (const [unit, p] of this.pending) {
      for (const peer of p.peers) if (!live.has(peer)) p.peers.delete(peer);
      if (chains[unit]?.[1][0] !== self) {
        this.pending.delete(unit);
        isChanged = true;
      } else if (p.peers.size === 0) settle.push(unit);
    }
    if (previous !== null && me !== undefined && me.state !== 'failed' && map.epoch > previous.epoch && previous.unitBits <= map.unitBits) {
      const asked = this.takeOver(previous, map, self, live, chains);
      for (const [peer, epoch] of asked) this.ask(peer, epoch);
      if (asked.size > 0) isChanged = true;
    }
    if (this.settle(settle) || isChanged) this.changed();
  }

  /** Every unit number after units were split `d` times: pending holds and `newest` follow their buckets. */
  private split(d: number): void {
    if (d <= 0) {
      // Units never merge; should a map do it, what is known per unit no longer applies.
      this.pending.clear();
      this.newest.clear();
      return;
    }
    const n = 2 ** d;
    const pending = [...this.pending];
    this.pending.clear();
    for (const [unit, p] of pending) {
      for (let v = unit * n; v < (unit + 1) * n; v++) this.pending.set(v, { ...p, peers: new Set(p.peers) });
    }
    const newest = new Map<number, { epoch: number; peer: string }>();
    for (const [unit, x] of this.newest) for (let v = unit * n; v < (unit + 1) * n; v++) newest.set(v, { ...x });
    this.newest = newest;
  }

  /**
   * Hold the units `self` is the active of in `map` and was not in `previous` (every unit
   * it is the active of when it missed maps); returns the peers to ask, with the epoch.
   */
  private takeOver(previous: ClusterMap, map: ClusterMap, self: number, live: ReadonlySet<string>, chains: Array<[number, readonly number[]]>): Map<string, number> {
    const asked = new Map<string, number>();
    const isStale = previous.epoch !== map.epoch - 1;
    // `previous` as units of `map`'s size (a map may split units and move them at once).
    const before = unitChains(previous, map.unitBits);
    const id = map.nodes[self]!.id;
    const heldAt = this.now();
    const until = heldAt + this.host.waitMs();
    for (const [unit, chain] of chains) {
      if (chain[0] !== self || this.pending.has(unit)) continue;
      const was = before[unit]?.[1][0];
      const from = was === undefined ? undefined : previous.nodes[was];
      // After missed maps it may have been the active in between, and another node since.
      if (from?.id === id && !isStale) continue;
      let peers: Set<string>;
      if (isStale) peers = new Set(live);
      else if (from !== undefined && from.peerKey !== null && live.has(from.peerKey)) peers = new Set([from.peerKey]);
      else continue;
      if (peers.size === 0) continue;
      this.pending.set(unit, { peers, epoch: map.epoch, until, deadline: until, need: 0, from: null, isCaughtUp: false, isTimedOut: false, isAskingCopies: false, heldAt });
      this.host.counters.handoverWaits++;
      for (const peer of peers) asked.set(peer, map.epoch);
    }
    return asked;
  }

  /**
   * A message from `peer`: a request for a handover, or its answer (`ep`, at its map's
   * epoch, with its seqno of each unit handed over; without seqnos from a node that does
   * not send them).
   */
  onMessage(peer: string, message: unknown): void {
    if (message === null || typeof message !== 'object') return;
    const { t, e: epoch, at, s } = message as { t?: unknown; e?: unknown; at?: unknown; s?: unknown };
    if (t === 'hand?') {
      if (!isUint(at)) return;
      if (at <= this.epoch) this.host.answer(peer);
      else {
        const epochs = this.requests.get(peer) ?? new Set<number>();
        if (epochs.size < MAX_ASKS_PER_PEER) epochs.add(at);
        this.requests.set(peer, epochs);
      }
      return;
    }
    if (t !== 'ep' || this.pending.size === 0 || !isUint(epoch)) return;
    const seqs = seqnosOf(s);
    const settle: number[] = [];
    const behind = new Map<string, number[]>();
    for (const [unit, p] of this.pending) {
      if (epoch < p.epoch) continue;
      if (!p.peers.has(peer)) {
        // A replica that has what the previous active had: the copy comes from it.
        const theirs = seqs?.get(unit);
        if (p.isAskingCopies && !p.isCaughtUp && !p.isTimedOut && theirs !== undefined && theirs >= p.need && this.host.keepsCopy(peer, unit)) {
          p.isCaughtUp = true;
          p.until = Infinity;
          const list = behind.get(peer) ?? [];
          list.push(unit);
          behind.set(peer, list);
        }
        continue;
      }
      const theirs = seqs?.get(unit);
      if (theirs !== undefined) {
        // Below what this node already applied from that peer's own stream: its numbering
        // started over (restarted without its data) or was rolled back. Which of its
        // records this node lacks cannot be told from seqnos: no handover (the wait ends it).
        if (theirs < this.host.seqOf(unit) && this.host.streamedFrom(unit) === peer) continue;
        if (theirs > p.need) {
          p.need = theirs;
          p.from = peer;
        }
      }
      p.peers.delete(peer);
      if (p.peers.size === 0) settle.push(unit);
    }
    const isReleased = this.settle(settle);
    for (const [from, list] of behind) this.host.catchUp(from, list);
    if (isReleased || behind.size > 0) this.changed();
  }

  /**
   * `unit`'s seqno here went up (a record streamed or a hint replayed): a unit held only
   * because it was behind what its previous active handed over is served once it has it.
   */
  advanced(unit: number): void {
    if (this.pending.size === 0) return;
    const p = this.pending.get(unit);
    if (p === undefined || p.peers.size > 0 || p.need === 0 || this.host.seqOf(unit) < p.need) return;
    if (this.settle([unit])) this.changed();
  }

  /** Copies of `units` to this node ended (done or given up): units handed over meanwhile may be served. */
  onCopied(units: readonly number[]): void {
    const settle = units.filter((u) => this.pending.get(u)?.peers.size === 0);
    if (this.settle(settle)) this.changed();
  }

  /**
   * Units no peer is waited for any more: served, unless being copied here (released when
   * the copy ends) or behind the seqno a peer handed them over at: copied from it first
   * (once) when it still holds a copy of the unit, else held until the wait ends. Returns
   * whether any was released.
   */
  private settle(units: readonly number[]): boolean {
    const behind = new Map<string, number[]>();
    let isReleased = false;
    for (const unit of units) {
      const p = this.pending.get(unit);
      if (p === undefined || p.peers.size > 0) continue;
      if (this.host.isCopying(unit)) {
        p.until = Infinity;
        continue;
      }
      if (!p.isTimedOut && !p.isCaughtUp && p.from !== null && this.host.seqOf(unit) < p.need) {
        if (!this.host.keepsCopy(p.from, unit)) {
          // The previous active left the unit's chain: it forgot the unit's history and
          // data. What it sent the replicas (or what a fallback node replays as hints) is
          // there: ask them for their seqnos, copy from one that has it; else the wait ends it.
          p.until = p.deadline;
          if (!p.isAskingCopies) {
            p.isAskingCopies = true;
            for (const peer of this.host.copyHolders(unit)) this.ask(peer, p.epoch);
          }
          continue;
        }
        p.isCaughtUp = true;
        p.until = Infinity;
        const list = behind.get(p.from) ?? [];
        list.push(unit);
        behind.set(p.from, list);
        continue;
      }
      this.pending.delete(unit);
      isReleased = true;
      const heldMs = this.now() - p.heldAt;
      this.host.counters.handoverHeldMs += heldMs;
      this.host.counters.handoverHeldMsMax = Math.max(this.host.counters.handoverHeldMsMax, heldMs);
      if (p.isTimedOut) {
        this.host.counters.handoverTimeouts++;
        // Whatever the previous active sent before this epoch comes late now: refused.
        this.newest.set(unit, { epoch: p.epoch, peer: SELF });
      }
    }
    // The copy may end at once (and call onCopied): after this pass.
    for (const [peer, list] of behind) this.host.catchUp(peer, list);
    return isReleased;
  }

  /** The link to `peer` is up: ask it again (a request or its answer may have been lost with the link). */
  onPeerUp(peer: string): void {
    const epoch = this.awaitedAt(peer);
    if (epoch >= 0) this.ask(peer, epoch);
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.askTimer !== null) clearTimeout(this.askTimer);
    this.askTimer = null;
    this.unasked.clear();
  }

  /** The newest epoch a held unit waits on `peer` at, as a previous active or as a replica asked for its seqnos; −1: none. */
  private awaitedAt(peer: string): number {
    let epoch = -1;
    for (const [unit, p] of this.pending) {
      if (p.peers.has(peer) || (p.isAskingCopies && !p.isCaughtUp && this.host.keepsCopy(peer, unit))) epoch = Math.max(epoch, p.epoch);
    }
    return epoch;
  }

  /** Ask `peer` for a handover at `epoch`; a live link that does not take it is asked again shortly. */
  private ask(peer: string, epoch: number): void {
    if (this.host.ask(peer, epoch)) return;
    this.unasked.set(peer, Math.max(epoch, this.unasked.get(peer) ?? -1));
    if (this.askTimer === null) {
      this.askTimer = setTimeout(this.onAskTimer, ASK_RETRY_MS);
      this.askTimer.unref();
    }
  }

  private readonly onAskTimer = (): void => {
    this.askTimer = null;
    const unasked = [...this.unasked];
    this.unasked.clear();
    for (const [peer, epoch] of unasked) {
      // Asked again only while a held unit still waits on it.
      if (this.awaitedAt(peer) >= 0) this.ask(peer, epoch);
    }
  };

  /**
   * True for a record of `unit` that `peer` sent at `sentAt`, when another node sent this
   * copy records of the unit under a newer epoch (or this node took the unit over without a
   * handover at that epoch). It comes from a previous active that had not handed the unit
   * over yet when it sent it, and arrives after the new active's records: the new active
   * had it before it wrote, and it may be older than what that node wrote since. The copy
   * refuses it; the gap it leaves makes the copy catch up from the new active.
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

  /** Waits that ran out: their units are served without a handover (once any copy of them here ends). */
  private readonly onTimer = (): void => {
    this.timer = null;
    const now = this.now();
    const settle: number[] = [];
    for (const [unit, p] of this.pending) {
      if (p.until > now) continue;
      p.isTimedOut = true;
      p.peers.clear();
      settle.push(unit);
    }
    this.settle(settle);
    this.changed();
  };
}
