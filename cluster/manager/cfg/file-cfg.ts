import { readFile, stat } from 'node:fs/promises';
import { ensureDir } from '../../ensure-dir.js';
import { dirname, resolve } from 'node:path';
import { ErrorCode, KvError } from '../../../shared/errors.js';
import { removeStaleTemps, writeFileAtomic } from './atomic-file.js';
import type { CasOptions, CasResult, Cfg, CfgEntry, CfgLease, CfgLeadership, CfgSnapshot, CfgWatch } from './cfg.js';
import { Elections } from './election.js';
import { decodeState, encodeState } from './file-codec.js';
import { FileState } from './file-state.js';
import { FileWatch } from './file-watch.js';
import { LeaseHandle, type LeaseHost } from './lease-handle.js';
import { FILE_CFG_DEFAULTS, type FileCfgOptions } from './options.js';

interface Op {
  apply: (draft: FileState) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface Deadline {
  atMs: number;
  timer: NodeJS.Timeout;
}

/**
 * The embedded config store: the whole state in one JSON file, replaced atomically on
 * every change (see atomic-file.ts). Writes issued in the same tick are applied, in order,
 * to one draft and persisted with one file write; readers and watchers only ever see
 * state that is on disk. One process owns the file.
 */
export class FileCfg implements Cfg, LeaseHost {
  readonly kind = 'file' as const;
  private queue: Op[] = [];
  private flushing: Promise<void> | null = null;
  private isClosed = false;
  private lastWritten: string;
  private readonly watches = new Set<FileWatch>();
  private readonly handles = new Map<string, LeaseHandle>();
  private readonly deadlines = new Map<string, Deadline>();
  private readonly elections: Elections;

  private constructor(readonly path: string, private state: FileState, private readonly options: Readonly<FileCfgOptions>, text: string) {
    this.lastWritten = text;
    this.elections = new Elections(this, options.electionPrefix);
    // Leases of an earlier run restart their clock, as etcd does on a leader change.
    this.reconcileLeases();
  }

  /**
   * Open (or create) the store at `path`.
   * @throws KvError INTERNAL when the file exists but is not a valid store
   */
  static async open(path: string, options: Partial<FileCfgOptions> = {}): Promise<FileCfg> {
    const opts = Object.freeze({ ...FILE_CFG_DEFAULTS, ...options });
    if (!Number.isSafeInteger(opts.historyLength) || opts.historyLength < 1) {
      throw KvError.invalidArgument(`historyLength must be a positive integer, got ${opts.historyLength}`);
    }
    const abs = resolve(path);
    await ensureDir(dirname(abs));
    await removeStaleTemps(abs);
    const size = await stat(abs).then((s) => s.size, (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return -1;
      throw err;
    });
    if (size < 0) {
      const state = new FileState();
      const text = encodeState(state);
      await writeFileAtomic(abs, text, opts.isFsyncEnabled);
      return new FileCfg(abs, state, opts, text);
    }
    if (size > opts.maxFileBytes) throw KvError.internal(`config file ${abs} is ${size} bytes, over the ${opts.maxFileBytes} byte limit`);
    const bytes = await readFile(abs);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (err) {
      throw KvError.internal(`config file ${abs} is corrupt: not valid UTF-8`, {}, err);
    }
    return new FileCfg(abs, decodeState(text, abs), opts, text);
  }

  async get(key: string): Promise<CfgEntry | null> {
    this.checkOpen();
    return this.state.entries.get(key) ?? null;
  }

  async list(prefix: string): Promise<CfgSnapshot> {
    this.checkOpen();
    return this.state.snapshot(prefix);
  }

  cas(key: string, value: Uint8Array | null, expectRev: number, opts: CasOptions = {}): Promise<CasResult> {
    if (!Number.isSafeInteger(expectRev) || expectRev < 0) return Promise.reject(KvError.invalidArgument(`expectRev must be a revision, got ${expectRev}`));
    return this.mutate((d) => d.cas(key, value, expectRev, opts.fence, opts.lease?.id ?? null));
  }

  put(key: string, value: Uint8Array, opts: { lease?: CfgLease } = {}): Promise<number> {
    return this.mutate((d) => d.put(key, value, opts.lease?.id ?? null));
  }

  async delete(key: string): Promise<void> {
    await this.mutate((d) => d.delete(key));
  }

  watch(prefix: string, fromRev: number): CfgWatch {
    this.checkOpen();
    const watch = new FileWatch(prefix, fromRev, this.onWatchClosed);
    const replay = this.state.eventsSince(prefix, fromRev);
    if (replay === null) watch.pushReset(this.state.snapshot(prefix));
    else watch.push(replay);
    this.watches.add(watch);
    return watch;
  }

  async compact(rev: number): Promise<void> {
    await this.mutate((d) => d.compact(rev));
  }

  async grantLease(ttlMs: number): Promise<CfgLease> {
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw KvError.invalidArgument(`lease TTL must be a positive integer of ms, got ${ttlMs}`);
    const stored = await this.mutate((d) => d.grantLease(ttlMs));
    const handle = new LeaseHandle(stored.id, ttlMs, this, false, Date.now());
    this.handles.set(stored.id, handle);
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
    // Writes already queued still land; nothing new is accepted.
    while (this.flushing !== null) await this.flushing;
    for (const d of this.deadlines.values()) clearTimeout(d.timer);
    this.deadlines.clear();
    for (const handle of this.handles.values()) handle.end();
    this.handles.clear();
    await Promise.all([...this.watches].map((w) => w.close()));
  }

  /** @internal LeaseHost: refresh the in-memory deadline; no file write. */
  async refreshLease(id: string): Promise<number> {
    this.checkOpen();
    const deadline = this.deadlines.get(id);
    const lease = this.state.leases.get(id);
    if (deadline === undefined || lease === undefined || deadline.atMs <= Date.now()) {
      throw KvError.notFound(`lease ${id} has expired or was revoked`);
    }
    this.armDeadline(id, Date.now() + lease.ttlMs);
    return lease.ttlMs;
  }

  /** @internal LeaseHost */
  async revokeLease(id: string): Promise<void> {
    await this.mutate((d) => d.endLease(id));
  }

  private mutate<T>(apply: (draft: FileState) => T): Promise<T> {
    if (this.isClosed) return Promise.reject(KvError.clientClosed('config store closed'));
    if (this.queue.length >= this.options.maxPendingWrites) {
      return Promise.reject(KvError.busy(`${this.queue.length} config writes are already waiting`, { isSafeToRetry: true }));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ apply, resolve: resolve as (value: unknown) => void, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  /** Apply queued writes batch by batch, one atomic file write per batch. */
  private async flushLoop(): Promise<void> {
    // Let the rest of this tick queue its writes so they share one fsync.
    await Promise.resolve();
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const draft = this.state.clone();
      const results = batch.map((op) => {
        try {
          return { isOk: true as const, value: op.apply(draft) };
        } catch (err) {
          return { isOk: false as const, err: err as Error };
        }
      });
      const events = draft.seal(this.options.historyLength);
      const text = encodeState(draft);
      if (text !== this.lastWritten) {
        try {
          await writeFileAtomic(this.path, text, this.options.isFsyncEnabled);
        } catch (err) {
          const failure = KvError.unavailable(`could not write config file ${this.path}`, {}, err);
          for (const op of batch) op.reject(failure);
          continue;
        }
        this.lastWritten = text;
      }
      this.state = draft;
      for (const watch of this.watches) watch.push(events);
      this.reconcileLeases();
      batch.forEach((op, i) => {
        const r = results[i]!;
        if (r.isOk) op.resolve(r.value);
        else op.reject(r.err);
      });
    }
    this.flushing = null;
  }

  /** Arm a deadline for every stored lease that has none; drop those of ended leases. */
  private reconcileLeases(): void {
    for (const [id, d] of this.deadlines) {
      if (this.state.leases.has(id)) continue;
      clearTimeout(d.timer);
      this.deadlines.delete(id);
      this.handles.get(id)?.markLost(KvError.notFound(`lease ${id} expired`));
      this.handles.delete(id);
    }
    for (const lease of this.state.leases.values()) {
      if (!this.deadlines.has(lease.id)) this.armDeadline(lease.id, Date.now() + lease.ttlMs);
    }
  }

  private armDeadline(id: string, atMs: number): void {
    const old = this.deadlines.get(id);
    if (old !== undefined) clearTimeout(old.timer);
    const timer = setTimeout(this.onDeadline, Math.max(0, atMs - Date.now()), id);
    timer.unref();
    this.deadlines.set(id, { atMs, timer });
  }

  private readonly onDeadline = (id: string): void => {
    const fired = this.deadlines.get(id);
    this.mutate((d) => {
      // A refresh that won the race re-armed a new deadline; otherwise the lease ends. (Timers
      // may fire a millisecond before Date.now() reaches atMs, so compare identity, not time.)
      if (this.deadlines.get(id) === fired) d.endLease(id);
    }).catch((err: unknown) => this.onExpiryFailed(id, err));
  };

  private onExpiryFailed(id: string, err: unknown): void {
    // The file could not be written: try again a little later, unless the store closed.
    if (this.isClosed || (err instanceof KvError && err.code === ErrorCode.CLIENT_CLOSED)) return;
    const lease = this.state.leases.get(id);
    if (lease !== undefined) this.armDeadline(id, Date.now() + Math.min(lease.ttlMs, 1000));
  }

  private readonly onWatchClosed = (watch: FileWatch): void => {
    this.watches.delete(watch);
  };

  private checkOpen(): void {
    if (this.isClosed) throw KvError.clientClosed('config store closed');
  }
}
