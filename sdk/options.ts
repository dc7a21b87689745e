import type { TlsCa } from '../shared/tls-ca.js';
import type { MapSource } from './map-source.js';
import type { ValueCodec } from './value-codec.js';
import type { Durability } from '../shared/protocol/frames.js';
import type { WireLayout } from '../shared/protocol/packed-layout.js';
import type { Credentials, PasswordLimits } from '../shared/auth/index.js';

/** Options of `connect()`. */
export interface ClientOptions<In = Uint8Array | string, Out = Uint8Array> {
  /** Node addresses (`ws://host:port`) to shard over when there is no manager. @default [] */
  nodes: string[];
  /**
   * The manager tier's map service: one `ws://host:port` (or `http://`, `/map` optional), a
   * comma list, or a list of seeds. The other managers are learnt from the map, and the
   * subscription moves to another when its manager goes away. @default null
   */
  map: string | readonly string[] | null;
  /** A proxy (`ws://host:port`) to go through when the map is unavailable or an owner unreachable. @default null */
  proxy: string | null;
  /** A custom source of cluster maps; overrides `map` and `nodes`. @default null */
  mapSource: MapSource | null;
  /** Number of buckets of a static (`nodes`) map, as bits. @default 24 */
  bucketBits: number;
  /** Deadline of each operation, covering queueing, retries and fallback. @default 2500 */
  timeoutMs: number;
  /** Deadline for opening a lane. @default 2000 */
  connectTimeoutMs: number;
  /** Requests one lane may have unanswered; more wait in a bounded queue. @default 1024 */
  maxInFlightPerLane: number;
  /** Requests that may wait for an in-flight slot per lane; more fail with BUSY. @default 65536 */
  maxQueuedPerLane: number;
  /** Most frames packed into one WebSocket message. @default 1024 */
  maxFramesPerMessage: number;
  /** Bytes of values after which a batch is cut into a new message. @default 1048576 */
  maxBatchBytes: number;
  /** Idle time after which a lane sends a ping; no answer within it closes the lane. @default 5000 */
  heartbeatMs: number;
  /** Retry backoff schedule in ms (DESIGN §10); jittered ±20 %. @default [1, 10, 50, 100, 500, 1000] */
  backoffMs: number[];
  /** Encoding of values. @default bytes (accepts Uint8Array or string, returns Uint8Array) */
  valueCodec: ValueCodec<In, Out>;
  /** Durability of writes unless an operation overrides it. @default 'none' */
  durability: Durability;
  /** Longest key in bytes. @default 250 */
  maxKeyBytes: number;
  /**
   * Who the client is (DESIGN §9): credentials, or the path of a credentials file
   * (mode 0600). Null only for a cluster started with `--insecure`. @default null
   */
  credentials: Credentials | string | null;
  /** The manager's public key (hex) to require; null trusts the key it presents. @default null */
  managerKey: string | null;
  /** Argon2id cost of a password principal, if it was created with other than the default. @default null */
  passwordLimits: Partial<PasswordLimits> | null;
  /**
   * TLS towards `wss://` managers, nodes and proxies: `ca` is the authorities (PEM) to
   * trust for their certificates; null trusts the system's. @default null
   */
  tls: { ca: TlsCa } | null;
  /**
   * Put in front of every key this client reads or writes (UTF-8), and limit scans to keys
   * under it; scan results come back without it. Counts towards `maxKeyBytes`. @default ''
   */
  keyPrefix: string;
  /**
   * How requests to the nodes are written (docs/protocol.md §16): `packed` sends GET and
   * SET in the packed layout, cheaper to write and read than CBOR, to every server that
   * offers it when the connection opens (others, older nodes and the proxy, get CBOR);
   * `cbor` sends every frame as CBOR. Requests to `proxy` are always CBOR.
   * @default 'packed'
   */
  wireLayout: WireLayout;
}

export const CLIENT_DEFAULTS = Object.freeze({
  nodes: [] as string[],
  map: null,
  proxy: null,
  mapSource: null,
  bucketBits: 24,
  timeoutMs: 2500,
  connectTimeoutMs: 2000,
  maxInFlightPerLane: 1024,
  maxQueuedPerLane: 65536,
  maxFramesPerMessage: 1024,
  maxBatchBytes: 1024 * 1024,
  heartbeatMs: 5000,
  backoffMs: [1, 10, 50, 100, 500, 1000],
  durability: 'none' as Durability,
  maxKeyBytes: 250,
  credentials: null,
  managerKey: null,
  passwordLimits: null,
  tls: null,
  keyPrefix: '',
  wireLayout: 'packed' as WireLayout,
});
