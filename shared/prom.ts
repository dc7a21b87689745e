import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConnGuardCounters } from './conn-guard.js';

/** Labels of one sample and its value. */
export type Sample = readonly [labels: Readonly<Record<string, string>>, value: number];

/** Metric names of this project: `pandakv_<component>_<what>[_<unit>]`, snake_case. */
export const METRIC_NAME = /^pandakv_[a-z]+(_[a-z0-9]+)+$/;

let processRegistry: Registry | null = null;

const GAUGES_NAMED_TOTAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/**
 * The process's default metrics (`process_*`, `nodejs_*`), one registry per process
 * however many components it runs, so each `/metrics` shows them once.
 */
export function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
    // Gauges prom-client names `_total`, which Prometheus reserves for counters (promtool
    // rejects them); the same figures remain by type in `nodejs_active_handles` etc.
    for (const name of GAUGES_NAMED_TOTAL) processRegistry.removeSingleMetric(name);
  }
  return processRegistry;
}

/** A component's metrics followed by the process's, in the text format. */
export async function metricsText(registry: Registry): Promise<string> {
  const own = await registry.metrics();
  const proc = await processMetrics().metrics();
  return `${own.endsWith('\n') || own === '' ? own : `${own}\n`}${proc}`;
}

/** The content type of `metricsText`. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** A gauge whose samples are read from `read` at each scrape. */
export function readGauge(registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => readonly Sample[]): Gauge<string> {
  return new Gauge({
    name, help, labelNames: [...labelNames], registers: [registry],
    collect(this: Gauge<string>) {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/** A counter whose samples (running totals kept elsewhere) are read from `read` at each scrape. */
export function readCounter(registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => readonly Sample[]): Counter<string> {
  if (!name.endsWith('_total')) throw new Error(`counter ${name} must end in _total`);
  return new Counter({
    name, help, labelNames: [...labelNames], registers: [registry],
    collect(this: Counter<string>) {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, Math.max(0, value));
    },
  });
}

/** `pandakv_<component>_conn_open` and `pandakv_<component>_conn_closed_total{reason}` of a connection guard. */
export function connGuardMetrics(registry: Registry, component: string, read: () => Readonly<ConnGuardCounters>): void {
  readGauge(registry, `pandakv_${component}_conn_open`, 'Client connections open now.', [], () => [[{}, read().open]]);
  readCounter(registry, `pandakv_${component}_conn_closed_total`, 'Connections closed or refused by the connection limits, by reason.', ['reason'], () => {
    const c = read();
    return [
      [{ reason: 'evicted' }, c.evicted],
      [{ reason: 'refused' }, c.refused],
      [{ reason: 'pre-auth-timeout' }, c.preAuthTimeouts],
      [{ reason: 'idle-timeout' }, c.idleTimeouts],
      [{ reason: 'read-timeout' }, c.readTimeouts],
    ];
  });
}
