import type { ClusterMap } from '../../../shared/cluster-map.js';
import { isActiveOf, unitChains } from './records.js';

/**
 * Epoch fencing of replication records (Kafka's leader epochs): once a map shows a unit's
 * active failed and replaced, records that old active sent before that map's epoch are
 * history the unit's new active does not have, and a replica refuses them.
 */
export class FailoverFence {
  /** Per unit: the active it had before a failover, and the epoch of that failover. */
  private readonly failedOver = new Map<number, { peer: string; epoch: number }>();

  /**
   * Note the units whose active in `previous` is failed in `map` and no longer their
   * active. A graceful failover demotes the node first (it is still listed, not failed,
   * when its units change hands), so its last records are still applied.
   */
  note(previous: ClusterMap, map: ClusterMap): void {
    if (previous.epoch === map.epoch && previous.rev === map.rev) return;
    const failed = new Set(map.nodes.filter((n) => n.state === 'failed').map((n) => n.id));
    if (failed.size === 0) return;
    const after = new Map(unitChains(map));
    for (const [unit, chain] of unitChains(previous)) {
      const old = previous.nodes[chain[0]!];
      if (old === undefined || old.peerKey === null || !failed.has(old.id)) continue;
      const now = after.get(unit);
      if (now !== undefined && map.nodes[now[0]!]?.id === old.id) continue;
      this.failedOver.set(unit, { peer: old.peerKey, epoch: map.epoch });
    }
  }

  /** True for a record of `unit` that `peer` sent at `sentAt` from before the unit's failover away from it. */
  isStale(unit: number, peer: string, sentAt: number): boolean {
    const fence = this.failedOver.get(unit);
    return fence !== undefined && fence.peer === peer && sentAt < fence.epoch;
  }
}

/**
 * True for a record or hint of `unit` sent under a newer epoch than `map`'s, when `map`
 * names this node (`self`) the unit's active: this node is behind, back from a partition
 * that failed it over, and the sender is the unit's active in a map that made this node a
 * replica. This node's history of the unit may hold writes the sender's lacks. Continued
 * with the sender's records (one whose seqno happens to follow this node's last), it would
 * pass the check against the active that comes once this node adopts the newer map, and
 * keep what it wrote alone while missing what it did not see. `memo` keeps answers for
 * one batch.
 */
export function isAhead(map: ClusterMap | null, self: number, unit: number, sentAt: number, memo: Map<number, boolean>): boolean {
  return map !== null && sentAt > map.epoch && isActiveOf(map, self, unit, memo);
}
