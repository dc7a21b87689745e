import type { TlsServerConfig } from '../../shared/tls.js';
import { CONN_LIMITS_DEFAULTS, checkConnLimits, type ConnLimits } from '../../shared/conn-limits.js';

/** Limits of the protocol parser. Every field is also a server option. */
export interface McParserOptions {
  /** Longest command line in bytes, without its `\r\n`; longer closes the connection. @default 2048 */
  maxLineBytes: number;
  /** Longest `get`/`gets`/`gat`/`gats` line (multi-gets may be long). @default 262144 */
  maxRetrievalLineBytes: number;
  /** Longest key in bytes (for base64 meta keys: of the encoded token). @default 250 */
  maxKeyBytes: number;
  /** Largest value a storage command may carry. @default 1048576 */
  maxValueBytes: number;
  /**
   * Largest data block that is read and discarded after `SERVER_ERROR object too large for
   * cache`; a longer declared length closes the connection. @default 16777216
   */
  maxSwallowBytes: number;
  /** Most keys in one `get`/`gets`/`gat`/`gats`. @default 1024 */
  maxKeysPerGet: number;
}

/**
 * Options of `MemcachedServer`. The connection limits (`ConnLimits`) apply per connection;
 * the pre-auth deadline only with `isAuthRequired`.
 */
export interface MemcachedServerOptions extends McParserOptions, ConnLimits {
  /** Address to listen on. @default '127.0.0.1' */
  host: string;
  /** TCP port; 0 picks a free one (read it back with `address()`). @default 11211 */
  port: number;
  /**
   * Open connections. At the limit a new one replaces the oldest unauthenticated
   * connection (which is told `SERVER_ERROR evicted: ...`); with none to replace (or
   * without `isAuthRequired`) the new one is answered `SERVER_ERROR too many open
   * connections` and closed. @default 4096
   */
  maxConnections: number;
  /**
   * Commands per connection parsed but not yet answered; at the limit the connection stops
   * reading until answers have been written. @default 1024
   */
  maxPipelinedCommands: number;
  /** Bytes waiting in a connection's socket after which it stops reading. @default 1048576 */
  writeHighWaterBytes: number;
  /** Most keys one `stats cachedump` lists (memcached caps its answer too). @default 100000 */
  maxDumpKeys: number;
  /** Time a backend call may take before the command is answered as a temporary failure. @default 10000 */
  commandTimeoutMs: number;
  /** Require the `set`-based ASCII authentication before any other command. @default false */
  isAuthRequired: boolean;
  /** Failed authentications after which the connection is closed. @default 3 */
  maxAuthFailures: number;
  /** Largest data block accepted before a connection has authenticated. @default 1024 */
  maxAuthPayloadBytes: number;
  /** What `version` answers. @default '1.6.21' */
  version: string;
  /** Time `close()` lets connections finish their answers before destroying them. @default 5000 */
  closeTimeoutMs: number;
  /** Certificate and key: the port then speaks memcached over TLS only. @default null */
  tls: TlsServerConfig | null;
}

export const MEMCACHED_DEFAULTS: Readonly<MemcachedServerOptions> = Object.freeze({
  ...CONN_LIMITS_DEFAULTS,
  tls: null,
  maxLineBytes: 2048,
  maxRetrievalLineBytes: 256 * 1024,
  maxKeyBytes: 250,
  maxValueBytes: 1024 * 1024,
  maxSwallowBytes: 16 * 1024 * 1024,
  maxKeysPerGet: 1024,
  host: '127.0.0.1',
  port: 11211,
  maxConnections: 4096,
  maxPipelinedCommands: 1024,
  writeHighWaterBytes: 1024 * 1024,
  maxDumpKeys: 100_000,
  commandTimeoutMs: 10_000,
  isAuthRequired: false,
  maxAuthFailures: 3,
  maxAuthPayloadBytes: 1024,
  version: '1.6.21',
  closeTimeoutMs: 5000,
});

/** Fill in defaults and reject limits that cannot work. */
export function resolveOptions(options: Partial<MemcachedServerOptions> = {}): Readonly<MemcachedServerOptions> {
  const o: MemcachedServerOptions = { ...MEMCACHED_DEFAULTS };
  for (const [name, value] of Object.entries(options) as Array<[keyof MemcachedServerOptions, unknown]>) {
    if (value !== undefined) (o as unknown as Record<string, unknown>)[name] = value;
  }
  const positive: Array<keyof MemcachedServerOptions> = [
    'maxLineBytes', 'maxRetrievalLineBytes', 'maxKeyBytes', 'maxValueBytes', 'maxKeysPerGet',
    'maxConnections', 'maxPipelinedCommands', 'writeHighWaterBytes', 'maxDumpKeys', 'commandTimeoutMs', 'maxAuthFailures',
  ];
  for (const name of positive) {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new RangeError(`memcached option ${name} must be a positive integer`);
  }
  for (const name of ['maxSwallowBytes', 'maxAuthPayloadBytes', 'closeTimeoutMs', 'port'] as const) {
    const v = o[name];
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`memcached option ${name} must be a non-negative integer`);
  }
  checkConnLimits(o, 'memcached');
  if (o.maxLineBytes < 64) throw new RangeError('memcached option maxLineBytes must be at least 64');
  if (o.maxRetrievalLineBytes < o.maxLineBytes) throw new RangeError('maxRetrievalLineBytes must be at least maxLineBytes');
  if (/[\r\n]/.test(o.version)) throw new RangeError('memcached option version must be one line');
  return Object.freeze(o);
}
