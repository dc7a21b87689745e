/**
 * Where each figure of the dashboard comes from: its metric name
 * (`pandakv_<component>_<what>_<unit>`), greppable to the line that counts it, and the
 * manager's `/metrics` exports each under that name (per node with a `node` label), but
 * for the per-unit and per-key figures of "follow a key", which heartbeats carry only for
 * what a page follows. The page links every figure here.
 */

export interface MetricInfo {
  name: string;
  help: string;
  /** The file that counts it (or exports it under this name): the name or `METRICS.<figure>` is in it. */
  source: string;
  /** True when the manager's `/metrics` exports it. */
  isOnMetrics: boolean;
}

const m = (name: string, help: string, source: string, isOnMetrics = true): MetricInfo => Object.freeze({ name, help, source, isOnMetrics });

export const METRICS = Object.freeze({
  epoch: m('pandakv_manager_map_epoch', 'Epoch of the current map: raised on every failover or ownership change.', 'cluster/manager/metrics.ts'),
  rev: m('pandakv_manager_map_rev', 'Revision of the current map: raised on every change.', 'cluster/manager/metrics.ts'),
  moves: m('pandakv_manager_map_moves', 'Units in motion in the current map (a batch of moves under way).', 'cluster/manager/metrics.ts'),
  nodes: m('pandakv_manager_nodes', 'Nodes by state.', 'cluster/manager/metrics.ts'),
  isLive: m('pandakv_manager_node_is_live', '1 while the node holds its liveness lease (heartbeats arrive).', 'cluster/manager/metrics.ts'),
  appliedRev: m('pandakv_manager_node_applied_rev', 'Revision of the map the node last reported applying (heartbeat).', 'cluster/manager/metrics.ts'),
  requests: m('pandakv_node_requests_total', 'Requests a node executed; ops/s is its rate between two heartbeats.', 'cluster/node/load-meter.ts'),
  p50: m('pandakv_node_request_p50_seconds', 'Median request service time over the last heartbeat interval, seconds.', 'cluster/node/load-meter.ts'),
  p99: m('pandakv_node_request_p99_seconds', '99th percentile request service time over the last heartbeat interval, seconds.', 'cluster/node/load-meter.ts'),
  items: m('pandakv_node_items', 'Items a node holds (active and replica copies).', 'cluster/node/node-metrics.ts'),
  memory: m('pandakv_node_memory_bytes', 'Bytes of keys and values a node holds.', 'cluster/node/node-metrics.ts'),
  hints: m('pandakv_node_hints_pending', 'Hints a node keeps for replicas that were unreachable.', 'cluster/node/node-metrics.ts'),
  fenced: m('pandakv_node_is_fenced', '1 while the node refuses requests because it cannot prove its lease (as of its last heartbeat).', 'cluster/node/node-metrics.ts'),
  backfills: m('pandakv_node_backfills_active', 'Units a node is backfilling now.', 'cluster/node/node-metrics.ts'),
  seqno: m('pandakv_node_unit_seqno', 'Highest mutation seqno a node holds for a unit (heartbeat report; per unit, so not on /metrics).', 'cluster/manager/dashboard/feed.ts', false),
  valueBytes: m('pandakv_node_key_value_bytes', 'Size of a followed key\'s value in one copy, measured by its node on the manager\'s probe (heartbeat report; per key, so not on /metrics).', 'cluster/node/dashboard-report.ts', false),
  unitsMoved: m('pandakv_manager_rebalance_units_moved_total', 'Units whose new copy is in place, this rebalance; the rate is its change over the last 20 s.', 'cluster/manager/metrics.ts'),
  unitsLeft: m('pandakv_manager_rebalance_units_left', 'Units still to move, this rebalance; the ETA is this over the rate.', 'cluster/manager/metrics.ts'),
  bytesCopied: m('pandakv_manager_rebalance_bytes_copied_total', 'Key and value bytes copied by backfill, this rebalance; bytes left are estimated as units left times the bytes per unit moved so far.', 'cluster/manager/metrics.ts'),
  batches: m('pandakv_manager_rebalance_batches_total', 'Batches of moves run, this rebalance.', 'cluster/manager/metrics.ts'),
  isStopped: m('pandakv_manager_rebalance_is_stopped', '1 while an operator has stopped the moves.', 'cluster/manager/metrics.ts'),
});

export type FigureName = keyof typeof METRICS;
