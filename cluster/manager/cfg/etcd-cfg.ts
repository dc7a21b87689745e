import { noop } from 'cockatiel';
import { Etcd3, GRPCOutOfRangeError, type ICompare, type IRequestOp } from 'etcd3';
import { ErrorCode, KvError } from '../../../shared/errors.js';
import type { CasOptions, CasResult, Cfg, CfgEntry, CfgLease, CfgLeadership, CfgSnapshot, CfgWatch } from './cfg.js';
import { Elections } from './election.js';
import { fromEtcdError, prefixRange, toEntry, toRev } from './etcd-util.js';
import { EtcdWatch, type EtcdWatchHost, type WatchStream } from './etcd-watch.js';
import { LeaseHandle, type LeaseHost } from './lease-handle.js';
import { ETCD_CFG_DEFAULTS, type EtcdCfgOptions } from './options.js';

/**
 * The scale-out config store on an etcd v3 cluster. Compare-and-set is one Txn comparing
 * ModRevision (CreateRevision == 0 for "must not exist") plus, for fenced writes, the
 * fence key's CreateRevision; watches run on their own streams and re-list on
 * compaction; leases are etcd leases; elections use lease-bound keys ordered by
 * CreateRevision (see election.ts).
 */
export class EtcdCfg implements Cfg, LeaseHost, EtcdWatchHost {
  readonly kind = 'etcd' as const;
  private readonly client: Etcd3;
  private readonly watches = new Set<EtcdWatch>();
  private readonly leases = new Map<string, LeaseHandle>();
  private readonly elections: Elections;
  private isClosed = false;

  private constructor(readonly hosts: readonly string[], private readonly options: Readonly<EtcdCfgOptions>) {
    const timeoutMs = options.requestTimeoutMs;
    this.client = new Etcd3({
      hosts: hosts.map((h) => `http://${h}`),
      dialTimeout: options.dialTimeoutMs,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      // No circuit breaker per host (the client's default opens one for 5 s after three
      // failures in a row): one slow moment of a single etcd then became a 5 s outage in
      // which no lease could be kept alive, leaderships flapped and nodes were fenced.
      // Callers here retry with their own backoff and deadlines.
      faultHandling: { host: () => noop },
    });
    this.elections = new Elections(this, options.electionPrefix);
  }

  /**
   * Connect to the cluster at `hosts` (`HOST:PORT` each) and check that it answers.
   * @throws KvError UNAVAILABLE when no member answers in time
   */
  static async open(hosts: readonly string[], options: Partial<EtcdCfgOptions> = {}): Promise<EtcdCfg> {
    if (hosts.length === 0) throw KvError.invalidArgument('etcd config store needs at least one HOST:PORT');
    const cfg = new EtcdCfg(hosts, Object.freeze({ ...ETCD_CFG_DEFAULTS, ...options }));
    try {
      await cfg.client.maintenance.status();
    } catch (err) {
      await cfg.close();
      throw fromEtcdError(err, `connecting to ${hosts.join(',')}`);
    }
    return cfg;
  }

  async get(key: string): Promise<CfgEntry | null> {
    this.checkOpen();
    const res = await this.call('get', () => this.client.kv.range({ key: Buffer.from(key, 'utf8') }));
    const kv = res.kvs[0];
    return kv === undefined ? null : toEntry(kv);
  }

  async list(prefix: string): Promise<CfgSnapshot> {
    this.checkOpen();
    const range = prefixRange(prefix);
    const res = await this.call('list', () => this.client.kv.range({ key: range.key, range_end: range.rangeEnd }));
    return { entries: res.kvs.map(toEntry), rev: toRev(res.header.revision) };
  }

  async cas(key: string, value: Uint8Array | null, expectRev: number, opts: CasOptions = {}): Promise<CasResult> {
    this.checkOpen();
    if (!Number.isSafeInteger(expectRev) || expectRev < 0) throw KvError.invalidArgument(`expectRev must be a revision, got ${expectRev}`);
    const k = Buffer.from(key, 'utf8');
    const compare: ICompare[] = [expectRev === 0
      ? { key: k, target: 'Create', result: 'Equal', create_revision: 0 }
      : { key: k, target: 'Mod', result: 'Equal', mod_revision: expectRev }];
    const failure: IRequestOp[] = [{ request_range: { key: k, keys_only: true } }];
    const fence = opts.fence;
    if (fence !== undefined) {
      const f = Buffer.from(fence.key, 'utf8');
      compare.push({ key: f, target: 'Create', result: 'Equal', create_revision: fence.createRev });
      failure.push({ request_range: { key: f, keys_only: true } });
    }
    const success: IRequestOp[] = [value === null
      ? { request_delete_range: { key: k } }
      : { request_put: { key: k, value: Buffer.from(value.buffer, value.byteOffset, value.byteLength), lease: opts.lease?.id ?? 0 } }];
    const res = await this.call('cas', () => this.client.kv.txn({ compare, success, failure }));
    if (res.succeeded) return { ok: true, rev: toRev(res.header.revision), isFenceBroken: false };
    const current = res.responses[0]?.response_range.kvs[0];
    const fenceNow = res.responses[1]?.response_range.kvs[0];
    return {
      ok: false,
      rev: current === undefined ? 0 : toRev(current.mod_revision),
      isFenceBroken: fence !== undefined && (fenceNow === undefined || toRev(fenceNow.create_revision) !== fence.createRev),
    };
  }

  async put(key: string, value: Uint8Array, opts: { lease?: CfgLease } = {}): Promise<number> {
    this.checkOpen();
    const req = { key: Buffer.from(key, 'utf8'), value: Buffer.from(value.buffer, value.byteOffset, value.byteLength), lease: opts.lease?.id ?? 0 };
    const res = await this.call('put', () => this.client.kv.put(req));
    return toRev(res.header.revision);
  }

  async delete(key: string): Promise<void> {
    this.checkOpen();
    await this.call('delete', () => this.client.kv.deleteRange({ key: Buffer.from(key, 'utf8') }));
  }

  watch(prefix: string, fromRev: number): CfgWatch {
    this.checkOpen();
    const watch = new EtcdWatch(this, prefix, fromRev, { minMs: this.options.watchRetryMinMs, maxMs: this.options.watchRetryMaxMs });
    this.watches.add(watch);
    watch.start();
    return watch;
  }

  async compact(rev: number): Promise<void> {
    this.checkOpen();
    // etcd refuses a future revision; the file store clamps, so clamp here too.
    const all = prefixRange('');
    const res = await this.call('revision', () => this.client.kv.range({ key: all.key, range_end: all.rangeEnd, count_only: true }));
    const target = Math.min(rev, toRev(res.header.revision));
    if (target < 1) return;
    try {
      await this.client.kv.compact({ revision: target, physical: true });
    } catch (err) {
      // OUT_OF_RANGE: already compacted at or after `target`, a no-op as in the file store.
      if (!(err instanceof GRPCOutOfRangeError)) throw fromEtcdError(err, 'compact');
    }
  }

  async grantLease(ttlMs: number): Promise<CfgLease> {
    this.checkOpen();
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw KvError.invalidArgument(`lease TTL must be a positive integer of ms, got ${ttlMs}`);
    const startedAtMs = Date.now();
    const res = await this.call('lease grant', () => this.client.leaseClient.leaseGrant({ TTL: Math.max(1, Math.ceil(ttlMs / 1000)) }));
    if (res.error) throw KvError.unavailable(`etcd refused a lease: ${res.error}`);
    const handle = new LeaseHandle(String(res.ID), toRev(res.TTL) * 1000, this, true, startedAtMs);
    this.leases.set(handle.id, handle);
    handle.once('lost', () => this.leases.delete(handle.id));
    return handle;
  }

  campaign(name: string, value: string, lease: CfgLease): Promise<CfgLeadership> {
    return this.elections.campaign(name, value, lease);
  }

  leader(name: string): Promise<string | null> {
    return this.elections.leader(name);
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    await this.elections.close();
    this.isClosed = true;
    await Promise.all([...this.watches].map((w) => w.close()));
    for (const lease of this.leases.values()) lease.end();
    this.leases.clear();
    this.client.close();
  }

  /** @internal LeaseHost: one keep-alive round trip on a short-lived stream. */
  async refreshLease(id: string): Promise<number> {
    this.checkOpen();
    const timeout = KvError.timeout(`etcd lease ${id} keep-alive got no answer within ${this.options.requestTimeoutMs} ms`);
    const stream = await this.call('lease keep-alive', () => this.client.leaseClient.leaseKeepAlive());
    const ttl = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(timeout), this.options.requestTimeoutMs);
      stream.on('data', (res) => { clearTimeout(timer); resolve(toRev(res.TTL)); });
      stream.on('error', (err) => { clearTimeout(timer); reject(fromEtcdError(err, 'lease keep-alive')); });
      stream.write({ ID: id });
    }).finally(() => stream.cancel());
    if (ttl <= 0) throw KvError.notFound(`etcd lease ${id} has expired`);
    return ttl * 1000;
  }

  /** @internal LeaseHost */
  async revokeLease(id: string): Promise<void> {
    this.leases.delete(id);
    try {
      await this.call('lease revoke', () => this.client.leaseClient.leaseRevoke({ ID: id }));
    } catch (err) {
      if (!(err instanceof KvError && err.code === ErrorCode.NOT_FOUND)) throw err;
    }
  }

  /** @internal EtcdWatchHost */
  openWatchStream(): Promise<WatchStream> {
    this.checkOpen();
    return this.client.watchClient.watch();
  }

  /** @internal EtcdWatchHost */
  onWatchClosed(watch: EtcdWatch): void {
    this.watches.delete(watch);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw fromEtcdError(err, what);
    }
  }

  private checkOpen(): void {
    if (this.isClosed) throw KvError.clientClosed('config store closed');
  }
}
