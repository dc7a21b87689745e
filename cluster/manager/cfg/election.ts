import { EventEmitter } from 'eventemitter3';
import { KvError } from '../../../shared/errors.js';
import type {
  Cfg, CfgEvent, CfgFence, CfgLease, CfgLeadership, CfgLeadershipEvents, CfgSnapshot, CfgWatch,
} from './cfg.js';

type Settle = { resolve: (l: CfgLeadership) => void; reject: (err: Error) => void };

/**
 * Leader election on the store's own primitives, the algorithm of etcd's concurrency
 * package: each participant creates `<prefix><name>/<leaseId>` bound to its lease; the key
 * with the lowest createRev leads; the others wait until every key created before theirs
 * is deleted (resigned, revoked or expired). The leader's key and createRev form the fence
 * of its writes, so writes of a deposed leader fail even if it has not noticed yet.
 */
export class Elections {
  private readonly participants = new Set<Participant>();

  constructor(private readonly cfg: Cfg, private readonly prefix: string) {}

  /** See {@link Cfg.campaign}. */
  async campaign(name: string, value: string, lease: CfgLease): Promise<CfgLeadership> {
    if (name.length === 0 || name.includes('/')) throw KvError.invalidArgument(`election name must be non-empty without "/": ${JSON.stringify(name)}`);
    if (lease.isEnded) throw KvError.notFound(`lease ${lease.id} has ended`);
    const dir = `${this.prefix}${name}/`;
    const key = `${dir}${lease.id}`;
    const created = await this.cfg.cas(key, Buffer.from(value, 'utf8'), 0, { lease });
    if (!created.ok) throw KvError.exists(`lease ${lease.id} is already campaigning in election ${name}`);
    const participant = new Participant(this.cfg, dir, key, created.rev, value, lease, this.participants);
    this.participants.add(participant);
    return participant.start();
  }

  /** See {@link Cfg.leader}. */
  async leader(name: string): Promise<string | null> {
    const { entries } = await this.cfg.list(`${this.prefix}${name}/`);
    let first = entries[0];
    for (const e of entries) if (first === undefined || e.createRev < first.createRev) first = e;
    return first === undefined ? null : Buffer.from(first.value).toString('utf8');
  }

  /** Reject pending campaigns and end leaderships (the store is closing). */
  async close(): Promise<void> {
    const all = [...this.participants];
    this.participants.clear();
    await Promise.all(all.map((p) => p.stop(KvError.clientClosed('config store closed'))));
  }
}

/** One participant: waiting for its turn, then the leadership itself. */
class Participant extends EventEmitter<CfgLeadershipEvents> implements CfgLeadership {
  readonly fence: CfgFence;
  private readonly earlier = new Set<string>();
  private watch: CfgWatch | null = null;
  private settle: Settle | null = null;
  private isLeading = false;
  private isDone = false;
  private isResigning = false;

  constructor(
    private readonly cfg: Cfg,
    private readonly dir: string,
    readonly key: string,
    readonly createRev: number,
    readonly value: string,
    private readonly lease: CfgLease,
    private readonly registry: Set<Participant>,
  ) {
    super();
    this.fence = Object.freeze({ key, createRev });
  }

  get isLeader(): boolean {
    return this.isLeading;
  }

  /** Resolves once this participant leads; rejects if it stops first. */
  start(): Promise<CfgLeadership> {
    const done = new Promise<CfgLeadership>((resolve, reject) => { this.settle = { resolve, reject }; });
    this.lease.on('lost', this.onLeaseLost);
    void this.follow();
    return done;
  }

  /** List the election, then watch it until every earlier participant is gone. */
  private async follow(): Promise<void> {
    try {
      const snapshot = await this.cfg.list(this.dir);
      if (this.isDone) return;
      this.watch = this.cfg.watch(this.dir, snapshot.rev);
      this.watch.on('event', this.onEvent).on('reset', this.onReset).on('error', this.onWatchError);
      this.onReset(snapshot);
    } catch (err) {
      await this.stop(err as Error);
    }
  }

  async resign(): Promise<void> {
    if (this.isDone) return;
    // Delete first and stop after, so a failed delete can be retried by calling resign again;
    // meanwhile our own delete event must not count as losing the leadership.
    this.isResigning = true;
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const current = await this.cfg.get(this.key);
        if (current === null || current.createRev !== this.createRev) break;
        if ((await this.cfg.cas(this.key, null, current.modRev)).ok) break;
      }
    } catch (err) {
      this.isResigning = false;
      throw err;
    }
    await this.stop(null);
  }

  /** End this participant: `err` rejects a pending campaign or is emitted as 'lost'. */
  async stop(err: Error | null): Promise<void> {
    if (this.isDone) return;
    this.isDone = true;
    const wasLeading = this.isLeading;
    this.isLeading = false;
    this.registry.delete(this);
    this.lease.off('lost', this.onLeaseLost);
    const watch = this.watch;
    this.watch = null;
    if (this.settle !== null) {
      this.settle.reject(err ?? KvError.clientClosed('campaign stopped'));
      this.settle = null;
    } else if (wasLeading && err !== null && !this.isResigning) {
      queueMicrotask(() => this.emit('lost', err));
    }
    await watch?.close();
  }

  private readonly onReset = (snapshot: CfgSnapshot): void => {
    this.earlier.clear();
    let isPresent = false;
    for (const e of snapshot.entries) {
      if (e.key === this.key && e.createRev === this.createRev) isPresent = true;
      else if (e.createRev < this.createRev) this.earlier.add(e.key);
    }
    if (!isPresent) void this.stop(this.goneError());
    else this.check();
  };

  private readonly onEvent = (event: CfgEvent): void => {
    if (event.type !== 'delete') return;
    if (event.key === this.key) {
      void this.stop(this.goneError());
      return;
    }
    this.earlier.delete(event.key);
    this.check();
  };

  private readonly onWatchError = (err: Error): void => {
    void this.stop(err);
  };

  private readonly onLeaseLost = (err: Error): void => {
    void this.stop(err);
  };

  private check(): void {
    if (this.isDone || this.isLeading || this.earlier.size > 0 || this.settle === null) return;
    this.isLeading = true;
    this.settle.resolve(this);
    this.settle = null;
  }

  private goneError(): KvError {
    return KvError.notFound(`election key ${this.key} was deleted (lease ${this.lease.id} ended or the key was removed)`);
  }
}
