import { Registry } from 'prom-client';
import { connGuardMetrics, metricsText, readCounter, readGauge, type Sample } from '../../shared/prom.js';
import type { ConnGuardCounters } from '../../shared/conn-guard.js';

/** What the node's metrics are read from, at each scrape. */
export interface NodeMetricsSource {
  /** The STATS op's figures (snake_case keys): engine, server and replication counters. */
  stats: () => Readonly<Record<string, number | string>>;
  /** Requests executed since start (the heartbeat's load figure). */
  requests: () => number;
  conn: () => Readonly<ConnGuardCounters>;
}

type Kind = 'counter' | 'gauge';

/**
 * Each exported figure: the STATS key it is read from, its metric name
 * (`pandakv_node_<what>_<unit>`), its type and help. A key absent from a node's STATS
 * (the disk engine's, replication's on a node without a peer plane) has no sample.
 */
const FROM_STATS: ReadonlyArray<readonly [key: string, name: string, kind: Kind, help: string, scale?: number]> = [
  ['connections', 'pandakv_node_connections', 'gauge', 'Client WebSocket connections open now.'],
  ['total_connections', 'pandakv_node_connections_accepted_total', 'counter', 'Client WebSocket connections accepted.'],
  ['rejected_connections', 'pandakv_node_connections_rejected_total', 'counter', 'Client connections turned away by the address allow-list.'],
  ['messages', 'pandakv_node_messages_total', 'counter', 'Client messages received.'],
  ['frames', 'pandakv_node_frames_total', 'counter', 'Request frames received.'],
  ['bad_frames', 'pandakv_node_bad_frames_total', 'counter', 'Request frames that could not be decoded.'],
  ['closed_for_protocol_error', 'pandakv_node_protocol_errors_total', 'counter', 'Connections closed for an unusable stream.'],
  ['auth_failures', 'pandakv_node_auth_failures_total', 'counter', 'Failed client authentications.'],
  ['auth_denied', 'pandakv_node_auth_denied_total', 'counter', 'Requests refused for lack of a role.'],
  ['items', 'pandakv_node_items', 'gauge', 'Items held (active and replica copies), expired ones not reclaimed included.'],
  ['bytes', 'pandakv_node_memory_bytes', 'gauge', 'Accounted bytes of keys and values held.'],
  ['limit_bytes', 'pandakv_node_memory_limit_bytes', 'gauge', 'Memory budget of the engine.'],
  ['evictions', 'pandakv_node_evictions_total', 'counter', 'Live items dropped to make room.'],
  ['expired', 'pandakv_node_expired_total', 'counter', 'Expired items reclaimed.'],
  ['hits', 'pandakv_node_get_hits_total', 'counter', 'Reads that found their key.'],
  ['misses', 'pandakv_node_get_misses_total', 'counter', 'Reads that did not find their key.'],
  ['out_of_memory', 'pandakv_node_out_of_memory_total', 'counter', 'Writes refused with OUT_OF_MEMORY.'],
  ['disk_bytes', 'pandakv_node_disk_bytes', 'gauge', 'Disk engine: bytes of the data file.'],
  ['commits', 'pandakv_node_disk_commits_total', 'counter', 'Disk engine: group commits.'],
  ['commit_failures', 'pandakv_node_disk_commit_failures_total', 'counter', 'Disk engine: group commits that failed.'],
  ['purged_items', 'pandakv_node_purged_items_total', 'counter', 'Copies dropped after the map moved their unit away.'],
  ['purge_keys_read', 'pandakv_node_purge_keys_read_total', 'counter', 'Keys the purge passes looked at (with a bucket index, only those of units the node no longer holds).'],
  ['epoch', 'pandakv_node_map_epoch', 'gauge', 'Epoch of the map the node follows.'],
  ['map_rev', 'pandakv_node_map_rev', 'gauge', 'Revision of the map the node follows.'],
  ['fenced', 'pandakv_node_is_fenced', 'gauge', '1 while the node has fenced itself (no acknowledged lease renewal).'],
  ['replicating', 'pandakv_node_is_replicating', 'gauge', '1 when the node replicates over the peer plane.'],
  ['repl_records_sent', 'pandakv_node_repl_records_sent_total', 'counter', 'Replication records sent to replicas.'],
  ['repl_records_applied', 'pandakv_node_repl_records_applied_total', 'counter', 'Replication records applied as a replica.'],
  ['repl_majority_timeouts', 'pandakv_node_repl_majority_timeouts_total', 'counter', 'Majority writes whose replica acknowledgements did not come in time.'],
  ['repl_backfills', 'pandakv_node_repl_backfills_total', 'counter', 'Backfills started.'],
  ['repl_backfill_items', 'pandakv_node_repl_backfill_items_total', 'counter', 'Items copied by backfills.'],
  ['repl_stale_refused', 'pandakv_node_repl_stale_refused_total', 'counter', 'Replication records refused because their sender was failed over since.'],
  ['repl_ahead_refused', 'pandakv_node_repl_ahead_refused_total', 'counter', 'Records and hints refused because they came from a newer map that made this node a replica.'],
  ['repl_late_refused', 'pandakv_node_repl_late_refused_total', 'counter', 'Records of a unit\'s previous active refused because its new active had sent newer ones first.'],
  ['repl_handover_waits', 'pandakv_node_repl_handover_waits_total', 'counter', 'Units this node became the active of and held until their previous active handed them over.'],
  ['repl_handover_timeouts', 'pandakv_node_repl_handover_timeouts_total', 'counter', 'Units served without a handover because the wait for their previous active ran out.'],
  ['repl_handover_held_ms', 'pandakv_node_repl_handover_held_seconds_total', 'counter', 'Time units were held for a handover, all units together.', 0.001],
  ['repl_handover_held_ms_max', 'pandakv_node_repl_handover_held_seconds_max', 'gauge', 'Longest a unit was held for a handover since the node started.', 0.001],
  ['repl_backfilling', 'pandakv_node_backfills_active', 'gauge', 'Units being backfilled now.'],
  ['repl_hints_stored', 'pandakv_node_hints_pending', 'gauge', 'Hints held for replicas that were unreachable.'],
  ['repl_unacked', 'pandakv_node_repl_unacked_records', 'gauge', 'Records sent to replicas and not acknowledged yet (hinted if their link drops).'],
  ['replica_redirects', 'pandakv_node_replica_read_redirects_total', 'counter', 'Replica reads sent on to the active because this copy was not whole yet.'],
];

/**
 * The data node's `/metrics` (`pandakv_node_<what>_<unit>`), in a prom-client registry:
 * every figure is read when scraped from the counters the STATS op reports, so each is
 * still counted in exactly one place.
 */
export class NodeMetrics {
  readonly registry = new Registry();

  constructor(src: NodeMetricsSource) {
    let cached: Readonly<Record<string, number | string>> | null = null;
    // One STATS snapshot per scrape, however many figures read it.
    const stats = (): Readonly<Record<string, number | string>> => {
      if (cached === null) {
        cached = src.stats();
        queueMicrotask(() => {
          cached = null;
        });
      }
      return cached;
    };
    for (const [key, name, kind, help, scale] of FROM_STATS) {
      const read = (): Sample[] => {
        const v = stats()[key];
        return typeof v === 'number' ? [[{}, scale === undefined ? v : v * scale]] : [];
      };
      if (kind === 'counter') readCounter(this.registry, name, help, [], read);
      else readGauge(this.registry, name, help, [], read);
    }
    readCounter(this.registry, 'pandakv_node_requests_total', 'Requests executed.', [], () => [[{}, src.requests()]]);
    readGauge(this.registry, 'pandakv_node_lease_left_seconds', 'Time left on the ownership lease; -1 when the node is not fenced by a manager.', [], () => {
      const ms = stats().lease_left_ms;
      return typeof ms === 'number' ? [[{}, ms < 0 ? -1 : ms / 1000]] : [];
    });
    connGuardMetrics(this.registry, 'node', src.conn);
  }

  /** The text of `/metrics`: these figures, then the process's. */
  text(): Promise<string> {
    return metricsText(this.registry);
  }
}
