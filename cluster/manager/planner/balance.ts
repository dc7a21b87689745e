/**
 * Balance of a map: units per node against the weighted quota of the nodes that may
 * hold units. Works from the runs, so it also reads maps the planner did not make.
 */
import type { ClusterMap } from '../../../shared/cluster-map.js';
import { isPlaceableState } from './node-table.js';
import type { BalanceReport, NodeBalance } from './types.js';

/** Units active and replica per node, their weighted quotas and ratios. */
export function balanceReport(map: ClusterMap): BalanceReport {
  const units = 2 ** map.unitBits;
  const unitSize = 2 ** (map.bits - map.unitBits);
  const total = 2 ** map.bits;
  const active = new Float64Array(map.nodes.length);
  const replica = new Float64Array(map.nodes.length);
  let replicaTotal = 0;
  for (let i = 0; i < map.runStarts.length; i++) {
    const end = i + 1 < map.runStarts.length ? map.runStarts[i + 1]! : total;
    const share = (end - map.runStarts[i]!) / unitSize;
    const chain = map.chains[map.runChains[i]!] ?? [];
    chain.forEach((m, k) => {
      if (k === 0) active[m]! += share;
      else {
        replica[m]! += share;
        replicaTotal += share;
      }
    });
  }
  let weight = 0;
  for (const n of map.nodes) if (isPlaceableState(n.state)) weight += n.weight;
  const report: BalanceReport = {
    units, nodes: [], maxActiveRatio: 0, minActiveRatio: Infinity, maxReplicaRatio: 0, minReplicaRatio: Infinity, strandedUnits: 0,
  };
  map.nodes.forEach((n, index) => {
    const share = isPlaceableState(n.state) && weight > 0 ? n.weight / weight : 0;
    const entry: NodeBalance = {
      index, id: n.id, zone: n.zone, weight: n.weight, state: n.state,
      activeUnits: active[index]!, replicaUnits: replica[index]!,
      activeQuota: units * share, replicaQuota: replicaTotal * share,
      activeRatio: share > 0 ? active[index]! / (units * share) : null,
      replicaRatio: share > 0 && replicaTotal > 0 ? replica[index]! / (replicaTotal * share) : null,
    };
    report.nodes.push(entry);
    if (share === 0) report.strandedUnits += entry.activeUnits + entry.replicaUnits;
    if (entry.activeRatio !== null) {
      report.maxActiveRatio = Math.max(report.maxActiveRatio, entry.activeRatio);
      report.minActiveRatio = Math.min(report.minActiveRatio, entry.activeRatio);
    }
    if (entry.replicaRatio !== null) {
      report.maxReplicaRatio = Math.max(report.maxReplicaRatio, entry.replicaRatio);
      report.minReplicaRatio = Math.min(report.minReplicaRatio, entry.replicaRatio);
    }
  });
  if (report.minActiveRatio === Infinity) report.minActiveRatio = 0;
  if (report.minReplicaRatio === Infinity) report.minReplicaRatio = 0;
  return report;
}
