/** Options of the dashboard (`/ui`). Every delay and limit is here so tests can shrink it. */
export interface DashboardOptions {
  /**
   * How often nodes, rebalance progress and the followed unit are pushed, while at least
   * one page is connected (none: no timer runs).
   * @default 1000
   */
  pushIntervalMs: number;
  /**
   * Shortest time between two map pushes; changes in between are coalesced into the latest.
   * @default 200
   */
  mapThrottleMs: number;
  /**
   * Pages connected at once; more are refused with close code 1013.
   * @default 32
   */
  maxClients: number;
  /**
   * How long a page on a secure manager has to send its token.
   * @default 10000
   */
  authTimeoutMs: number;
  /**
   * Largest message a page may send; a larger one closes the connection (1009).
   * @default 4096
   */
  maxMessageBytes: number;
  /**
   * Events sent to a page when it connects.
   * @default 500
   */
  eventBacklog: number;
  /**
   * A page whose socket holds more unsent bytes than this skips ticks until it drains.
   * @default 1048576 (1 MiB)
   */
  highWaterMarkBytes: number;
  /**
   * Directory of the built bundle (`app.js`, `app.css`); null = `dist/ui` of this package.
   * @default null
   */
  assetsDir: string | null;
}

export const DASHBOARD_DEFAULTS: Readonly<DashboardOptions> = Object.freeze({
  pushIntervalMs: 1000,
  mapThrottleMs: 200,
  maxClients: 32,
  authTimeoutMs: 10_000,
  maxMessageBytes: 4096,
  eventBacklog: 500,
  highWaterMarkBytes: 1 << 20,
  assetsDir: null,
});

export function dashboardOptions(o: Partial<DashboardOptions> = {}): DashboardOptions {
  const d = DASHBOARD_DEFAULTS;
  const out: DashboardOptions = {
    pushIntervalMs: o.pushIntervalMs ?? d.pushIntervalMs,
    mapThrottleMs: o.mapThrottleMs ?? d.mapThrottleMs,
    maxClients: o.maxClients ?? d.maxClients,
    authTimeoutMs: o.authTimeoutMs ?? d.authTimeoutMs,
    maxMessageBytes: o.maxMessageBytes ?? d.maxMessageBytes,
    eventBacklog: o.eventBacklog ?? d.eventBacklog,
    highWaterMarkBytes: o.highWaterMarkBytes ?? d.highWaterMarkBytes,
    assetsDir: o.assetsDir ?? d.assetsDir,
  };
  for (const k of ['pushIntervalMs', 'mapThrottleMs', 'maxClients', 'authTimeoutMs', 'maxMessageBytes', 'eventBacklog', 'highWaterMarkBytes'] as const) {
    if (!Number.isSafeInteger(out[k]) || out[k] < 0) throw KvError.invalidArgument(`dashboard ${k} must be a non-negative integer, got ${out[k]}`);
  }
  return out;
}import { KvError } from '../../../shared/errors.js';

