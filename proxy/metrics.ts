import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { opName } from '../shared/protocol/ops.js';
import { statusName } from '../shared/status.js';

/**
 * The proxy's stats in Prometheus form (`pandakv_proxy_<what>_<unit>`), each counted in
 * exactly one place. prom-client renders the text format.
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'pandakv_proxy_requests_total', help: 'Requests answered, by op and status.', labelNames: ['op', 'status'], registers: [this.registry] });
  private readonly latency = new Histogram({
    name: 'pandakv_proxy_request_duration_seconds', help: 'Time from a request arriving to its answer.', labelNames: ['op'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [this.registry],
  });
  readonly clients = new Gauge({ name: 'pandakv_proxy_clients', help: 'Client connections open now, by protocol.', labelNames: ['protocol'], registers: [this.registry] });
  readonly refused = new Counter({ name: 'pandakv_proxy_refused_connections_total', help: 'Client connections refused (unhealthy or over the limit).', registers: [this.registry] });
  readonly healthy = new Gauge({ name: 'pandakv_proxy_healthy', help: '1 when the proxy has a map and its lanes are up.', registers: [this.registry] });
  readonly mapEpoch = new Gauge({ name: 'pandakv_proxy_map_epoch', help: 'Epoch of the adopted map.', registers: [this.registry] });
  readonly lanesWarm = new Gauge({ name: 'pandakv_proxy_nodes_warm', help: 'Nodes whose lanes are all open.', registers: [this.registry] });
  readonly authFailures = new Counter({ name: 'pandakv_proxy_auth_failures_total', help: 'Failed client authentications, by reason.', labelNames: ['reason'], registers: [this.registry] });
  private readonly counts = new Map<string, number>();

  observe(op: number, status: number, ms: number): void {
    const o = opName(op) ?? 'UNKNOWN';
    const s = statusName(status) ?? 'UNKNOWN';
    this.requests.inc({ op: o, status: s });
    this.latency.observe({ op: o }, ms / 1000);
    const k = `${o}:${s}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }

  /** A plain snapshot for the STATS op. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
