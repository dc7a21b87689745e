import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import { KvError } from '../shared/errors.js';
import { Status } from '../shared/status.js';
import { Op, type OpCode } from '../shared/protocol/ops.js';
import { counterRequest, deleteRequest, errorFromAnswer, expiryRequest, keyRequest, storeRequest, type Response } from '../shared/protocol/frames.js';
import type { Upstream } from './upstream.js';
import type { PasswordCheck } from './options.js';
import { ScanIterator } from '../sdk/scan.js';
import { upstreamScanHost } from './scan-service.js';
import { ForwardedGet, ForwardedSet, type RequestObserver } from './memcached-forward.js';
import type { WireLayout } from '../shared/protocol/packed-layout.js';
import type { McGetSink, McSetSink, McCallbackBackend } from './memcached/callback-backend.js';
import type { McCounterOptions, McCounterResult, McDumpEntry, McItem, McPrincipal, McStoreMode, McStoreResult, MemcachedBackend } from './memcached/backend.js';


/** Deletes a flush keeps in flight at once. */
const FLUSH_CONCURRENCY = 64;
/** Keys each node returns per scan page during a flush. */
const FLUSH_PAGE_SIZE = 256;

const STORE_OPS: Readonly<Record<McStoreMode, OpCode>> = {
  set: Op.SET, add: Op.ADD, replace: Op.REPLACE, append: Op.APPEND, prepend: Op.PREPEND, cas: Op.SET,
};

/**
 * The memcached front end's storage: every command becomes a native frame routed by the
 * SDK's router to the key's owner. An owner that is down gives a fast, retryable error.
 */
export class ClusterBackend implements MemcachedBackend, McCallbackBackend {
  /**
   * @param observe counts each answered frame (op, status, service time in ms): the
   *   proxy's `pandakv_proxy_requests_total{protocol="memcached"}`
   * @param layout how the proxy's lanes write GET and SET (`ProxyOptions.upstreamLayout`):
   *   memcached `get` and `set` are built for it
   */
  constructor(
    private readonly upstream: Upstream, private readonly timeoutMs: number, private readonly checkPassword: PasswordCheck,
    private readonly observe: RequestObserver | null = null,
    private readonly layout: WireLayout = 'cbor',
  ) {}

  /** A one-key `get` with no promise, in the lanes' layout (see `memcached-forward.ts`). */
  getCb(key: Uint8Array, sink: McGetSink): void {
    this.upstream.dispatcher.dispatch(new ForwardedGet(key, Date.now() + this.timeoutMs, sink, this.observe, this.layout));
  }

  /** A plain `set` with no promise, in the lanes' layout. */
  setCb(key: Uint8Array, value: Uint8Array, flags: number, ttl: number, sink: McSetSink): void {
    this.upstream.dispatcher.dispatch(new ForwardedSet(key, value, flags, ttl, Date.now() + this.timeoutMs, sink, this.observe, this.layout));
  }

  async get(key: Uint8Array): Promise<McItem | null> {
    const r = await this.send(keyRequest(Op.GET, key), key, true);
    return r.status === Status.NOT_FOUND ? null : this.item(r);
  }

  async getAndTouch(key: Uint8Array, ttl: number): Promise<McItem | null> {
    const r = await this.send(expiryRequest(Op.GAT, key, ttl), key, true);
    return r.status === Status.NOT_FOUND ? null : this.item(r);
  }

  async store(mode: McStoreMode, key: Uint8Array, value: Uint8Array, flags: number, ttl: number, cas?: bigint): Promise<McStoreResult> {
    const r = await this.send(storeRequest(STORE_OPS[mode], key, value, flags, ttl, cas ?? 0), key, false, value.length);
    switch (r.status) {
      case Status.OK: return { status: 'STORED', cas: BigInt(r.cas) };
      case Status.NOT_STORED: return { status: 'NOT_STORED', cas: 0n };
      case Status.EXISTS: return { status: mode === 'add' ? 'NOT_STORED' : 'EXISTS', cas: 0n };
      case Status.NOT_FOUND: return { status: mode === 'cas' ? 'NOT_FOUND' : 'NOT_STORED', cas: 0n };
      default: throw this.fail(r);
    }
  }

  async delete(key: Uint8Array, cas?: bigint): Promise<'DELETED' | 'NOT_FOUND' | 'EXISTS'> {
    const r = await this.send(deleteRequest(key, cas ?? 0), key, false);
    if (r.status === Status.OK) return 'DELETED';
    if (r.status === Status.NOT_FOUND) return 'NOT_FOUND';
    if (r.status === Status.EXISTS) return 'EXISTS';
    throw this.fail(r);
  }

  async counter(op: 'incr' | 'decr', key: Uint8Array, delta: bigint, opts?: McCounterOptions): Promise<McCounterResult | null> {
    const extra: Record<string, unknown> = { delta };
    if (opts?.initial !== undefined) extra.initial = opts.initial;
    const r = await this.send(counterRequest(op === 'incr' ? Op.INCR : Op.DECR, key, opts?.ttl ?? 0, extra), key, false);
    if (r.status === Status.NOT_FOUND) return null;
    if (r.status !== Status.OK) throw this.fail(r);
    return { value: BigInt(r.value as number | bigint), cas: BigInt(r.cas) };
  }

  async touch(key: Uint8Array, ttl: number): Promise<boolean> {
    const r = await this.send(expiryRequest(Op.TOUCH, key, ttl), key, true);
    if (r.status === Status.OK) return true;
    if (r.status === Status.NOT_FOUND) return false;
    throw this.fail(r);
  }

  authenticate(user: string, password: string): Promise<McPrincipal | null> {
    return this.checkPassword(user, password);
  }

  /**
   * memcached `flush_all` over the cluster: scan every active owner in key order and
   * delete each key with the cas the scan saw, so an item rewritten meanwhile survives.
   * Deletes replicate like any other; no node needs a flush operation of its own.
   */
  async flush(): Promise<number> {
    const it = this.scanAll(FLUSH_PAGE_SIZE);
    let removed = 0;
    const inFlight = new Set<Promise<void>>();
    for (;;) {
      const r = await it.next();
      if (r.done === true) break;
      const p = this.delete(r.value.keyBytes, r.value.cas).then((outcome) => {
        if (outcome === 'DELETED') removed++;
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p)).catch(() => undefined);
      if (inFlight.size >= FLUSH_CONCURRENCY) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    return removed;
  }

  async dump(limit: number): Promise<McDumpEntry[]> {
    const out: McDumpEntry[] = [];
    if (limit <= 0) return out;
    const it = this.scanAll(Math.min(limit, FLUSH_PAGE_SIZE), limit);
    for (;;) {
      const r = await it.next();
      if (r.done === true) break;
      out.push({ key: r.value.keyBytes, size: r.value.value.length });
    }
    return out;
  }

  async stats(): Promise<Record<string, string | number>> {
    const map = this.upstream.current();
    return { cluster_epoch: map?.epoch ?? 0, cluster_rev: map?.rev ?? 0, cluster_nodes: map?.nodes.length ?? 0 };
  }

  /** Every key of the cluster in key order, from each active owner (the proxy's lanes hold the scan role). */
  private scanAll(pageSize: number, limit?: number): ScanIterator<Uint8Array> {
    // Fail now when there is no map, as every other command does.
    this.upstream.dispatcher.currentRouter();
    return new ScanIterator<Uint8Array>({ start: Buffer.from([0]), pageSize, ...(limit === undefined ? {} : { limit }) }, upstreamScanHost(this.upstream, this.timeoutMs));
  }

  private async send(frame: unknown[], key: Uint8Array, isIdempotent: boolean, valueBytes = 0): Promise<Response> {
    const startedMs = performance.now();
    const r = await this.upstream.dispatcher.send(frame, { key, isIdempotent, valueBytes }, Date.now() + this.timeoutMs);
    this.observe?.(frame[1] as number, r.status, performance.now() - startedMs);
    if (r.status === Status.OK || r.status === Status.NOT_FOUND || r.status === Status.NOT_STORED || r.status === Status.EXISTS) return r;
    throw this.fail(r);
  }

  private item(r: Response): McItem {
    if (!(r.value instanceof Uint8Array)) throw KvError.protocol('answer without a value');
    return { value: r.value, flags: r.flags, cas: BigInt(r.cas) };
  }

  private fail(r: Response): KvError {
    return errorFromAnswer(r);
  }
}
