import { Registry } from 'prom-client';
import type { ClusterState } from './cluster-state.js';
import type { MapService } from './map-service.js';
import type { Membership } from './membership.js';
import type { FeedRebalance } from './ui/feed-protocol.js';
import { METRICS, type MetricInfo } from './ui/metric-names.js';
import { connGuardMetrics, metricsText, readCounter, readGauge, type Sample } from '../../shared/prom.js';
import type { ConnGuardCounters } from '../../shared/conn-guard.js';

/** What the manager's metrics are read from, at each scrape. */
export interface ManagerMetricsSource {
  state: () => ClusterState | null;
  maps: () => MapService | null;
  membership: () => Membership | null;
  isLeader: () => boolean;
  /** The rebalance's progress; null before the admin API is up. */
  progress: () => FeedRebalance | null;
  conn: () => Readonly<ConnGuardCounters>;
}

/** Heartbeats carry µs; Prometheus wants the base unit. */
function microsToSeconds(us: number | undefined): number | undefined {
  return us === undefined ? undefined : us / 1e6;
}

const NODE_STATES = ['active', 'joining', 'leaving', 'failed'] as const;

/**
 * The manager's `/metrics` (`pandakv_manager_<what>_<unit>`), in a prom-client registry:
 * every figure is read from its owner when scraped, so nothing here is counted twice.
 * The per-node figures carry the names the dashboard links to (`ui/metric-names.ts`).
 */
export class ManagerMetrics {
  readonly registry = new Registry();

  constructor(private readonly src: ManagerMetricsSource) {
    const r = this.registry;
    const one = (v: number | undefined): Sample[] => (v === undefined ? [] : [[{}, v]]);
    readGauge(r, 'pandakv_manager_is_leader', '1 when this manager is the elected planner.', [], () => [[{}, src.isLeader() ? 1 : 0]]);
    readGauge(r, METRICS.epoch.name, METRICS.epoch.help, [], () => [[{}, src.state()?.map?.epoch ?? 0]]);
    readGauge(r, METRICS.rev.name, METRICS.rev.help, [], () => [[{}, src.state()?.map?.rev ?? 0]]);
    readGauge(r, METRICS.moves.name, METRICS.moves.help, [], () => [[{}, src.state()?.map?.moves.length ?? 0]]);
    readGauge(r, METRICS.nodes.name, METRICS.nodes.help, ['state'], () => {
      const nodes = [...(src.state()?.records.values() ?? [])];
      return NODE_STATES.map((s) => [{ state: s }, nodes.filter((n) => n.state === s).length] as const);
    });
    readGauge(r, 'pandakv_manager_map_subscribers', 'Open /map subscriptions.', [], () => one(src.maps()?.counters.subscribers));
    readCounter(r, 'pandakv_manager_map_pushes_total', 'Maps sent, by kind.', ['kind'], () => {
      const c = src.maps()?.counters;
      return c === undefined ? [] : [[{ kind: 'full' }, c.fullSent], [{ kind: 'delta' }, c.deltasSent]];
    });
    readCounter(r, 'pandakv_manager_heartbeats_total', 'Node heartbeats received by this manager.', [], () => [[{}, src.membership()?.heartbeatsTotal ?? 0]]);
    this.perNode(METRICS.isLive, 'gauge', (id, st) => (st.live.has(id) ? 1 : 0));
    this.perNode(METRICS.appliedRev, 'gauge', (id) => src.membership()?.appliedRev.get(id));
    this.perNode(METRICS.requests, 'counter', (id) => src.membership()?.load.get(id)?.ops);
    this.perNode(METRICS.p50, 'gauge', (id) => microsToSeconds(src.membership()?.load.get(id)?.p50Us));
    this.perNode(METRICS.p99, 'gauge', (id) => microsToSeconds(src.membership()?.load.get(id)?.p99Us));
    this.perNode(METRICS.items, 'gauge', (id) => src.membership()?.load.get(id)?.items);
    this.perNode(METRICS.memory, 'gauge', (id) => src.membership()?.load.get(id)?.memoryBytes);
    this.perNode(METRICS.hints, 'gauge', (id) => src.membership()?.load.get(id)?.hintsPending);
    this.perNode(METRICS.fenced, 'gauge', (id) => {
      const f = src.membership()?.load.get(id)?.isFenced;
      return f === undefined ? undefined : f ? 1 : 0;
    });
    this.perNode(METRICS.backfills, 'gauge', (id) => src.membership()?.replication.get(id)?.backfilling);
    const moves = (): FeedRebalance['moves'] | undefined => src.progress()?.moves;
    readCounter(r, METRICS.unitsMoved.name, METRICS.unitsMoved.help, [], () => one(moves()?.unitsMoved));
    readGauge(r, METRICS.unitsLeft.name, METRICS.unitsLeft.help, [], () => one(moves()?.unitsLeft));
    readCounter(r, METRICS.bytesCopied.name, METRICS.bytesCopied.help, [], () => one(moves()?.bytesCopied));
    readCounter(r, METRICS.batches.name, METRICS.batches.help, [], () => one(moves()?.batches));
    readGauge(r, METRICS.isStopped.name, METRICS.isStopped.help, [], () => one(moves() === undefined ? undefined : moves()!.isStopped ? 1 : 0));
    connGuardMetrics(r, 'manager', src.conn);
  }

  /** The text of `/metrics`: these figures, then the process's. */
  text(): Promise<string> {
    return metricsText(this.registry);
  }

  /** A figure per known node, labelled `node`; nodes without a value are left out. */
  private perNode(info: MetricInfo, type: 'gauge' | 'counter', pick: (id: string, state: ClusterState) => number | undefined): void {
    const read = (): Sample[] => {
      const state = this.src.state();
      if (state === null) return [];
      return [...state.records.keys()].sort().flatMap((id) => {
        const v = pick(id, state);
        return v === undefined ? [] : [[{ node: id }, v] as const];
      });
    };
    if (type === 'counter') readCounter(this.registry, info.name, info.help, ['node'], read);
    else readGauge(this.registry, info.name, info.help, ['node'], read);
  }
}
