import { EventEmitter } from 'eventemitter3';
import { KvError } from '../../shared/errors.js';
import { backoffDelay } from '../../shared/backoff.js';
import { EventLog } from '../../shared/event-log.js';
import { splitBuckets } from './planner/plan.js';
import type { Cfg, CfgLeadership } from './cfg/cfg.js';
import type { ClusterState } from './cluster-state.js';
import { CfgKeys } from './keys.js';
import type { ManagerOptions } from './options.js';
import type { LeaderHost, OpResult, StopResult } from './leader-host.js';
import { MapWriter } from './map-writer.js';
import { Mover, type MoveProgress } from './mover.js';
import { Reconciler } from './reconciler.js';
import { FailureDetector } from './failure-detector.js';
import type { NodeReports } from './node-reports.js';

export type { OpResult, StopResult } from './leader-host.js';

export interface LeaderEvents {
  elected: () => void;
  deposed: () => void;
  error: (err: Error) => void;
}

/**
 * The elected planner. Campaigns in the config store; while leading, its parts turn node
 * changes into new maps — `FailureDetector` (failover), `Reconciler` (re-plans) and
 * `Mover` (data moves in batches) — each written through `MapWriter` with a fenced
 * compare-and-set so a deposed leader's late write can never land. Operations run one at
 * a time, in one queue.
 */
export class Leader extends EventEmitter<LeaderEvents> implements LeaderHost {
  leadership: CfgLeadership | null = null;
  /** Cluster events (failover, epoch change, rebalance, …); the manager gives its own log. */
  events: EventLog = new EventLog({ component: 'manager', write: noop });
  /** Told after this leader changed a node record, so membership events are logged in order. */
  nodeEvents: { check(): void } | null = null;
  readonly writer: MapWriter;
  electedAt = 0;
  isClosed = false;
  private queue: Promise<unknown> = Promise.resolve();
  private leadershipController = new AbortController();
  private readonly mover: Mover;
  private readonly reconciler: Reconciler;
  private readonly failures: FailureDetector;

  constructor(
    readonly cfg: Cfg,
    readonly state: ClusterState,
    readonly options: ManagerOptions,
    /** The nodes' heartbeat reports (seqnos per unit, backfills under way). */
    readonly reports: NodeReports,
    private readonly selfUrl: string,
    /** This manager's id in the map's manager list. */
    readonly selfId: string = selfUrl,
  ) {
    super();
    this.writer = new MapWriter(this);
    this.mover = new Mover(this, { isRestoreHeld: () => this.reconciler.isRestoreHeld, onResumeNeeded: () => this.reconciler.schedule() });
    this.reconciler = new Reconciler(this, this.mover);
    this.failures = new FailureDetector(this, this.reconciler);
  }

  get isLeader(): boolean {
    return this.leadership?.isLeader === true;
  }

  get leadershipSignal(): AbortSignal {
    return this.leadershipController.signal;
  }

  /** Progress of data moves (units), for `GET /api/rebalance`. */
  get moveProgress(): MoveProgress {
    return this.mover.progress;
  }

  /** True while copies lost in a failover wait for `pandakv cluster rebalance` (`--no-auto-restore`). */
  get isRestoreHeld(): boolean {
    return this.reconciler.isRestoreHeld;
  }

  reportError(err: Error): void {
    this.emit('error', err);
  }

  start(): void {
    void this.campaignLoop();
  }

  async close(): Promise<void> {
    this.isClosed = true;
    this.failures.close();
    this.reconciler.stop();
    const l = this.leadership;
    this.leadership = null;
    this.leadershipController.abort();
    await this.queue.catch(() => undefined);
    if (l !== null) await l.resign().catch(() => undefined);
  }

  /** Run `fn` after every earlier operation, only while leading. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(() => {
      if (!this.isLeader) throw KvError.unavailable('this manager is not the leader', { isSafeToRetry: true });
      return fn();
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Re-plan with the current nodes and publish when anything changes (resumes stopped moves). */
  rebalance(): Promise<OpResult> {
    return this.run(async () => {
      this.reconciler.isRestoreHeld = false;
      if (!this.mover.progress.isStopped) return this.reconciler.reconcileNow();
      const warnings = await this.mover.resume();
      const result = await this.reconciler.reconcileNow();
      this.mover.finishResumeWithoutMoves();
      return { ...result, warnings: [...warnings, ...result.warnings] };
    });
  }

  /**
   * "Put the pencils down": no further batch is staged, and a wait for the batch in flight
   * ends at once; that batch is rolled back (its new copies leave their chains again),
   * unless it had already caught up and was being switched. Resolves once the move loop
   * has let go, with the stop kept in the config store so a new leader does not resume on
   * its own. `rebalance()` resumes.
   */
  async stopMoves(): Promise<StopResult> {
    if (!this.isLeader) throw KvError.unavailable('this manager is not the leader', { isSafeToRetry: true });
    const wasStopped = await this.mover.stop();
    return this.run(() => this.mover.finishStop(wasStopped));
  }

  addNode(ref: string): Promise<OpResult> {
    return this.run(async () => {
      const r = this.writer.find(ref);
      if (r.state !== 'active') await this.writer.setState(r, 'active', 'reread');
      this.reconciler.isRestoreHeld = false;
      return this.reconciler.reconcileNow();
    });
  }

  /**
   * Drain a node: mark it leaving, move its copies away (with their data when nodes
   * replicate), and forget it only once it serves nothing.
   */
  async removeNode(ref: string): Promise<OpResult> {
    const { id, result } = await this.run(async () => {
      const r = this.writer.find(ref);
      await this.writer.setState(r, 'leaving', 'reread');
      this.reconciler.isRestoreHeld = false;
      return { id: r.id, result: await this.reconciler.reconcileNow() };
    });
    // The moves run outside the operation queue; wait for them without holding it.
    await this.mover.whenIdle();
    if (this.servesUnits(id)) {
      return { ...result, warnings: [...result.warnings, `node ${id} still serves units (moves stopped or paused); it stays "leaving"`] };
    }
    return this.run(async () => {
      await this.writer.deleteNode(id);
      const after = await this.reconciler.reconcileNow();
      return { ...after, movedUnits: result.movedUnits + after.movedUnits, warnings: [...result.warnings, ...after.warnings] };
    });
  }

  private servesUnits(id: string): boolean {
    const map = this.state.map;
    if (map === null) return false;
    const index = map.nodes.findIndex((n) => n.id === id);
    return index >= 0 && map.chains.some((chain, c) => chain.includes(index) && map.runChains.includes(c));
  }

  failover(ref: string): Promise<OpResult> {
    return this.run(() => this.failures.failNow(this.writer.find(ref).id));
  }

  /** Hand a node's units to their caught-up replicas, then fail it (see `FailureDetector.gracefulFailover`). */
  gracefulFailover(ref: string): Promise<OpResult> {
    return this.failures.gracefulFailover(ref);
  }

  split(): Promise<OpResult> {
    return this.run(async () => {
      const next = splitBuckets(this.writer.requireMap());
      await this.writer.writeMap(next);
      return { epoch: next.epoch, rev: next.rev, movedUnits: 0, warnings: [] };
    });
  }

  setRedundancy(redundancy: number): Promise<OpResult> {
    return this.run(async () => {
      if (!await this.writer.writeSettings({ ...this.state.settings, redundancy })) {
        throw KvError.unavailable('settings changed concurrently; try again', { isSafeToRetry: true });
      }
      this.reconciler.isRestoreHeld = false;
      return this.reconciler.reconcileNow();
    });
  }

  private async campaignLoop(): Promise<void> {
    let attempt = 0;
    while (!this.isClosed) {
      try {
        const lease = await this.cfg.grantLease(this.options.leaderLeaseMs);
        lease.startKeepAlive(Math.max(10, Math.floor(this.options.leaderLeaseMs / 3)));
        const leadership = await this.cfg.campaign(CfgKeys.election, this.selfUrl, lease);
        if (this.isClosed) {
          await leadership.resign();
          return;
        }
        attempt = 0;
        this.leadership = leadership;
        this.leadershipController = new AbortController();
        const lost = new Promise<void>((resolve) => leadership.once('lost', () => resolve()));
        await this.onElected();
        await lost;
        this.leadership = null;
        this.leadershipController.abort();
        this.reconciler.stop();
        this.failures.stop();
        this.emit('deposed');
      } catch (err) {
        if (this.isClosed) return;
        this.emit('error', err instanceof Error ? err : new Error(String(err)));
        await new Promise<void>((resolve) => setTimeout(resolve, backoffDelay(this.options.retryBackoffMs, attempt++)).unref());
      }
    }
  }

  private async onElected(): Promise<void> {
    this.electedAt = performance.now();
    this.reconciler.start();
    this.failures.start();
    if (this.state.settings === null) {
      await this.run(async () => {
        await this.writer.writeSettings({ redundancy: this.options.redundancy }, 0);
      }).catch(() => undefined);
    }
    this.failures.checkNotLive();
    this.mover.onElected();
    this.reconciler.onElected();
    this.emit('elected');
    this.reconciler.schedule();
  }
}

function noop(): void {}
