import { KvError } from '../../shared/errors.js';
import type { DashboardOptions } from './dashboard/options.js';
import { EVENT_LOG_DEFAULTS, type LogFormat } from '../../shared/event-log.js';
import { CONN_LIMITS_DEFAULTS, checkConnLimits, type ConnLimits } from '../../shared/conn-limits.js';
import type { TlsServerConfig } from '../../shared/tls.js';

/**
 * Options of a manager. Every delay is here so tests can shrink it. The connection
 * limits (`ConnLimits`) apply to its one port: the admin API, `/metrics` and `/map`.
 */
export interface ManagerOptions extends ConnLimits {
  /** Address to listen on. @default '127.0.0.1' */
  ip: string;
  /** Port; 0 picks a free one. @default 0 */
  port: number;
  /** Config store: `file:PATH` or `etcd://HOST:PORT[,HOST:PORT]`. @default 'file:./data/cfg.json' */
  cfg: string;
  /** Copies of each item for a new cluster (1 = no replica). @default 1 */
  redundancy: number;
  /** Bucket bits of a new cluster. @default 24 */
  bits: number;
  /** A node silent this long is declared failed. @default 5000 */
  failoverAfterMs: number;
  /** How often nodes heartbeat. @default failoverAfterMs / 5 */
  heartbeatMs: number;
  /** Place nodes as soon as they register (otherwise `cluster add`). @default true */
  isAutoAdd: boolean;
  /** Maps kept to answer a resubscribing client with a delta. @default 64 */
  historySize: number;
  /** TTL of this manager's election lease. @default 3000 */
  leaderLeaseMs: number;
  /**
   * Retry schedule (ms, jittered) of a failed campaign for leadership and of a lost
   * registry entry. @default [50, 100, 200, 400, 800, 1000]
   */
  retryBackoffMs: number[];
  /** Address other managers and the CLI should use; defaults to the listening one. @default null */
  advertise: string | null;
  /** Units one node may be gaining a copy of at once during a rebalance. @default 128 */
  movesPerNode: number;
  /** Units moved at once, cluster-wide. @default 512 */
  maxMoves: number;
  /** Longest wait for a batch's new copies to catch up before moves pause. @default 120000 */
  moveTimeoutMs: number;
  /**
   * After a failover, re-plan at once so every unit gets its copies back. When false the
   * promoted map stays until `pandakv cluster rebalance` (or another admin change).
   * @default true
   */
  isAutoRestore: boolean;
  /** No authentication on `/map` or the admin API (development only). @default false */
  isInsecure: boolean;
  /**
   * Connections open at once. At the limit a new one replaces the oldest connection that
   * has not authenticated on `/map`; with none (or `--insecure`) it is refused. @default 10000
   */
  maxConnections: number;
  /** The manager's key pair file (created 0600 when missing); null = a new key pair per start. @default null */
  keyFile: string | null;
  /**
   * Peer-plane bootstrap (`host:port`) to name to nodes that were given no `--dht`; empty
   * = this manager runs a DHT bootstrap node of its own on `ip` (unless `isDhtEnabled` is
   * false). @default []
   */
  dht: string[];
  /** Offer nodes a peer-plane bootstrap (`--no-dht` turns it off: nodes replicate only with their own `--dht`). @default true */
  isDhtEnabled: boolean;
  /**
   * Safety margin between a node fencing itself and the earliest failover, on top of 1 %
   * of `failoverAfterMs` for clock-rate drift (docs/replication.md, "Fencing").
   * @default min(500, failoverAfterMs / 10)
   */
  fenceMarginMs: number;
  /** Options of the dashboard at `/ui` (see dashboard/options.ts). @default {} */
  dashboard: Partial<DashboardOptions>;
  /** Format of cluster event lines (`--log-format`). @default 'text' */
  logFormat: LogFormat;
  /** Where cluster event lines go, one call per line without its newline. @default a line on stderr */
  logWrite: (line: string) => void;
  /** Cluster events kept for `GET /api/events`. @default 1000 */
  eventCapacity: number;
  /** Certificate and key (`--tls-cert`, `--tls-key`): the admin API, `/map` and `/metrics` then speak `https://`/`wss://` only. @default null */
  tls: TlsServerConfig | null;
}

/** Largest clock-rate difference between a node and the config store that the lease tolerates. */
export const MAX_CLOCK_DRIFT = 0.01;

/**
 * How long a node may serve after sending a heartbeat the manager acknowledged. Strictly
 * less than the failover time: the node stops before any manager may promote a replica.
 */
export function fenceAfterMs(o: Pick<ManagerOptions, 'failoverAfterMs' | 'fenceMarginMs'>): number {
  return Math.floor(o.failoverAfterMs * (1 - MAX_CLOCK_DRIFT)) - o.fenceMarginMs;
}

export const MANAGER_DEFAULTS: Readonly<Omit<ManagerOptions, 'heartbeatMs' | 'fenceMarginMs'>> = Object.freeze({
  ...CONN_LIMITS_DEFAULTS,
  maxConnections: 10_000,
  ip: '127.0.0.1',
  port: 0,
  cfg: 'file:./data/cfg.json',
  redundancy: 1,
  bits: 24,
  failoverAfterMs: 5000,
  isAutoAdd: true,
  historySize: 64,
  leaderLeaseMs: 3000,
  retryBackoffMs: [50, 100, 200, 400, 800, 1000],
  advertise: null,
  isInsecure: false,
  movesPerNode: 128,
  maxMoves: 512,
  moveTimeoutMs: 120_000,
  isAutoRestore: true,
  keyFile: null,
  dht: [],
  isDhtEnabled: true,
  dashboard: Object.freeze({}),
  logFormat: EVENT_LOG_DEFAULTS.format,
  logWrite: EVENT_LOG_DEFAULTS.write,
  eventCapacity: EVENT_LOG_DEFAULTS.capacity,
  tls: null,
});

/** Fill defaults, deriving the heartbeat from the failover time. */
export function managerOptions(o: Partial<ManagerOptions>): ManagerOptions {
  const merged = { ...MANAGER_DEFAULTS, ...o };
  const heartbeatMs = o.heartbeatMs ?? Math.max(20, Math.floor(merged.failoverAfterMs / 5));
  const fenceMarginMs = o.fenceMarginMs ?? Math.min(500, Math.round(merged.failoverAfterMs / 10));
  const opts: ManagerOptions = { ...merged, heartbeatMs, fenceMarginMs };
  if (!Number.isInteger(opts.redundancy) || opts.redundancy < 1 || opts.redundancy > 8) throw KvError.invalidArgument(`--redundancy must be 1..8, got ${opts.redundancy}`);
  if (!Number.isInteger(opts.bits) || opts.bits < 1 || opts.bits > 32) throw KvError.invalidArgument(`bits must be 1..32, got ${opts.bits}`);
  checkConnLimits(opts, 'manager');
  if (!(opts.failoverAfterMs >= 50)) throw KvError.invalidArgument(`--failover-after-ms must be at least 50, got ${opts.failoverAfterMs}`);
  const fence = fenceAfterMs(opts);
  if (!(fence >= 2 * heartbeatMs)) {
    throw KvError.invalidArgument(`the node lease (${fence} ms = failover ${opts.failoverAfterMs} ms less 1 % and the ${fenceMarginMs} ms margin) must be at least two heartbeats (${heartbeatMs} ms each)`);
  }
  return opts;
}
