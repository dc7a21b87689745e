import { KvError } from '../shared/errors.js';
import { CLIENT_DEFAULTS, type ClientOptions } from './options.js';
import { StaticMapSource, type MapSource } from './map-source.js';
import { ManagerMapSource } from './manager-map-source.js';
import { parseSeedUrls } from '../shared/map-protocol.js';
import { PandaClient } from './client.js';
import { bytesCodec } from './value-codec.js';
import { loadCredentials, type KeyPair } from '../shared/auth/index.js';

/**
 * Connect to a PandaKV cluster. With `nodes`, keys are sharded over those nodes by the
 * keystream hash; with `map` (the manager's address) routing follows the live cluster map.
 *
 * ```ts
 * const db = await connect({ nodes: ['ws://127.0.0.1:7000'] });
 * await db.set('user:42', 'hello');
 * ```
 */
export async function connect<In = Uint8Array | string, Out = Uint8Array>(
  options: Partial<ClientOptions<In, Out>> = {},
): Promise<PandaClient<In, Out>> {
  const given = { ...CLIENT_DEFAULTS, valueCodec: bytesCodec, ...options } as ClientOptions<In, Out>;
  validate(given);
  // A file is read once, here; the client keeps the credentials, not the path.
  const credentials = typeof given.credentials === 'string' ? loadCredentials(given.credentials) : given.credentials;
  const opts: ClientOptions<In, Out> = { ...given, credentials };
  const derivedKeys = new Map<string, KeyPair>();
  const source: MapSource = opts.mapSource
    ?? (opts.map !== null
      ? new ManagerMapSource(opts.map, {
        connectTimeoutMs: opts.connectTimeoutMs,
        tlsCa: opts.tls?.ca ?? null,
        auth: credentials === null ? null : {
          credentials, managerKey: opts.managerKey, derivedKeys, ...(opts.passwordLimits === null ? {} : { passwordLimits: opts.passwordLimits }),
        },
      })
      : new StaticMapSource(opts.nodes, opts.bucketBits));
  const client = new PandaClient<In, Out>(Object.freeze(opts), source, derivedKeys);
  try {
    // With a proxy to fall back on, a missing map is not fatal: requests go through it.
    if (opts.proxy === null) {
      await source.ready(Date.now() + opts.timeoutMs);
      client.markReady();
    } else {
      void source.ready(Date.now() + opts.timeoutMs).then(() => client.markReady(), () => undefined);
    }
  } catch (err) {
    client.destroy();
    throw err instanceof KvError ? err : KvError.unavailable('no cluster map', {}, err);
  }
  return client;
}

function validate(o: ClientOptions<unknown, unknown>): void {
  if (o.map !== null) {
    if (typeof o.map !== 'string' && !(Array.isArray(o.map) && o.map.every((m) => typeof m === 'string'))) {
      throw KvError.invalidArgument(`map must be ws://host:port, a comma list or a list of them, got ${String(o.map)}`);
    }
    try {
      parseSeedUrls(o.map);
    } catch (err) {
      throw KvError.invalidArgument(`map: ${(err as Error).message}`);
    }
  }
  if (o.proxy !== null && (typeof o.proxy !== 'string' || !/^wss?:\/\//.test(o.proxy))) {
    throw KvError.invalidArgument(`proxy must be ws://host:port, got ${String(o.proxy)}`);
  }
  if (o.mapSource === null && o.map === null) {
    if (!Array.isArray(o.nodes) || o.nodes.length === 0) throw KvError.invalidArgument('connect() needs `map`, `nodes` or a `mapSource`');
    for (const n of o.nodes) {
      if (typeof n !== 'string' || !/^wss?:\/\//.test(n)) throw KvError.invalidArgument(`node address must be ws://host:port, got ${String(n)}`);
    }
  }
  const positive: Array<keyof ClientOptions<unknown, unknown>> = ['timeoutMs', 'connectTimeoutMs', 'maxInFlightPerLane', 'maxQueuedPerLane', 'maxFramesPerMessage', 'maxBatchBytes', 'heartbeatMs'];
  for (const k of positive) {
    const v = o[k];
    if (typeof v !== 'number' || !(v > 0)) throw KvError.invalidArgument(`${k} must be a positive number`);
  }
  if (o.managerKey !== null && (typeof o.managerKey !== 'string' || !/^[0-9a-fA-F]{64}$/.test(o.managerKey))) {
    throw KvError.invalidArgument('managerKey must be 64 hex digits');
  }
  if (o.credentials !== null && typeof o.credentials !== 'string' && (typeof o.credentials !== 'object' || (o.credentials.kind !== 'key' && o.credentials.kind !== 'password'))) {
    throw KvError.invalidArgument('credentials must be a credentials object or the path of a credentials file');
  }
  if (typeof o.keyPrefix !== 'string') throw KvError.invalidArgument('keyPrefix must be a string');
  if (o.wireLayout !== 'packed' && o.wireLayout !== 'cbor') throw KvError.invalidArgument('wireLayout must be "packed" or "cbor"');
  if (!Number.isInteger(o.bucketBits) || o.bucketBits < 0 || o.bucketBits > 32) throw KvError.invalidArgument('bucketBits must be 0..32');
}
