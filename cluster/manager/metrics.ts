import type { ClusterState } from './cluster-state.js';
import type { MapService } from './map-service.js';

/** Prometheus text for the manager (`pandakv_manager_<what>_<unit>`). */
export function managerMetrics(state: ClusterState, maps: MapService, isLeader: boolean, heartbeatsTotal = 0): string {
  const map = state.map;
  const nodes = [...state.records.values()];
  const lines = [
    '# HELP pandakv_manager_is_leader 1 when this manager is the elected planner.',
    '# TYPE pandakv_manager_is_leader gauge',
    `pandakv_manager_is_leader ${isLeader ? 1 : 0}`,
    '# HELP pandakv_manager_map_epoch Epoch of the current map.',
    '# TYPE pandakv_manager_map_epoch gauge',
    `pandakv_manager_map_epoch ${map?.epoch ?? 0}`,
    '# HELP pandakv_manager_map_rev Revision of the current map.',
    '# TYPE pandakv_manager_map_rev gauge',
    `pandakv_manager_map_rev ${map?.rev ?? 0}`,
    '# HELP pandakv_manager_nodes_total Nodes by state.',
    '# TYPE pandakv_manager_nodes_total gauge',
    ...(['active', 'joining', 'leaving', 'failed'] as const).map((s) => `pandakv_manager_nodes_total{state="${s}"} ${nodes.filter((n) => n.state === s).length}`),
    '# HELP pandakv_manager_map_subscribers_total Open /map subscriptions.',
    '# TYPE pandakv_manager_map_subscribers_total gauge',
    `pandakv_manager_map_subscribers_total ${maps.counters.subscribers}`,
    '# HELP pandakv_manager_map_pushes_total Maps sent, by kind.',
    '# TYPE pandakv_manager_map_pushes_total counter',
    `pandakv_manager_map_pushes_total{kind="full"} ${maps.counters.fullSent}`,
    `pandakv_manager_map_pushes_total{kind="delta"} ${maps.counters.deltasSent}`,
    '# HELP pandakv_manager_heartbeats_total Node heartbeats received by this manager.',
    '# TYPE pandakv_manager_heartbeats_total counter',
    `pandakv_manager_heartbeats_total ${heartbeatsTotal}`,
  ];
  return `${lines.join('\n')}\n`;
}
