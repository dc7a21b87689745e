import { PROTOCOL_DEFAULTS, type ProtocolLimits } from '../../shared/protocol/limits.js';
import { CONN_LIMITS_DEFAULTS, type ConnLimits } from '../../shared/conn-limits.js';
import type { Credentials } from '../../shared/auth/index.js';
import { EVENT_LOG_DEFAULTS, type LogFormat } from '../../shared/event-log.js';
import type { TlsCa, TlsServerConfig } from '../../shared/tls.js';

/** Options of a data node. Every limit and timeout is here so tests can shrink them. */
export interface NodeOptions extends ProtocolLimits, ConnLimits {
  /** Address to listen on. @default '127.0.0.1' */
  ip: string;
  /** Port to listen on; 0 picks a free one. @default 0 */
  port: number;
  /** Memory budget of the engine in MiB. @default 100 */
  memorySizeMb: number;
  /** Evict least recently used items when the budget is full; false = OUT_OF_MEMORY. @default true */
  isEvictionEnabled: boolean;
  /** CIDR allow-list of client addresses; empty = everyone. @default [] */
  incomingIp: string[];
  /** Number of buckets, a power of two. @default 16777216 */
  buckets: number;
  /** Address of a cluster member to join through, if any. @default null */
  ringnode: string | null;
  /** Copies of each item when running without a manager. @default 1 */
  redundancy: number;
  /** Directory for the node's identity and durable state. @default null */
  dataDir: string | null;
  /** Failure zone of the node. @default '' */
  zone: string;
  /** The manager to register with (`http://host:port`); null runs standalone. @default null */
  manager: string | null;
  /** Share of units this node should hold relative to others. @default 1 */
  weight: number;
  /** Address clients should use; defaults to the listening address. @default null */
  advertise: string | null;
  /** Most frames of one message that are executed; the rest are answered BUSY (retryable). @default 1024 */
  maxInFlightPerConnection: number;
  /** Pause reading a connection while this many response bytes wait to be sent. @default 4194304 */
  highWaterMarkBytes: number;
  /**
   * Client connections open at once. At the limit a new one replaces the oldest
   * connection that has not authenticated; with none (or `--insecure`) it is refused.
   * @default 10000
   */
  maxConnections: number;
  /** No authentication: every connection may run every op (development only). @default false */
  isInsecure: boolean;
  /** The principal this node uses towards the manager (needs the admin role). @default null */
  credentials: Credentials | null;
  /** The manager's public key (hex) to require; null trusts the key it presents. @default null */
  managerKey: string | null;
  /** Principals accepted when running without a manager (their JSON records). @default null */
  principals: unknown[] | null;
  /** DHT bootstrap nodes (`host:port`) of the peer plane; empty = no replication. @default [] */
  dht: string[];
  /** After coming back from a failover, how long before data of units not given back is dropped, ms. @default 60000 */
  recoveryCleanupMs: number;
  /** Hints this node holds for a down replica are dropped after this long, ms (hinted handoff). @default 10800000 (3 h) */
  hintTtlMs: number;
  /**
   * A peer link that received nothing, keep-alives included, for this long is dropped, ms:
   * records for a paused or cut-off peer then go to hints. Keep-alives go every quarter of
   * it, at most every 5 s. @default 20000
   */
  peerIdleTimeoutMs: number;
  /** Most bytes per second this node copies in by backfill (moves, repairs); 0 = no limit. @default 0 */
  backfillBytesPerSec: number;
  /**
   * With a data dir and a peer plane: a graceful stop writes the items and each unit's
   * seqno to the data dir, and the next start loads them and catches up by delta
   * (warm-restart.ts). `--no-warm-restart` turns it off. @default true
   */
  isWarmRestartEnabled: boolean;
  /**
   * Where items live: `disk` (lmdb in `<data-dir>/engine`, survives crashes, a read cache of
   * `memorySizeMb` in front) or `memory` (a cache, memcached semantics). null: disk when
   * there is a data dir, else memory. @default null
   */
  engine: 'disk' | 'memory' | null;
  /** Disk engine: longest a write waits before the group commit that makes it durable starts, ms. @default 5 */
  commitIntervalMs: number;
  /** Disk engine: start a pass that reclaims expired items from the disk this often, ms (0: never). @default 60000 */
  expirySweepIntervalMs: number;
  /** Format of cluster event lines (`--log-format`). @default 'text' */
  logFormat: LogFormat;
  /** Where cluster event lines go, one call per line without its newline. @default a line on stderr */
  logWrite: (line: string) => void;
  /** Cluster events kept in memory (`node.events.recent()`). @default 1000 */
  eventCapacity: number;
  /** Certificate and key of the client port (`--tls-cert`, `--tls-key`): it then speaks `wss://` and `https://`. @default null */
  tls: TlsServerConfig | null;
  /** Authorities trusted for the managers' TLS certificates (`--tls-ca`); null = the system's. @default null */
  tlsCa: TlsCa | null;
}

export const NODE_DEFAULTS: Readonly<NodeOptions> = Object.freeze({
  ...PROTOCOL_DEFAULTS,
  ...CONN_LIMITS_DEFAULTS,
  maxConnections: 10_000,
  ip: '127.0.0.1',
  port: 0,
  memorySizeMb: 100,
  isEvictionEnabled: true,
  incomingIp: [],
  buckets: 2 ** 24,
  ringnode: null,
  redundancy: 1,
  dataDir: null,
  zone: '',
  manager: null,
  weight: 1,
  advertise: null,
  maxInFlightPerConnection: 1024,
  highWaterMarkBytes: 4 * 1024 * 1024,
  isInsecure: false,
  credentials: null,
  managerKey: null,
  principals: null,
  dht: [],
  recoveryCleanupMs: 60_000,
  hintTtlMs: 3 * 60 * 60 * 1000,
  peerIdleTimeoutMs: 20_000,
  backfillBytesPerSec: 0,
  isWarmRestartEnabled: true,
  engine: null,
  commitIntervalMs: 5,
  expirySweepIntervalMs: 60_000,
  logFormat: EVENT_LOG_DEFAULTS.format,
  logWrite: EVENT_LOG_DEFAULTS.write,
  eventCapacity: EVENT_LOG_DEFAULTS.capacity,
  tls: null,
  tlsCa: null,
});
