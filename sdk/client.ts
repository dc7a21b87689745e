import { EventEmitter } from 'eventemitter3';
import { KvError } from '../shared/errors.js';
import { Status } from '../shared/status.js';
import { Op, type OpCode } from '../shared/protocol/ops.js';
import {
  controlRequest, counterRequest, deleteRequest, errorFromAnswer, expiryRequest, keyRequest, replicaReadRequest, storeRequest,
  type Durability, type RequestFrame, type Response,
} from '../shared/protocol/frames.js';
import { rethrowAtCaller } from '../shared/caller-stack.js';
import type { OpOptions, ReadOptions, WriteOptions, CounterOptions, Item, ClientEvents } from './op-options.js';
import type { ClusterMap } from '../shared/cluster-map.js';
import { diffSummary } from '../shared/map-tracker.js';
import type { ClientOptions } from './options.js';
import type { MapSource } from './map-source.js';
import { LanePool } from './lane-pool.js';
import type { LaneAuth } from './lane-contract.js';
import type { KeyPair } from '../shared/auth/index.js';
import { Dispatcher, type FallbackReason } from './dispatcher.js';
import type { SendPlan } from './dispatch-request.js';
import { DispatchPromise } from './request-forms.js';
import { checkKey, type RouteInfo } from './router.js';
import { ScanIterator, type ScanOptions } from './scan.js';

export type { OpOptions, ReadOptions, WriteOptions, CounterOptions, Item, ClientEvents } from './op-options.js';

type Options<In, Out> = Readonly<ClientOptions<In, Out>>;

/**
 * The PandaKV client. Routes every key locally to the node that owns its bucket and
 * sends the request there over a pipelined lane. Create it with `connect()`.
 */
export class PandaClient<In = Uint8Array | string, Out = Uint8Array> extends EventEmitter<ClientEvents> {
  private readonly options: Options<In, Out>;
  private readonly source: MapSource;
  private readonly pool: LanePool;
  private readonly dispatcher: Dispatcher;
  private readonly proxyPool: LanePool | null;
  private isClosed = false;
  private isInFallback = false;
  private fallbackTimer: NodeJS.Timeout | null = null;
  /** `keyPrefix` as UTF-8 bytes; empty when there is none. */
  private readonly prefixBytes: Buffer;
  private isReady = false;
  private isReconnecting = false;

  constructor(options: Options<In, Out>, source: MapSource, derivedKeys = new Map<string, KeyPair>()) {
    super();
    this.options = options;
    this.source = source;
    const creds = options.credentials;
    if (typeof creds === 'string') throw KvError.invalidArgument('credentials must be loaded before the client is built (connect() does this)');
    const limits = options.passwordLimits === null ? {} : { passwordLimits: options.passwordLimits };
    // Nodes must prove they hold the key the map lists for them; the proxy is trusted on first use.
    const nodeAuth: LaneAuth | null = creds === null ? null : { credentials: creds, serverKeyFor: this.nodeKeyFor, derivedKeys, ...limits };
    const proxyAuth: LaneAuth | null = creds === null ? null : { credentials: creds, serverKeyFor: () => null, derivedKeys, ...limits };
    const laneOptions = {
      connectTimeoutMs: options.connectTimeoutMs,
      maxInFlight: options.maxInFlightPerLane,
      maxQueued: options.maxQueuedPerLane,
      maxFramesPerMessage: options.maxFramesPerMessage,
      maxBatchBytes: options.maxBatchBytes,
      heartbeatMs: options.heartbeatMs,
      tlsCa: options.tls?.ca ?? null,
    };
    this.pool = new LanePool({ ...laneOptions, auth: nodeAuth, wireLayout: options.wireLayout }, options.backoffMs);
    const proxy = options.proxy;
    this.proxyPool = proxy === null ? null : new LanePool({ ...laneOptions, auth: proxyAuth }, options.backoffMs);
    this.dispatcher = new Dispatcher(source, this.pool, {
      backoffMs: options.backoffMs,
      fallback: proxy === null ? null : { pool: this.proxyPool!, address: proxy, onFallback: this.onFallback },
    });
    this.pool.on('node-down', this.onNodeDown);
    this.pool.on('node-up', this.onNodeUp);
    source.on('map', this.onMap);
    source.on('status', this.onSourceStatus);
    source.on('error', this.onSourceError);
    this.prefixBytes = Buffer.from(options.keyPrefix, 'utf8');
  }

  /**
   * Announce `ready` (asynchronously, so listeners attached right after `connect()` hear
   * it). `connect()` calls this once the first map is known.
   * @internal
   */
  markReady(): void {
    if (this.isReady || this.isClosed) return;
    this.isReady = true;
    this.emitLater('ready');
  }

  /** `key` with `keyPrefix` in front. */
  private prefixed(key: string | Uint8Array): string | Uint8Array {
    if (this.prefixBytes.length === 0) return key;
    if (typeof key === 'string') return this.options.keyPrefix + key;
    if (!(key instanceof Uint8Array)) return key;
    return Buffer.concat([this.prefixBytes, key]);
  }

  private readonly nodeKeyFor = (address: string): string | null => {
    const node = this.source.current()?.nodes.find((n) => n.address === address);
    return node?.peerKey ?? null;
  };

  /** Explain where `key` goes: bucket, unit, chain and the map's epoch. */
  route(key: string | Uint8Array): RouteInfo {
    key = this.prefixed(key);
    checkKey(key, this.options.maxKeyBytes);
    return this.dispatcher.currentRouter().explain(key);
  }

  /** The map in use, or null before the first one. */
  get map(): ClusterMap | null {
    return this.source.current();
  }

  /** The value of `key`, or null when it does not exist. */
  get(key: string | Uint8Array, opts?: ReadOptions): Promise<Out | null> {
    // The hottest call: one promise, settled by the lane's answer.
    return this.read(Op.GET, key, 0, opts, this.valueOrNull);
  }

  /** Value, cas and flags of `key`, or null when it does not exist. */
  getItem(key: string | Uint8Array, opts?: ReadOptions): Promise<Item<Out> | null> {
    return this.read(Op.GET, key, 0, opts, this.itemOrNull);
  }

  /**
   * Read `key` from whichever copy answers first: its replicas in random order, then the
   * active. For reads that must go on while the active is down (the value may be a
   * little behind the active's).
   */
  async getAnyReplica(key: string | Uint8Array, opts?: OpOptions): Promise<Out | null> {
    key = this.prefixed(key);
    checkKey(key, this.options.maxKeyBytes);
    if (this.isClosed) throw KvError.clientClosed();
    const deadline = this.deadline(opts);
    const router = this.dispatcher.currentRouter();
    const replicas = router.replicaAddresses(key).sort(() => Math.random() - 0.5);
    const active = router.activeAddress(key);
    const candidates = active === null ? replicas : [...replicas, active];
    let last: unknown = KvError.unavailable('no copy of this key is reachable', { isSafeToRetry: true });
    for (const address of candidates) {
      const isActive = address === active;
      const frame = isActive ? keyRequest(Op.GET, key) : replicaReadRequest(Op.GET, key);
      try {
        const r = await this.dispatcher.send(frame, { key, address, isIdempotent: true, valueBytes: 0 }, deadline);
        if (r.status === Status.OK) return this.decodeValue(r.value);
        if (r.status === Status.NOT_FOUND) return null;
        last = this.fail(r);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  /** Get `key` and set its time to live in one step. */
  getAndTouch(key: string | Uint8Array, ttl: number, opts?: OpOptions): Promise<Out | null> {
    return this.read(Op.GAT, key, ttl, opts, this.valueOrNull);
  }

  /** Values of many keys, in the order given (null where missing). Sent as one batch per node. */
  getMany(keys: ReadonlyArray<string | Uint8Array>, opts?: ReadOptions): Promise<Array<Out | null>> {
    return Promise.all(keys.map((k) => this.get(k, opts)));
  }

  /** Store `value`; resolves with the new cas. With `cas`, fails EXISTS on a mismatch and NOT_FOUND when missing. */
  set(key: string | Uint8Array, value: In, opts?: WriteOptions): Promise<bigint> {
    return this.write(Op.SET, key, value, opts, casOf);
  }

  /** Store only if the key does not exist; false when it does. */
  add(key: string | Uint8Array, value: In, opts?: WriteOptions): Promise<boolean> {
    return this.write(Op.ADD, key, value, opts, addedOrFalse);
  }

  /** Store only if the key exists; false when it does not. */
  replace(key: string | Uint8Array, value: In, opts?: WriteOptions): Promise<boolean> {
    return this.write(Op.REPLACE, key, value, opts, storedOrFalse);
  }

  /** Append bytes to an existing value; false when the key does not exist. */
  append(key: string | Uint8Array, value: In, opts?: WriteOptions): Promise<boolean> {
    return this.write(Op.APPEND, key, value, opts, storedOrFalse);
  }

  /** Prepend bytes to an existing value; false when the key does not exist. */
  prepend(key: string | Uint8Array, value: In, opts?: WriteOptions): Promise<boolean> {
    return this.write(Op.PREPEND, key, value, opts, storedOrFalse);
  }

  /** Delete `key`; false when it did not exist. With `cas`, fails EXISTS on a mismatch. */
  async delete(key: string | Uint8Array, opts?: { cas?: bigint; timeoutMs?: number; durability?: Durability }): Promise<boolean> {
    key = this.prefixed(key);
    checkKey(key, this.options.maxKeyBytes);
    const frame = deleteRequest(key, opts?.cas ?? 0, this.durabilityExtra(opts?.durability));
    const r = await this.dispatcher.send(frame, { key, isIdempotent: false, valueBytes: 0 }, this.deadline(opts));
    if (r.status === Status.OK) return true;
    if (r.status === Status.NOT_FOUND) return false;
    throw this.fail(r);
  }

  /**
   * Add `delta` to a decimal counter (wrapping at 2^64); resolves with the new value. A
   * missing key fails with NOT_FOUND, unless `initial` is given: then the key is created
   * holding `initial`, which is returned (the delta is not applied to it).
   */
  incr(key: string | Uint8Array, delta: bigint | number = 1n, opts?: CounterOptions): Promise<bigint> {
    return this.counter(Op.INCR, key, delta, opts);
  }

  /** Subtract `delta` from a decimal counter (never below 0); resolves with the new value. */
  decr(key: string | Uint8Array, delta: bigint | number = 1n, opts?: CounterOptions): Promise<bigint> {
    return this.counter(Op.DECR, key, delta, opts);
  }

  /** Set a new time to live; false when the key does not exist. */
  async touch(key: string | Uint8Array, ttl: number, opts?: OpOptions): Promise<boolean> {
    key = this.prefixed(key);
    checkKey(key, this.options.maxKeyBytes);
    checkTtl(ttl);
    const r = await this.dispatcher.send(expiryRequest(Op.TOUCH, key, ttl), { key, isIdempotent: true, valueBytes: 0 }, this.deadline(opts));
    if (r.status === Status.OK) return true;
    if (r.status === Status.NOT_FOUND) return false;
    throw this.fail(r);
  }

  /**
   * Keys in `[start, end)` in byte order across every node, as an async iterator with
   * backpressure. With `keyPrefix`, only keys under it, returned without it.
   */
  scan(opts: ScanOptions = {}): ScanIterator<Out> {
    // Fail now, not at the first page, when there is no map yet.
    this.dispatcher.currentRouter();
    const prefix = this.prefixBytes;
    const scoped: ScanOptions = prefix.length === 0 ? opts : {
      ...opts,
      start: Buffer.concat([prefix, toBytes(opts.start ?? '')]),
      ...(opts.end !== undefined ? { end: Buffer.concat([prefix, toBytes(opts.end)]) } : prefixEnd(prefix) === null ? {} : { end: prefixEnd(prefix)! }),
    };
    return new ScanIterator<Out>(scoped, {
      keyPrefix: prefix,
      currentMap: () => this.source.current(),
      refreshMap: (minEpoch, deadline) => this.source.refresh(minEpoch, deadline),
      request: (address, frame, deadline) => this.pool.get(address).request(frame, deadline, 0),
      decode: (bytes) => this.decodeValue(bytes),
      backoffMs: this.options.backoffMs,
      timeoutMs: this.options.timeoutMs,
    });
  }

  /** Stats of every node, by address. */
  async stats(opts?: OpOptions): Promise<Record<string, Record<string, number | string>>> {
    const router = this.dispatcher.currentRouter();
    const deadline = this.deadline(opts);
    const out: Record<string, Record<string, number | string>> = {};
    await Promise.all(router.activeNodes().map(async (address) => {
      const r = await this.dispatcher.send(controlRequest(Op.STATS), { key: null, address, isIdempotent: true, valueBytes: 0 }, deadline);
      if (r.status !== Status.OK) throw this.fail(r);
      out[address] = r.value as Record<string, number | string>;
    }));
    return out;
  }

  /** Finish in-flight work, then close every lane and the map subscription. Idempotent. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.emitLater('close');
    this.detachSource();
    if (this.fallbackTimer !== null) clearTimeout(this.fallbackTimer);
    await this.pool.close();
    await this.proxyPool?.close();
    this.source.close();
  }

  /** Fail everything in flight and drop every connection now. Idempotent. */
  destroy(): void {
    if (!this.isClosed) this.emitLater('close');
    this.isClosed = true;
    this.detachSource();
    if (this.fallbackTimer !== null) clearTimeout(this.fallbackTimer);
    this.pool.destroy(KvError.clientClosed('client destroyed'));
    this.proxyPool?.destroy(KvError.clientClosed('client destroyed'));
    this.source.close();
  }

  private detachSource(): void {
    this.source.off('map', this.onMap);
    this.source.off('status', this.onSourceStatus);
    this.source.off('error', this.onSourceError);
  }

  /** Emit on a later turn of the event loop, never from inside the caller's call. */
  private emitLater(event: 'ready' | 'reconnecting' | 'close'): void;
  private emitLater(event: 'error', err: KvError): void;
  private emitLater(event: 'ready' | 'reconnecting' | 'close' | 'error', err?: KvError): void {
    setImmediate(() => {
      if (event === 'error') this.emit('error', err!);
      else this.emit(event);
    });
  }

  private readonly onSourceStatus = (isConnected: boolean): void => {
    if (this.isClosed) return;
    if (!isConnected) {
      if (this.isReconnecting) return;
      this.isReconnecting = true;
      this.emitLater('error', KvError.unavailable('lost the cluster map subscription; reconnecting with the last map in use', { isSafeToRetry: true }));
      this.emitLater('reconnecting');
      return;
    }
    if (this.isReconnecting) {
      this.isReconnecting = false;
      if (this.isReady) this.emitLater('ready');
    }
  };

  private readonly onSourceError = (err: Error): void => {
    // Connection-level errors are followed by a status change; only refusals are news.
    if (this.isClosed || !(err instanceof KvError)) return;
    this.emitLater('error', err);
  };

  /** A keyed read, answered through `settle`. */
  private read<T>(op: OpCode, key: string | Uint8Array, ttl: number, opts: ReadOptions | undefined, settle: (r: Response) => T): Promise<T> {
    let frame: RequestFrame;
    try {
      key = this.prefixed(key);
      checkKey(key, this.options.maxKeyBytes);
      if (this.isClosed) throw KvError.clientClosed();
      const isReplica = opts?.replica === true && op === Op.GET;
      frame = op === Op.GAT ? expiryRequest(op, key, ttl) : isReplica ? replicaReadRequest(op, key) : keyRequest(op, key);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.dispatch(frame, { key, isIdempotent: true, isReplicaRead: opts?.replica === true, valueBytes: 0 }, opts, settle);
  }

  /** A store (SET, ADD, REPLACE, APPEND, PREPEND), answered through `settle`. */
  private write<T>(op: OpCode, key: string | Uint8Array, value: In, opts: WriteOptions | undefined, settle: (r: Response) => T): Promise<T> {
    let frame: RequestFrame;
    let valueBytes: number;
    try {
      key = this.prefixed(key);
      checkKey(key, this.options.maxKeyBytes);
      if (this.isClosed) throw KvError.clientClosed();
      const ttl = opts?.ttl ?? 0;
      checkTtl(ttl);
      const flags = opts?.flags ?? 0;
      if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) throw KvError.invalidArgument('flags must be an unsigned 32-bit integer');
      const wire = this.options.valueCodec.encode(value);
      frame = storeRequest(op, key, wire, flags, ttl, opts?.cas ?? 0, this.durabilityExtra(opts?.durability));
      valueBytes = typeof wire === 'string' ? wire.length * 3 : wire.length;
    } catch (err) {
      return Promise.reject(err);
    }
    return this.dispatch(frame, { key, isIdempotent: false, valueBytes }, opts, settle);
  }

  /**
   * Send `frame` by `plan` and settle one promise with `settle(answer)`; a timeout is
   * re-made where the caller awaits it, so its stack names the caller.
   */
  private dispatch<T>(frame: RequestFrame, plan: SendPlan, opts: OpOptions | undefined, settle: (r: Response) => T): Promise<T> {
    const deadline = this.deadline(opts);
    return new Promise<T>((resolve, reject) => this.dispatcher.dispatch(new DispatchPromise(frame, plan, deadline, settle, resolve, reject))).then(undefined, rethrowAtCaller);
  }

  private readonly valueOrNull = (r: Response): Out | null => {
    if (r.status === Status.OK) return this.decodeValue(r.value);
    if (r.status === Status.NOT_FOUND) return null;
    throw errorFromAnswer(r);
  };

  private readonly itemOrNull = (r: Response): Item<Out> | null => {
    if (r.status === Status.OK) return { value: this.decodeValue(r.value), cas: BigInt(r.cas), flags: r.flags };
    if (r.status === Status.NOT_FOUND) return null;
    throw errorFromAnswer(r);
  };

  private async counter(op: OpCode, key: string | Uint8Array, delta: bigint | number, opts?: CounterOptions): Promise<bigint> {
    key = this.prefixed(key);
    checkKey(key, this.options.maxKeyBytes);
    if (this.isClosed) throw KvError.clientClosed();
    const extra: Record<string, unknown> = { delta: toU64(delta, 'delta') };
    if (opts?.initial !== undefined) extra.initial = toU64(opts.initial, 'initial');
    const durability = opts?.durability ?? this.options.durability;
    if (durability !== 'none') extra.durability = durability;
    const ttl = opts?.ttl ?? 0;
    checkTtl(ttl);
    const r = await this.dispatcher.send(counterRequest(op, key, ttl, extra), { key, isIdempotent: false, valueBytes: 0 }, this.deadline(opts));
    if (r.status !== Status.OK) throw this.fail(r);
    if (typeof r.value === 'number' || typeof r.value === 'bigint') return BigInt(r.value);
    throw KvError.protocol('counter answer without a value');
  }

  private durabilityExtra(d: Durability | undefined): Record<string, unknown> | null {
    const durability = d ?? this.options.durability;
    return durability === 'none' ? null : { durability };
  }

  private decodeValue(v: unknown): Out {
    if (v instanceof Uint8Array) return this.options.valueCodec.decode(v);
    if (typeof v === 'string') return this.options.valueCodec.decode(Buffer.from(v, 'utf8'));
    throw KvError.protocol('answer without a byte value');
  }

  private deadline(opts: OpOptions | undefined): number {
    return Date.now() + (opts?.timeoutMs ?? this.options.timeoutMs);
  }

  private fail(r: Response): KvError {
    return errorFromAnswer(r);
  }

  private readonly onMap = (map: ClusterMap, previous: ClusterMap | null): void => {
    this.pool.retain(new Set(map.nodes.map((n) => n.address)));
    this.emit('map', map, diffSummary(previous, map));
  };

  // Fallback is a state: announced when it starts, and again (with null) once no request
  // has needed the proxy for a while.
  private readonly onFallback = (reason: FallbackReason): void => {
    if (!this.isInFallback) {
      this.isInFallback = true;
      this.emit('fallback', reason);
    }
    if (this.fallbackTimer !== null) clearTimeout(this.fallbackTimer);
    this.fallbackTimer = setTimeout(() => {
      this.fallbackTimer = null;
      this.isInFallback = false;
      this.emit('fallback', null);
    }, 1000);
    this.fallbackTimer.unref();
  };

  private readonly onNodeDown = (address: string, err: KvError | null): void => {
    this.emit('node-down', address, err);
  };

  private readonly onNodeUp = (address: string): void => {
    this.emit('node-up', address);
  };
}

function casOf(r: Response): bigint {
  if (r.status !== Status.OK) throw errorFromAnswer(r);
  return BigInt(r.cas);
}

function storedOrFalse(r: Response): boolean {
  if (r.status === Status.OK) return true;
  if (r.status === Status.NOT_STORED) return false;
  throw errorFromAnswer(r);
}

function addedOrFalse(r: Response): boolean {
  if (r.status === Status.OK) return true;
  if (r.status === Status.NOT_STORED || r.status === Status.EXISTS) return false;
  throw errorFromAnswer(r);
}

function checkTtl(ttl: number): void {
  if (!Number.isSafeInteger(ttl)) throw KvError.invalidArgument('ttl must be an integer number of seconds');
}

function toU64(v: bigint | number, name: string): bigint | number {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw KvError.invalidArgument(`${name} must be an unsigned integer`);
    return v;
  }
  if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) throw KvError.invalidArgument(`${name} must be an unsigned 64-bit integer`);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function toBytes(key: string | Uint8Array): Uint8Array {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

/** The smallest key after every key that starts with `prefix`; null when there is none (all 0xff). */
function prefixEnd(prefix: Uint8Array): Uint8Array | null {
  let n = prefix.length;
  while (n > 0 && prefix[n - 1] === 0xff) n--;
  if (n === 0) return null;
  const end = Buffer.from(prefix.subarray(0, n));
  end[n - 1] = end[n - 1]! + 1;
  return end;
}
