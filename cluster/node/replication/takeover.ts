import type { ClusterMap } from '../../../shared/cluster-map.js';
import { previousActive, unitChains } from './records.js';

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
 * over: once that node adopts a map in which it is no longer the unit's active, it takes no
 * more writes for it and sends the new active a message at that map's epoch (`{ t: 'ep' }`),
 * after its last records on the same ordered link. Any message of its at that epoch or a
 * later one does. Until then the new active applies its records as a replica does. A
 * previous active that a map shows failed or that leaves the map hands nothing over: epoch
 * fencing refuses its late records instead (failover-fence.ts).
 *
 * A copy may still get a previous active's record after the new active's (`isLate`).
 */
export class Handover {
  /** Per unit held: the previous active's peer key, and the epoch its handover must be at. */
  private readonly pending = new Map<number, { peer: string; epoch: number }>();
  /** Per unit: the newest epoch of the records applied here, and who sent them (`isLate`). */
  private readonly newest = new Map<number, { epoch: number; peer: string }>();
  private isFollowing = false;

  /** @param beacon tell a peer this node's epoch after the records queued for it (outbox.ts) */
  constructor(private readonly beacon: (peer: string) => void) {}

  /** Units this node is the active of in its map but does not serve yet. */
  get held(): ReadonlySet<number> {
    return new Set(this.pending.keys());
  }

  /**
   * Follow `map`, which `self` adopts after `previous`: hand over the units this node is
   * no longer the active of, hold the units it takes over from a live node, release those
   * whose previous active is gone or that are no longer this node's. Returns whether the
   * units held changed.
   */
  follow(previous: ClusterMap | null, map: ClusterMap, self: number): boolean {
    this.isFollowing = true;
    if (previous !== null && map.epoch > previous.epoch) for (const peer of handoverPeers(previous, map, self)) this.beacon(peer);
    const before = this.pending.size;
    if (previous !== null && previous.unitBits !== map.unitBits) this.pending.clear();
    const live = new Set(map.nodes.filter((n) => n.state !== 'failed' && n.peerKey !== null).map((n) => n.peerKey!));
    const chains = unitChains(map);
    for (const [unit, { peer }] of this.pending) {
      if (chains[unit]?.[1][0] !== self || !live.has(peer)) this.pending.delete(unit);
    }
    let isChanged = this.pending.size !== before;
    if (previous === null || self < 0 || map.epoch <= previous.epoch || previous.unitBits !== map.unitBits) return isChanged;
    for (const [unit, chain] of chains) {
      if (chain[0] !== self || this.pending.has(unit)) continue;
      const from = previousActive(previous, unit, map);
      const peer = from < 0 ? null : previous.nodes[from]!.peerKey;
      if (peer === null || peer === map.nodes[self]!.peerKey || !live.has(peer)) continue;
      this.pending.set(unit, { peer, epoch: map.epoch });
      isChanged = true;
    }
    return isChanged;
  }

  /**
   * A message from `peer`. Whatever a peer sends at its map's epoch (records, acks, `ep`), it
   * sent after its records from before: the units it handed over at that epoch are
   * released. A hint's epoch is the one it was made at, not its sender's. Returns whether
   * any unit was released.
   */
  onMessage(peer: string, message: unknown): boolean {
    const { t, e: epoch } = message as { t?: unknown; e?: unknown };
    if (this.pending.size === 0 || t === 'hrep' || typeof epoch !== 'number') return false;
    let isReleased = false;
    for (const [unit, p] of this.pending) {
      if (p.peer !== peer || epoch < p.epoch) continue;
      this.pending.delete(unit);
      isReleased = true;
    }
    return isReleased;
  }

  /** The link to `peer` is up: a handover sent while it was down, or before a restart, is repeated. */
  onPeerUp(peer: string): void {
    if (this.isFollowing) this.beacon(peer);
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

}

/**
 * The peers `self` hands units over to on adopting `map` after `previous`: the new actives
 * of the units it was the active of there and is not in `map`.
 */
function handoverPeers(previous: ClusterMap, map: ClusterMap, self: number): Set<string> {
  const out = new Set<string>();
  if (previous.unitBits !== map.unitBits) return out;
  const before = unitChains(previous);
  const selfKey = self < 0 ? null : map.nodes[self]!.peerKey;
  for (const [unit, chain] of unitChains(map)) {
    const was = before[unit]?.[1][0];
    if (was === undefined || previous.nodes[was]?.peerKey !== selfKey || selfKey === null || chain[0] === self) continue;
    const to = chain[0] === undefined ? null : map.nodes[chain[0]]?.peerKey ?? null;
    if (to !== null) out.add(to);
  }
  return out;
}
