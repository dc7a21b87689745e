import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import { opName } from '../shared/protocol/ops.js';
import { metricsText, readCounter, readGauge, type Sample } from '../shared/prom.js';
import { MC_STAT_NAMES, type McStatsSnapshot } from './memcached/stats.js';

const MC_STAT_HELP: Readonly<Record<(typeof MC_STAT_NAMES)[keyof typeof MC_STAT_NAMES], string>> = {
  [MC_STAT_NAMES.commands]: 'memcached commands answered (text, meta and binary).',
  [MC_STAT_NAMES.errors]: 'memcached commands answered with an error.',
  [MC_STAT_NAMES.connections]: 'memcached connections accepted.',
  [MC_STAT_NAMES.connectionsRejected]: 'memcached connections refused at the connection limit.',
  [MC_STAT_NAMES.authFailures]: 'Failed memcached authentications.',
  [MC_STAT_NAMES.timeouts]: 'memcached commands that timed out.',
  [MC_STAT_NAMES.readPauses]: 'Times a memcached connection stopped reading for a full write buffer.',
  [MC_STAT_NAMES.openConnections]: 'memcached connections open now.',
};
import { statusName } from '../shared/status.js';
import type { ConnGuardCounters } from '../shared/conn-guard.js';

/** The client protocol a request came in by: the native WebSocket one, or memcached (text, meta or binary). */
export type RequestProtocol = 'native' | 'memcached';

/** One (op name, status name) pair: its labels built once, and answers not yet handed to prom-client. */
interface OpStatus {
  readonly key: string;
  readonly requestLabels: { op: string; status: string; protocol: RequestProtocol };
  readonly latency: OpLatency;
  /** Answers counted in total, for the STATS op. */
  count: number;
  /** Answers not yet added to the prom-client counter (added when it is collected). */
  unsent: number;
}

/**
 * The proxy's stats in Prometheus form (`pandakv_proxy_<what>_<unit>`), each counted in
 * exactly one place. prom-client renders the text format.
 *
 * `observe` runs once per request: its label objects are built once per (op, status),
 * and the request counter is summed locally and added to prom-client when it is
 * collected (a scrape), so the hot path does no label hashing for it.
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  /** By `op:status` name, in the order first seen (the STATS snapshot's order). */
  private readonly byName = new Map<string, OpStatus>();
  /** By `op * 65536 + status` for the usual small codes, so the hot path builds no string. */
  private readonly byCode = new Map<number, OpStatus>();
  // pandakv_proxy_requests_total: summed in `byName`, handed to prom-client when collected.
  readonly requests = requestCounter(this.registry, this.byName);
  private readonly latency = new LatencyHistogram(
    this.registry, 'pandakv_proxy_request_duration_seconds', 'Time from a request arriving to its answer.',
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  );
  readonly clients = new Gauge({ name: 'pandakv_proxy_clients', help: 'Client connections open now, by protocol.', labelNames: ['protocol'], registers: [this.registry] });
  readonly refused = new Counter({ name: 'pandakv_proxy_refused_connections_total', help: 'Client connections refused (unhealthy or over the limit).', registers: [this.registry] });
  readonly healthy = new Gauge({ name: 'pandakv_proxy_healthy', help: '1 when the proxy has a map and its lanes are up.', registers: [this.registry] });
  readonly mapEpoch = new Gauge({ name: 'pandakv_proxy_map_epoch', help: 'Epoch of the adopted map.', registers: [this.registry] });
  readonly lanesWarm = new Gauge({ name: 'pandakv_proxy_nodes_warm', help: 'Nodes whose lanes are all open.', registers: [this.registry] });
  /** Where the connection guards' counters are read at scrape time (set by the proxy). */
  connSource: (() => Array<[port: string, counters: Readonly<ConnGuardCounters>]>) | null = null;
  // pandakv_proxy_conn_closed_total: counted by shared/conn-guard.ts, copied in when collected.
  readonly connClosed = connClosedCounter(this.registry, () => this.connSource?.() ?? []);
  readonly authFailures = new Counter({ name: 'pandakv_proxy_auth_failures_total', help: 'Failed client authentications, by reason.', labelNames: ['reason'], registers: [this.registry] });

  observe(op: number, status: number, ms: number, protocol: RequestProtocol = 'native'): void {
    const e = this.pair(op, status, protocol);
    e.count++;
    e.unsent++;
    this.latency.observe(e.latency, ms / 1000);
  }

  /** The memcached front end's own counters (`pandakv_proxy_memcached_*`), read at each scrape. */
  addMemcached(read: () => McStatsSnapshot): void {
    for (const name of Object.values(MC_STAT_NAMES)) {
      const sample = (): Sample[] => [[{}, read()[name]]];
      if (name.endsWith('_total')) readCounter(this.registry, name, MC_STAT_HELP[name], [], sample);
      else readGauge(this.registry, name, MC_STAT_HELP[name], [], sample);
    }
  }

  /**
   * The idle poller's figures, read at each scrape: polling time spent in vain and the
   * gate; the spare cores and the CPU pressure it saw only where it measures them.
   */
  addIdlePoll(
    poller: { readonly emptyPollMs: number },
    gate: { readonly isOpen: boolean; readonly spareCores: number; readonly cpuPressure: number; readonly measuresSpareCores: boolean; readonly measuresPressure: boolean },
  ): void {
    readCounter(this.registry, 'pandakv_proxy_idle_poll_seconds_total', 'Time the event loop polled with no traffic arriving (idle polling).', [], () => [[{}, poller.emptyPollMs / 1000]]);
    readGauge(this.registry, 'pandakv_proxy_idle_poll_open', '1 while the machine has the idle cores idle polling needs.', [], () => [[{}, gate.isOpen ? 1 : 0]]);
    if (gate.measuresSpareCores) {
      readGauge(this.registry, 'pandakv_proxy_spare_cores', 'Idle cores over the last 100 ms sample, the proxy\'s own idle polling counted as idle.', [], () => (Number.isNaN(gate.spareCores) ? [] : [[{}, gate.spareCores]]));
    }
    if (gate.measuresPressure) {
      readGauge(this.registry, 'pandakv_proxy_cpu_pressure', 'Share of the last 100 ms sample in which some task waited for a CPU (Linux PSI).', [], () => (Number.isNaN(gate.cpuPressure) ? [] : [[{}, gate.cpuPressure]]));
    }
  }

  /** A plain snapshot for the STATS op. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.byName.values()) out[e.key] = e.count;
    return out;
  }

  /** `/metrics`: these figures, then the process's. */
  text(): Promise<string> {
    return metricsText(this.registry);
  }

  private pair(op: number, status: number, protocol: RequestProtocol): OpStatus {
    const isSmall = (op & 0xffff) === op && (status & 0xffff) === status;
    const code = isSmall ? (protocol === 'native' ? 0 : 2 ** 32) + op * 65536 + status : -1;
    if (isSmall) {
      const hit = this.byCode.get(code);
      if (hit !== undefined) return hit;
    }
    const o = opName(op) ?? 'UNKNOWN';
    const s = statusName(status) ?? 'UNKNOWN';
    // The STATS keys of native requests stay `OP:STATUS`; memcached ones are prefixed.
    const key = protocol === 'native' ? `${o}:${s}` : `${protocol}:${o}:${s}`;
    let e = this.byName.get(key);
    if (e === undefined) {
      e = { key, requestLabels: { op: o, status: s, protocol }, latency: this.latency.forOp(o), count: 0, unsent: 0 };
      this.byName.set(key, e);
    }
    if (isSmall) this.byCode.set(code, e);
    return e;
  }
}

function requestCounter(registry: Registry, pairs: ReadonlyMap<string, OpStatus>): Counter<'op' | 'status' | 'protocol'> {
  return new Counter({
    name: 'pandakv_proxy_requests_total', help: 'Requests answered, by op, status and client protocol.', labelNames: ['op', 'status', 'protocol'], registers: [registry],
    collect() {
      for (const e of pairs.values()) {
        if (e.unsent === 0) continue;
        this.inc(e.requestLabels, e.unsent);
        e.unsent = 0;
      }
    },
  });
}

/** Latency of one op: counts per bucket (not cumulative), sum and count. */
interface OpLatency {
  readonly op: string;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * `pandakv_proxy_request_duration_seconds`: a histogram by op, rendered by prom-client
 * exactly like its own `Histogram` (same values, labels and order), but observed without
 * building or hashing a label object per request.
 */
class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames = ['op'];
  private readonly byOp = new Map<string, OpLatency>();

  constructor(registry: Registry, readonly name: string, readonly help: string, private readonly upperBounds: readonly number[]) {
    registry.registerMetric(this as unknown as Metric);
  }

  forOp(op: string): OpLatency {
    let h = this.byOp.get(op);
    if (h === undefined) {
      h = { op, counts: new Float64Array(this.upperBounds.length), sum: 0, count: 0 };
      this.byOp.set(op, h);
    }
    return h;
  }

  observe(h: OpLatency, seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    const bounds = this.upperBounds;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        h.counts[i]!++;
        break;
      }
    }
    h.sum += seconds;
    h.count++;
  }

  /** What prom-client's `Histogram.getForPromString` returns: labels of the op shared by its lines. */
  getForPromString(): { name: string; help: string; type: string; values: PromValue[]; aggregator: string } {
    const values: PromValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const h of this.byOp.values()) {
      if (h.count === 0) continue;
      const shared = { op: h.op };
      let acc = 0;
      for (let i = 0; i < this.upperBounds.length; i++) {
        acc += h.counts[i]!;
        values.push({ labels: { le: this.upperBounds[i]! }, sharedLabels: shared, value: acc, metricName: bucket, exemplar: null });
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: shared, value: h.count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: shared, value: h.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: shared, value: h.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON form (`registry.getMetricsAsJSON()`): shared labels folded into each line's labels. */
  get(): { name: string; help: string; type: string; values: PromValue[]; aggregator: string } {
    const data = this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return data;
  }

  reset(): void {
    this.byOp.clear();
  }
}

interface PromValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
  exemplar?: null;
}

/** Connections the guards closed or refused, by port and reason, read when collected. */
function connClosedCounter(registry: Registry, source: () => Array<[string, Readonly<ConnGuardCounters>]>): Counter<'port' | 'reason'> {
  return new Counter({
    name: 'pandakv_proxy_conn_closed_total',
    help: 'Client connections closed or refused by the connection limits, by port and reason.',
    labelNames: ['port', 'reason'],
    registers: [registry],
    collect(this: Counter<'port' | 'reason'>) {
      this.reset();
      for (const [port, c] of source()) {
        this.inc({ port, reason: 'evicted' }, c.evicted);
        this.inc({ port, reason: 'refused' }, c.refused);
        this.inc({ port, reason: 'pre-auth-timeout' }, c.preAuthTimeouts);
        this.inc({ port, reason: 'idle-timeout' }, c.idleTimeouts);
        this.inc({ port, reason: 'read-timeout' }, c.readTimeouts);
      }
    },
  });
}
