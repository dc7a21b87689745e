import { PROTOCOL_DEFAULTS, type ProtocolLimits } from '../shared/protocol/limits.js';
import type { WireLayout } from '../shared/protocol/packed-layout.js';
import type { Credentials, PasswordLimits } from '../shared/auth/index.js';
import { EVENT_LOG_DEFAULTS, type LogFormat } from '../shared/event-log.js';
import { CONN_LIMITS_DEFAULTS, type ConnLimits } from '../shared/conn-limits.js';
import type { TlsCa, TlsServerConfig } from '../shared/tls.js';
import type { WebSocket } from 'ws';
import type { Request } from '../shared/protocol/frames.js';
import type { McPrincipal } from './memcached/backend.js';

/** Per-connection gate run before each request (auth and roles); null lets it through. */
export type RequestGate = (req: Request, extra: Record<string, unknown> | undefined) => Promise<unknown[] | null> | unknown[] | null;

/** Verifies memcached ASCII auth (`user password`) against the cluster's principals. */
export type PasswordCheck = (user: string, password: string) => Promise<McPrincipal | null>;

/** Auth hooks the proxy runs for thin clients; absent = `--insecure`. */
export interface ProxyAuth {
  /**
   * Builds the per-connection gate of the native protocol; `onAuthenticated` is called
   * once, when the connection has proved a principal (it then escapes the pre-auth deadline).
   */
  gateFor(ws: WebSocket, onAuthenticated?: () => void): RequestGate;
  /** memcached login: ASCII auth (`set` of `USER PASSWORD`) and binary SASL PLAIN. */
  checkPassword: PasswordCheck;
}

/**
 * Options of the proxy. Every delay and limit is here so tests can shrink them. The
 * connection limits (`ConnLimits`) apply to the WebSocket port and the memcached port alike.
 */
export interface ProxyOptions extends ProtocolLimits, ConnLimits {
  /** The manager's map service (`ws://host:port` or `http://host:port`). */
  map: string;
  /** Address to listen on. @default '127.0.0.1' */
  ip: string;
  /** WebSocket (native protocol) and HTTP (/healthz, /metrics) port; 0 picks one. @default 0 */
  port: number;
  /** memcached text/meta protocol port; 0 picks one, null turns it off. @default 0 */
  memcachedPort: number | null;
  /** Authenticated lanes opened to every node. @default 2 */
  lanesPerNode: number;
  /** Map subscription lost longer than this → unhealthy, refuse new clients. @default 10000 */
  mapLossMs: number;
  /** Deadline of each forwarded request. @default 2500 */
  timeoutMs: number;
  /** Deadline for lanes to open during warm-up. @default 5000 */
  warmupTimeoutMs: number;
  /** Unanswered requests per lane. @default 1024 */
  maxInFlightPerLane: number;
  /**
   * Messages a lane sends before the node's next message; later requests are held (at
   * most 1 ms) and leave together. A lane with nothing unanswered sends at once. 0 = no
   * limit. @default 0
   */
  sendWindow: number;
  /** Requests one client connection may have in flight; more are answered BUSY. @default 1024 */
  maxInFlightPerClient: number;
  /** Pause reading a client while this many bytes wait to be sent to it. @default 4194304 */
  highWaterMarkBytes: number;
  /**
   * Connections open at once on the WebSocket/HTTP port. At the limit a new one replaces
   * the oldest unauthenticated connection; with none (or `--insecure`) it is refused. @default 10000
   */
  maxClients: number;
  /** The same for the memcached port. @default 4096 */
  memcachedMaxConnections: number;
  /** Secret (hex) signing scan cursors; proxies sharing it accept each other's cursors. @default random per process */
  cursorSecret: string | null;
  /** Reconnect schedule for lanes in ms. @default [50, 100, 250, 500, 1000] */
  backoffMs: number[];
  /** No authentication of clients, and lanes and map without credentials (development only). @default false */
  isInsecure: boolean;
  /**
   * The proxy's own principal: its lanes and its map subscription authenticate with it.
   * It needs `admin` (to receive the principal list) and the roles clients use. @default null
   */
  credentials: Credentials | null;
  /** The proxy's key pair file (created 0600 when missing); null = new per start. @default null */
  keyFile: string | null;
  /** The manager's public key (hex) to require; null trusts the key it presents. @default null */
  managerKey: string | null;
  /**
   * Keep the event loop polling this long (µs) after client or node traffic instead of
   * sleeping, so the next message does not pay a wake-up; 0 turns it off. It polls only
   * while the machine has `idlePollSpareCores` idle (docs/proxy.md). @default 200
   */
  idlePollUs: number;
  /**
   * Idle cores the machine must have (read from /proc/stat every 100 ms, the proxy's own
   * polling counted as idle) for the proxy to poll; 0 polls whatever the load. Off Linux
   * the load cannot be read, and only 0 polls. @default 0.5
   */
  idlePollSpareCores: number;
  /**
   * Share of the time some task waited for a CPU (Linux PSI, `/proc/pressure/cpu`) at or
   * above which the proxy stops polling even with idle cores; 1 ignores it. @default 0.3
   */
  idlePollMaxPressure: number;
  /**
   * How the proxy's lanes write GET and SET to nodes: `packed` in the packed layout
   * (docs/protocol.md §16) to every node that offers it, CBOR to one that does not;
   * `cbor` always CBOR. memcached `get` and `set` are built for the chosen layout;
   * native-protocol frames are forwarded as the client encoded them either way. @default 'packed'
   */
  upstreamLayout: WireLayout;
  /** Argon2id cost that password principals were created with (memcached auth). @default interactive */
  passwordLimits: Partial<PasswordLimits> | null;
  /** Format of cluster event lines (`--log-format`). @default 'text' */
  logFormat: LogFormat;
  /** Where cluster event lines go, one call per line without its newline. @default a line on stderr */
  logWrite: (line: string) => void;
  /** Cluster events kept in memory (`proxy.events.recent()`). @default 1000 */
  eventCapacity: number;
  /** Certificate and key of both client ports (`--tls-cert`, `--tls-key`): `wss://`/`https://` and memcached over TLS. @default null */
  tls: TlsServerConfig | null;
  /** Authorities trusted for `wss://` managers' and nodes' certificates (`--tls-ca`); null = the system's. @default null */
  tlsCa: TlsCa | null;
}

export const PROXY_DEFAULTS: Readonly<Omit<ProxyOptions, 'map'>> = Object.freeze({
  ...PROTOCOL_DEFAULTS,
  ...CONN_LIMITS_DEFAULTS,
  memcachedMaxConnections: 4096,
  ip: '127.0.0.1',
  port: 0,
  memcachedPort: 0,
  lanesPerNode: 2,
  mapLossMs: 10_000,
  timeoutMs: 2500,
  warmupTimeoutMs: 5000,
  maxInFlightPerLane: 1024,
  sendWindow: 0,
  maxInFlightPerClient: 1024,
  highWaterMarkBytes: 4 * 1024 * 1024,
  maxClients: 10_000,
  cursorSecret: null,
  backoffMs: [50, 100, 250, 500, 1000],
  isInsecure: false,
  credentials: null,
  keyFile: null,
  managerKey: null,
  passwordLimits: null,
  idlePollUs: 200,
  idlePollSpareCores: 0.5,
  idlePollMaxPressure: 0.3,
  upstreamLayout: 'packed',
  logFormat: EVENT_LOG_DEFAULTS.format,
  logWrite: EVENT_LOG_DEFAULTS.write,
  eventCapacity: EVENT_LOG_DEFAULTS.capacity,
  tls: null,
  tlsCa: null,
});
