import type { ClusterState } from './cluster-state.js';
import type { MapService } from './map-service.js';
import type { Membership } from './membership.js';
import type { FeedRebalance } from './ui/feed-protocol.js';
import { METRICS, type MetricInfo } from './ui/metric-names.js';

/** What the manager knows of its nodes and moves, for the node and rebalance figures. */
export interface MetricsExtra {
  membership: Membership;
  progress: FeedRebalance;
}

function gauge(info: MetricInfo, type: 'gauge' | 'counter', samples: Array<[labels: string, value: number]>): string[] {
  return [`# HELP ${info.name} ${info.help}`, `# TYPE ${info.name} ${type}`, ...samples.map(([l, v]) => `${info.name}${l} ${v}`)];
}

/** Per-node figures the nodes report in their heartbeats, and the rebalance's progress. */
function extraLines(state: ClusterState, x: MetricsExtra): string[] {
  const ids = [...state.records.keys()].sort();
  const label = (id: string): string => `{node="${id.replace(/["\\\n]/g, '_')}"}`;
  const load = x.membership.load;
  const perNode = (pick: (id: string) => number | undefined): Array<[string, number]> =>
    ids.flatMap((id) => {
      const v = pick(id);
      return v === undefined ? [] : [[label(id), v] as [string, number]];
    });
  const mv = x.progress.moves;
  return [
    ...gauge(METRICS.isLive, 'gauge', perNode((id) => (state.live.has(id) ? 1 : 0))),
    ...gauge(METRICS.requests, 'counter', perNode((id) => load.get(id)?.ops)),
    ...gauge(METRICS.p50, 'gauge', perNode((id) => load.get(id)?.p50Us)),
    ...gauge(METRICS.p99, 'gauge', perNode((id) => load.get(id)?.p99Us)),
    ...gauge(METRICS.items, 'gauge', perNode((id) => load.get(id)?.items)),
    ...gauge(METRICS.memory, 'gauge', perNode((id) => load.get(id)?.memoryBytes)),
    ...gauge(METRICS.hints, 'gauge', perNode((id) => load.get(id)?.hintsPending)),
    ...gauge(METRICS.fenced, 'gauge', perNode((id) => {
      const f = load.get(id)?.isFenced;
      return f === undefined ? undefined : f ? 1 : 0;
    })),
    ...gauge(METRICS.backfills, 'gauge', perNode((id) => x.membership.replication.get(id)?.backfilling)),
    ...gauge(METRICS.unitsMoved, 'counter', [['', mv.unitsMoved]]),
    ...gauge(METRICS.unitsLeft, 'gauge', [['', mv.unitsLeft]]),
    ...gauge(METRICS.bytesCopied, 'counter', [['', mv.bytesCopied]]),
    ...gauge(METRICS.isStopped, 'gauge', [['', mv.isStopped ? 1 : 0]]),
  ];
}

/** Prometheus text for the manager (`pandakv_manager_<what>_<unit>`). */
export function managerMetrics(state: ClusterState, maps: MapService, isLeader: boolean, heartbeatsTotal = 0, extra: MetricsExtra | null = null): string {
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
    ...(extra === null ? [] : extraLines(state, extra)),
  ];
  return `${lines.join('\n')}\n`;
}
