import { EventEmitter } from 'eventemitter3';
import { setTimeout as delay } from 'node:timers/promises';
import type { ClusterMap } from '../../shared/cluster-map.js';
import { encodeMap } from '../../shared/map-codec.js';
import { KvError } from '../../shared/errors.js';
import type { Cfg, CfgLeadership } from './cfg/cfg.js';
import type { ClusterState } from './cluster-state.js';
import { CfgKeys, nodeKey } from './keys.js';
import { encodeRecord, encodeSettings, type NodeRecord } from './node-record.js';
import type { ManagerOptions } from './options.js';
import { plan, promoteOnly, splitBuckets, type PlannerNode, type PlanResult, type UnitSeqnos } from './planner/plan.js';
import { clearStaged, countUnitsToMove, demoteActive, stagedMembers, needsDataMoves, stageBatch, switchBatch, unstageBatch, type StagedBatch } from './moves.js';
import { activeRanges, chainOf, holdingNodes, type MapManager } from '../../shared/cluster-map.js';
import { EventLog } from '../../shared/event-log.js';
import { mapManagers, sameManagers } from './manager-record.js';
import { isActiveAnywhere } from './membership.js';

export interface LeaderEvents {
  elected: () => void;
  deposed: () => void;
  error: (err: Error) => void;
}

/** What `stopMoves` did with the batch in flight. */
export interface StopResult {
  /** `rolled-back`: its new copies were taken out again; `finished`: it was switched first; `none`: no batch was in flight. */
  batch: 'rolled-back' | 'finished' | 'none';
  /** Units of the batch that were rolled back. */
  rolledBackUnits: number;
  warnings: string[];
}

/** What an admin operation did. */
export interface OpResult {
  epoch: number;
  rev: number;
  movedUnits: number;
  warnings: string[];
}

/**
 * The elected planner. Campaigns in the config store; while leading it turns node
 * changes into new maps, each written with a fenced compare-and-set so a deposed
 * leader's late write can never land. Operations run one at a time.
 */
export class Leader extends EventEmitter<LeaderEvents> {
  leadership: CfgLeadership | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private isClosed = false;
  private readonly failTimers = new Set<NodeJS.Timeout>();
  private reconcileScheduled = false;
  /**
   * Replication reports from the nodes' heartbeats (seqno per unit, backfills under way).
   * Set by the manager; failover promotes the replica with the highest seqno.
   */
  replication: ReadonlyMap<string, { backfilling: number; seqnos: Record<number, number>; rev: number; copiedBytes: number }> = new Map();
  /** Progress of data moves (units), for `GET /api/rebalance`. */
  moveProgress = { isMoving: false, isStopped: false, unitsMoved: 0, unitsLeft: 0, batches: 0, bytesCopied: 0, lastWarning: null as string | null };
  /** When each node last heartbeated to this manager (ms, monotonic); set by the manager. */
  heardAt: ReadonlyMap<string, number> = new Map();
  /**
   * Set by the manager: ask nodes connected to it for a heartbeat made now (their seqnos as
   * they are), resolving with those that answered within `ms`.
   */
  askReports: (ids: readonly string[], ms: number) => Promise<Set<string>> = () => Promise.resolve(new Set());
  /** When this manager last became leader (ms, monotonic). */
  private electedAt = 0;
  /** Sum of the nodes' copied bytes when the current moves began. */
  private copiedAtStart = 0;
  private mover: Promise<void> | null = null;
  /** Aborted by `stopMoves`: ends a wait for a batch to catch up at once. Replaced on resume. */
  private stopController = new AbortController();
  /** The next mover continues a stopped rebalance (its counts carry on). */
  private isResuming = false;
  /** What the move loop did with its batch when it last saw a stop. */
  private stopOutcome: { batch: StopResult['batch']; units: number } = { batch: 'none', units: 0 };
  /** Cluster events (failover, epoch change, rebalance, …); the manager gives its own log. */
  events: EventLog = new EventLog({ component: 'manager', write: noop });
  /** Told after this leader changed a node record, so membership events are logged in order. */
  nodeEvents: { check(): void } | null = null;
  /**
   * Set by a failover when copies are not restored automatically (`--no-auto-restore`):
   * automatic re-plans wait until an admin operation clears it.
   */
  isRestoreHeld = false;

  constructor(
    private readonly cfg: Cfg,
    private readonly state: ClusterState,
    private readonly options: ManagerOptions,
    private readonly selfUrl: string,
    /** This manager's id in the map's manager list. */
    private readonly selfId: string = selfUrl,
  ) {
    super();
  }

  get isLeader(): boolean {
    return this.leadership?.isLeader === true;
  }

  start(): void {
    void this.campaignLoop();
  }

  async close(): Promise<void> {
    this.isClosed = true;
    for (const t of this.failTimers) clearTimeout(t);
    this.state.off('nodes', this.onNodes);
    this.state.off('managers', this.onNodes);
    this.state.off('live-lost', this.onLiveLost);
    const l = this.leadership;
    this.leadership = null;
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
      this.isRestoreHeld = false;
      if (this.moveProgress.isStopped) {
        this.moveProgress.isStopped = false;
        this.stopController = new AbortController();
        this.isResuming = true;
        const warnings = await this.persistStopped(false);
        const p = this.moveProgress;
        this.events.record('rebalance-resume', { unitsMoved: p.unitsMoved, unitsLeft: p.unitsLeft, batches: p.batches });
        const result = await this.reconcileNow();
        if (this.isResuming) {
          // No mover was needed: what was left needed no data moves, so it is done.
          this.isResuming = false;
          p.unitsLeft = 0;
          const map = this.state.map;
          this.events.record('rebalance-finish', { unitsMoved: p.unitsMoved, batches: p.batches, bytesCopied: p.bytesCopied, epoch: map?.epoch ?? 0, rev: map?.rev ?? 0 });
        }
        return { ...result, warnings: [...warnings, ...result.warnings] };
      }
      return this.reconcileNow();
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
    const wasStopped = this.moveProgress.isStopped;
    this.moveProgress.isStopped = true;
    this.isResuming = false;
    this.stopOutcome = { batch: 'none', units: 0 };
    this.stopController.abort();
    const mover = this.mover;
    if (mover !== null) await mover;
    return this.run(async () => {
      const outcome = this.stopOutcome;
      // A resume that came in while the loop let go wins.
      if (!this.moveProgress.isStopped) return { batch: outcome.batch, rolledBackUnits: outcome.units, warnings: ['resumed since'] };
      const warnings = await this.persistStopped(true);
      this.moveProgress.unitsLeft = this.unitsLeftToMove();
      if (!wasStopped) {
        const p = this.moveProgress;
        this.events.record('rebalance-stop', { reason: 'admin', batch: outcome.batch, rolledBackUnits: outcome.units, unitsMoved: p.unitsMoved, unitsLeft: p.unitsLeft, batches: p.batches });
      }
      return { batch: outcome.batch, rolledBackUnits: outcome.units, warnings };
    });
  }

  /** Keep the stopped flag with the settings; a failure leaves the stop in force here only. */
  private async persistStopped(isStopped: boolean): Promise<string[]> {
    const current = this.state.settings ?? { redundancy: this.options.redundancy };
    if ((current.isRebalanceStopped === true) === isStopped) return [];
    const next = isStopped ? { ...current, isRebalanceStopped: true } : { redundancy: current.redundancy };
    try {
      const r = await this.cfg.cas(CfgKeys.settings, encodeSettings(next), this.state.settingsModRev, { fence: this.fence() });
      if (!r.ok) return ['the stopped flag could not be stored (settings changed concurrently); it holds on this manager only'];
      this.state.settings = next;
      this.state.settingsModRev = r.rev;
      return [];
    } catch (err) {
      return [`the stopped flag could not be stored (${err instanceof Error ? err.message : String(err)}); it holds on this manager only`];
    }
  }

  /** Units the current plan would still move (0 without a map). */
  private unitsLeftToMove(): number {
    const map = this.state.map;
    if (map === null || !this.plannerNodes().some((n) => n.state === 'active')) return 0;
    return countUnitsToMove(map, this.planFrom(map).map);
  }

  addNode(ref: string): Promise<OpResult> {
    return this.run(async () => {
      const r = this.find(ref);
      if (r.state !== 'active') await this.setState(r, 'active');
      this.isRestoreHeld = false;
      return this.reconcileNow();
    });
  }

  /**
   * Drain a node: mark it leaving, move its copies away (with their data when nodes
   * replicate), and forget it only once it serves nothing.
   */
  async removeNode(ref: string): Promise<OpResult> {
    const { id, result } = await this.run(async () => {
      const r = this.find(ref);
      await this.setState(r, 'leaving');
      this.isRestoreHeld = false;
      return { id: r.id, result: await this.reconcileNow() };
    });
    // The moves run outside the operation queue; wait for them without holding it.
    while (this.mover !== null) await this.mover;
    if (this.servesUnits(id)) {
      return { ...result, warnings: [...result.warnings, `node ${id} still serves units (moves stopped or paused); it stays "leaving"`] };
    }
    return this.run(async () => {
      await this.cfg.cas(nodeKey(id), null, this.state.records.get(id)?.modRev ?? 0, { fence: this.fence() });
      const after = await this.reconcileNow();
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
    return this.run(() => this.failNow(this.find(ref).id));
  }

  /**
   * Graceful failover: wait until the replicas of every unit the node is active for have
   * applied what it had written (seqnos from heartbeats), then publish the promote-only
   * map and fail the node. The node stays up meanwhile: writes it takes in the last moment
   * still stream to the replicas, which apply them after the switch, so clients see a
   * NOT_MY_BUCKET and a retry, not an error.
   */
  async gracefulFailover(ref: string): Promise<OpResult> {
    const id = await this.run(async () => this.find(ref).id);
    const mine = this.replication.get(id);
    const map = this.requireMap();
    if (mine === undefined) return this.failover(ref);
    const self = map.nodes.findIndex((n) => n.id === id);
    const wanted: Array<[number, number, string[]]> = [];
    const unitSize = 2 ** (map.bits - map.unitBits);
    for (const [unitText, seq] of Object.entries(mine.seqnos)) {
      const unit = Number(unitText);
      const chain = chainOf(map, unit * unitSize);
      if (chain[0] !== self || chain.length < 2) continue;
      wanted.push([unit, seq, chain.slice(1).map((i) => map.nodes[i]!.id)]);
    }
    const deadline = Date.now() + this.options.moveTimeoutMs;
    for (;;) {
      const behind = wanted.filter(([unit, seq, replicas]) => !replicas.some((r) => (this.replication.get(r)?.seqnos[unit] ?? 0) >= seq));
      if (behind.length === 0) break;
      if (Date.now() >= deadline) {
        throw KvError.unavailable(`replicas of ${behind.length} unit(s) did not catch up within ${this.options.moveTimeoutMs} ms; node not failed over`, { isSafeToRetry: true });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Hand the units over while the node stays linked as a replica, so what it took in the
    // last moment still reaches the new actives; fail it once it has adopted that map.
    const demoted = await this.run(async () => {
      const seqnos: UnitSeqnos = {};
      for (const [node, report] of this.replication) seqnos[node] = report.seqnos;
      const next = demoteActive(this.requireMap(), id, seqnos);
      if (next !== null) await this.writeMap(next);
      return next;
    });
    if (demoted !== null) {
      const until = Date.now() + 10_000;
      while ((this.replication.get(id)?.rev ?? 0) < demoted.rev && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return this.run(() => this.failNow(id));
  }

  split(): Promise<OpResult> {
    return this.run(async () => {
      const map = this.requireMap();
      const next = splitBuckets(map);
      await this.writeMap(next);
      return { epoch: next.epoch, rev: next.rev, movedUnits: 0, warnings: [] };
    });
  }

  setRedundancy(redundancy: number): Promise<OpResult> {
    return this.run(async () => {
      const settings = { ...this.state.settings, redundancy };
      const r = await this.cfg.cas(CfgKeys.settings, encodeSettings(settings), this.state.settingsModRev, { fence: this.fence() });
      if (!r.ok) throw KvError.unavailable('settings changed concurrently; try again', { isSafeToRetry: true });
      this.state.settings = settings;
      this.state.settingsModRev = r.rev;
      this.isRestoreHeld = false;
      return this.reconcileNow();
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
        const lost = new Promise<void>((resolve) => leadership.once('lost', () => resolve()));
        await this.onElected();
        await lost;
        this.leadership = null;
        this.state.off('nodes', this.onNodes);
        this.state.off('managers', this.onNodes);
        this.state.off('live-lost', this.onLiveLost);
        this.emit('deposed');
      } catch (err) {
        if (this.isClosed) return;
        this.emit('error', err instanceof Error ? err : new Error(String(err)));
        await new Promise<void>((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt++)).unref());
      }
    }
  }

  private async onElected(): Promise<void> {
    this.electedAt = performance.now();
    this.state.on('nodes', this.onNodes);
    this.state.on('managers', this.onNodes);
    this.state.on('live-lost', this.onLiveLost);
    if (this.state.settings === null) {
      await this.run(async () => {
        const r = await this.cfg.cas(CfgKeys.settings, encodeSettings({ redundancy: this.options.redundancy }), 0, { fence: this.fence() });
        if (r.ok) {
          this.state.settings = { redundancy: this.options.redundancy };
          this.state.settingsModRev = r.rev;
        }
      }).catch(() => undefined);
    }
    // Nodes that were active but are not live get failoverAfterMs to show up.
    for (const r of this.state.records.values()) {
      if (r.state === 'active' && !this.state.live.has(r.id)) this.scheduleFailCheck(r.id);
    }
    // A rebalance an earlier leader was told to stop stays stopped until `cluster rebalance`.
    this.moveProgress.isStopped = this.state.settings?.isRebalanceStopped === true;
    if (!this.moveProgress.isStopped && this.stopController.signal.aborted) this.stopController = new AbortController();
    // A failover under an earlier leader may still be waiting for an admin's rebalance.
    if (!this.options.isAutoRestore && this.state.map !== null) {
      const failed = new Set([...this.state.records.values()].filter((r) => r.state === 'failed').map((r) => r.id));
      if (this.state.map.nodes.some((n) => failed.has(n.id))) this.isRestoreHeld = true;
    }
    this.emit('elected');
    this.scheduleReconcile();
  }

  private scheduleFailCheck(id: string): void {
    const t = setTimeout(() => {
      this.failTimers.delete(t);
      if (this.isLeader && !this.state.live.has(id) && this.state.records.get(id)?.state === 'active') {
        void this.run(() => this.failNow(id)).catch((err: Error) => this.emit('error', err));
      }
    }, this.options.failoverAfterMs);
    t.unref();
    this.failTimers.add(t);
  }

  private readonly onNodes = (): void => {
    this.scheduleReconcile();
  };

  private readonly onLiveLost = (id: string): void => {
    const r = this.state.records.get(id);
    if (r === undefined || r.state === 'failed' || r.state === 'leaving') return;
    void this.run(() => this.failNow(id)).catch((err: Error) => this.emit('error', err));
  };

  private scheduleReconcile(): void {
    if (this.reconcileScheduled || !this.isLeader) return;
    this.reconcileScheduled = true;
    queueMicrotask(() => {
      this.reconcileScheduled = false;
      void this.run(() => this.autoReconcile()).catch((err: Error) => {
        if (!(err instanceof KvError && err.code === 'KV_ERR_UNAVAILABLE')) this.emit('error', err);
      });
    });
  }

  private async failNow(id: string): Promise<OpResult> {
    const r = this.state.records.get(id);
    if (r === undefined) throw KvError.notFound(`no node ${id}`);
    if (r.state === 'failed') return this.autoReconcile();
    // Promotion picks the replica with the highest reported seqno: hear the replicas first.
    await this.whenReportsSettled();
    await this.setState(r, 'failed');
    // A node still holding its liveness lease may still be serving: its replicas take over
    // only once that lease has run out (it is no longer renewed for a failed node), since
    // by then the node has fenced itself (DESIGN §4).
    if (this.state.live.has(id) && this.state.map !== null && isActiveAnywhere(this.state.map, id)) {
      const isGone = await this.whenNotLive(id, this.options.failoverAfterMs * 2 + this.options.heartbeatMs * 2);
      if (!isGone) throw KvError.unavailable(`node ${id} still holds its liveness lease; not failed over (try again)`, { isSafeToRetry: true });
    }
    const map = this.state.map;
    if (map !== null && map.nodes.some((n) => n.id === id)) {
      // First a promote-only map: replicas take over, no data moves. The replica to promote
      // is the one with the highest seqno *now*: the failed node has fenced itself, so no
      // write is acknowledged any more, and every one it acknowledged is on a replica that
      // applied it before answering. The last periodic reports may predate some of those
      // (with r >= 3 the wrong replica could be picked): ask the replicas first.
      const replicas = map.nodes.filter((n) => n.id !== id && n.state !== 'failed' && this.state.live.has(n.id)).map((n) => n.id);
      await this.askReports(replicas, Math.max(1000, 3 * this.options.heartbeatMs));
      const seqnos: UnitSeqnos = {};
      for (const [node, report] of this.replication) seqnos[node] = report.seqnos;
      const promoted = promoteOnly(map, new Set([id]), seqnos);
      if (promoted.map.rev !== map.rev) await this.writeMap(promoted.map);
      const index = map.nodes.findIndex((n) => n.id === id);
      const unitSize = 2 ** (map.bits - map.unitBits);
      const activeUnits = activeRanges(map, index).reduce((sum, [a, b]) => sum + Math.ceil((b - a) / unitSize), 0);
      this.events.record('failover', {
        node: id, unitsPromoted: Math.max(0, activeUnits - promoted.lostUnits.length), unitsLost: promoted.lostUnits.length,
        epoch: promoted.map.epoch, rev: promoted.map.rev,
      });
    }
    if (!this.options.isAutoRestore) this.isRestoreHeld = true;
    return this.autoReconcile();
  }

  /** Resolves true once `id` has no liveness key, false after `ms`. */
  private whenNotLive(id: string, ms: number): Promise<boolean> {
    if (!this.state.live.has(id)) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (value: boolean): void => {
        clearTimeout(timer);
        this.state.off('nodes', check);
        resolve(value);
      };
      const check = (): void => {
        if (!this.state.live.has(id)) done(true);
      };
      const timer = setTimeout(() => done(false), ms);
      this.state.on('nodes', check);
    });
  }

  /** A re-plan nobody asked for (node changes, failover): skipped while a restore is held. */
  private autoReconcile(): Promise<OpResult> {
    if (this.isRestoreHeld) {
      const map = this.state.map;
      return Promise.resolve({ epoch: map?.epoch ?? 0, rev: map?.rev ?? 0, movedUnits: 0, warnings: ['copies lost in a failover are restored on "pandakv cluster rebalance" (--no-auto-restore)'] });
    }
    return this.reconcileNow();
  }

  /**
   * A new leader knows the nodes' replication state only from heartbeats it receives
   * itself, and nodes move to it only once it leads. Until every live node has reported
   * here (or three heartbeat periods have passed), a plan could take replicating nodes for ones
   * that do not replicate and switch units without copying them; so planning waits.
   */
  private async whenReportsSettled(): Promise<void> {
    // Live nodes move here within a heartbeat or two of seeing the new manager list; one
    // that does not (paused, partitioned) must not hold planning up until it is failed.
    const bound = this.electedAt + Math.min(this.options.failoverAfterMs, Math.max(1000, 3 * this.options.heartbeatMs));
    while (performance.now() < bound && !this.isClosed && this.isLeader) {
      const missing = [...this.state.live].filter((id) => (this.heardAt.get(id) ?? -Infinity) < this.electedAt && this.state.records.get(id)?.state !== 'failed');
      if (missing.length === 0) return;
      await delay(Math.min(this.options.heartbeatMs, 100)).catch(noop);
    }
  }

  private async reconcileNow(): Promise<OpResult> {
    // The manager list first (it moves no data): nodes learn from it whom to report to.
    const listed = this.state.map;
    if (listed !== null && !sameManagers(listed.managers, this.managerList())) await this.writeMap({ ...listed, rev: listed.rev + 1 });
    await this.whenReportsSettled();
    const s = this.state;
    if (this.options.isAutoAdd) {
      for (const r of [...s.records.values()]) {
        if (r.state === 'joining' && s.live.has(r.id)) await this.setState(r, 'active');
      }
    }
    const nodes = this.plannerNodes();
    const current = s.map;
    if (!nodes.some((n) => n.state === 'active')) {
      return { epoch: current?.epoch ?? 0, rev: current?.rev ?? 0, movedUnits: 0, warnings: ['no active node to place units on'] };
    }
    const result = this.planFrom(current, nodes);
    const isChanged = current === null || result.map.rev !== current.rev || result.map.epoch !== current.epoch;
    // A map with units in motion (a staged batch) is never replaced by a plan directly: the
    // plan would count the staged copies as filled. The mover waits for them first.
    const hasStaged = current !== null && current.moves.length > 0;
    // (Staged units mean the nodes replicate, even before their first reports reach a
    // manager that just started.)
    if (isChanged && current !== null && (hasStaged || (this.isReplicating() && needsDataMoves(current, result.map)))) {
      // Copies must be filled before anyone relies on them: move in batches, in the background.
      if (this.moveProgress.isStopped) {
        return { epoch: current.epoch, rev: current.rev, movedUnits: 0, warnings: [...result.warnings, 'the rebalance is stopped: no data moves until "pandakv cluster rebalance"'] };
      }
      this.startMover();
      return { epoch: current.epoch, rev: current.rev, movedUnits: result.moves.length, warnings: [...result.warnings, 'moving data in batches; see GET /api/rebalance'] };
    }
    if (isChanged) await this.writeMap(result.map);
    else if (current !== null && !sameManagers(current.managers, this.managerList())) {
      // Only the manager tier changed: same placement, next rev.
      await this.writeMap({ ...current, rev: current.rev + 1 });
      return { epoch: current.epoch, rev: current.rev + 1, movedUnits: 0, warnings: result.warnings };
    }
    return { epoch: result.map.epoch, rev: result.map.rev, movedUnits: result.moves.length, warnings: result.warnings };
  }

  private planFrom(previous: ClusterMap | null, nodes = this.plannerNodes(), pulling: ReadonlySet<string> = new Set()): PlanResult {
    return plan({ previous, nodes, redundancy: this.state.settings?.redundancy ?? this.options.redundancy, bits: this.options.bits, pulling: [...pulling] });
  }

  private plannerNodes(): PlannerNode[] {
    return [...this.state.records.values()]
      .filter((r) => r.state !== 'joining')
      .map((r) => ({ id: r.id, address: r.address, peerKey: r.peerKey, zone: r.zone, weight: r.weight, state: r.state }));
  }

  /** Nodes replicate when they report replication state with their heartbeats. */
  private isReplicating(): boolean {
    return this.replication.size > 0;
  }

  private startMover(): void {
    if (this.mover !== null || this.moveProgress.isStopped) return;
    const p = this.moveProgress;
    const isResuming = this.isResuming;
    this.isResuming = false;
    if (!isResuming) {
      // A new rebalance counts from zero; a resumed one carries on.
      p.unitsMoved = 0;
      p.batches = 0;
      p.bytesCopied = 0;
      p.lastWarning = null;
      this.copiedAtStart = this.copiedBytes();
    }
    p.isMoving = true;
    const signal = this.stopController.signal;
    this.mover = this.moveLoop(signal, isResuming)
      .catch((err: Error) => { p.lastWarning = err.message; })
      .finally(() => {
        this.mover = null;
        p.isMoving = false;
        // Resumed while this loop was letting go of a stop: the new plan needs a loop.
        if (signal.aborted && !p.isStopped) this.scheduleReconcile();
      });
  }

  /**
   * Stage a batch (new copies join their chains), wait until the nodes gaining copies
   * report caught up, switch the batch to its planned chains, repeat. A stop (`signal`)
   * ends the wait at once and the batch is rolled back, as is a batch that does not catch
   * up in time: no unit is left with copies that were never filled. Also stops when
   * leadership ends; when the map changed under a batch, the next one starts from it.
   */
  private async moveLoop(signal: AbortSignal, isResuming: boolean): Promise<void> {
    const limits = { perNode: this.options.movesPerNode, total: this.options.maxMoves };
    const p = this.moveProgress;
    let hasStarted = isResuming;
    // Nodes that held nothing when a batch was planned keep pulling their share in the
    // batches after it, which are planned from maps where they hold part of it already.
    const pulling = new Set<string>();
    for (;;) {
      if (this.isClosed || !this.isLeader || signal.aborted || p.isStopped || this.isRestoreHeld) return;
      const batch = await this.run(async () => {
        if (signal.aborted) return 'stopped' as const;
        const base = this.requireMap();
        // Units still staged from before (an earlier leader's batch): their new copies may
        // be filling, and planning from this map would count them as filled.
        if (base.moves.length > 0) return { inherited: stagedMembers(base), rev: base.rev };
        const nodes = this.plannerNodes();
        for (const id of emptyNodes(base, nodes)) pulling.add(id);
        const target = this.planFrom(base, nodes, pulling).map;
        const next = stageBatch(base, target, limits);
        if (next === null) {
          if (target.rev !== base.rev || target.epoch !== base.epoch) await this.writeMap(target);
          p.unitsLeft = 0;
          return null;
        }
        await this.writeMap(next.staged);
        p.unitsLeft = next.remaining + next.units.length;
        p.batches++;
        if (!hasStarted) {
          hasStarted = true;
          this.events.record('rebalance-start', { units: p.unitsLeft, movesPerNode: limits.perNode, maxMoves: limits.total, epoch: next.staged.epoch, rev: next.staged.rev });
        }
        return next;
      });
      if (batch === 'stopped') return;
      if (batch !== null && 'inherited' in batch) {
        if (!await this.waitCaughtUp(batch.inherited, batch.rev, Date.now() + this.options.moveTimeoutMs, signal)) {
          p.lastWarning = signal.aborted
            ? 'units staged before this rebalance stay staged until it resumes'
            : `nodes of units staged earlier did not catch up within ${this.options.moveTimeoutMs} ms; moves paused`;
          return;
        }
        await this.run(async () => {
          const base = this.requireMap();
          if (base.moves.length > 0 && base.rev === batch.rev) await this.writeMap(clearStaged(base));
        });
        continue;
      }
      if (batch === null) {
        if (hasStarted) {
          const map = this.state.map;
          this.events.record('rebalance-finish', { unitsMoved: p.unitsMoved, batches: p.batches, bytesCopied: p.bytesCopied, epoch: map?.epoch ?? 0, rev: map?.rev ?? 0 });
        }
        return;
      }
      const caughtUp = await this.waitCaughtUp(batch.gainers, batch.staged.rev, Date.now() + this.options.moveTimeoutMs, signal);
      if (!caughtUp) {
        if (!this.isLeader || this.isClosed) return;
        const units = await this.rollBack(batch);
        if (signal.aborted) {
          this.stopOutcome = { batch: 'rolled-back', units };
          return;
        }
        p.lastWarning = `nodes ${[...batch.gainers].join(', ')} did not catch up within ${this.options.moveTimeoutMs} ms; batch rolled back, moves paused`;
        this.events.record('rebalance-stop', { reason: 'catch-up-timeout', batch: 'rolled-back', rolledBackUnits: units, unitsMoved: p.unitsMoved, unitsLeft: p.unitsLeft, batches: p.batches });
        return;
      }
      const switched = await this.run(async () => {
        const base = this.requireMap();
        if (base.rev !== batch.staged.rev || base.epoch !== batch.staged.epoch) return false;
        await this.writeMap(switchBatch(base, batch.final));
        return true;
      });
      p.bytesCopied = Math.max(0, this.copiedBytes() - this.copiedAtStart);
      if (switched) {
        p.unitsMoved += batch.units.length;
        p.unitsLeft = batch.remaining;
        if (signal.aborted) this.stopOutcome = { batch: 'finished', units: 0 };
      }
    }
  }

  /** Take a batch's new copies out of their chains again; returns the units rolled back. */
  private rollBack(batch: StagedBatch): Promise<number> {
    return this.run(async () => {
      const next = unstageBatch(this.requireMap(), batch.staged.unitBits, batch.added);
      if (next === null) return 0;
      const units = batch.added.size;
      await this.writeMap(next);
      return units;
    });
  }

  private copiedBytes(): number {
    let sum = 0;
    for (const r of this.replication.values()) sum += r.copiedBytes;
    return sum;
  }

  /** Every node in `ids` has applied `rev` and reports no backfill under way. */
  private async waitCaughtUp(ids: ReadonlySet<string>, rev: number, deadline: number, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      let done = true;
      for (const id of ids) {
        // A failed node will be re-planned. Any other must report, with its heartbeat, that it
        // applied the staged map and copied everything: a node that has not reported yet
        // (one that just joined) is not caught up.
        if (this.state.records.get(id)?.state === 'failed') continue;
        const r = this.replication.get(id);
        if (r === undefined || r.rev < rev || r.backfilling > 0) done = false;
      }
      if (done) return true;
      if (Date.now() >= deadline || this.isClosed || !this.isLeader || signal.aborted) return false;
      // Heartbeats bring the reports; a stop must not wait for the next look.
      await delay(50, undefined, { signal }).catch(noop);
    }
  }

  /** The managers as the map lists them: this one (the leader) first. */
  private managerList(): MapManager[] {
    return mapManagers(this.state.managers.values(), this.selfId);
  }

  private async writeMap(planned: ClusterMap): Promise<void> {
    const managers = this.managerList();
    const map: ClusterMap = managers.length === 0 ? planned : { ...planned, managers };
    // Taken before the write: the store's watch may hand the new map over before cas returns.
    const previous = this.state.map;
    const r = await this.cfg.cas(CfgKeys.map, encodeMap(map), this.state.mapModRev, { fence: this.fence() });
    if (!r.ok) {
      throw r.isFenceBroken
        ? KvError.unavailable('leadership lost; the map was not written', { isSafeToRetry: true })
        : KvError.unavailable('the map changed concurrently; try again', { isSafeToRetry: true });
    }
    this.state.noteMapWritten(map, r.rev);
    if (previous === null || previous.epoch !== map.epoch) {
      this.events.record('epoch-change', { oldEpoch: previous?.epoch ?? null, newEpoch: map.epoch, rev: map.rev });
    }
  }

  private async setState(r: NodeRecord & { modRev: number }, state: NodeRecord['state']): Promise<void> {
    const next: NodeRecord = { id: r.id, address: r.address, zone: r.zone, weight: r.weight, peerKey: r.peerKey, state };
    const res = await this.cfg.cas(nodeKey(r.id), encodeRecord(next), r.modRev, { fence: this.fence() });
    if (!res.ok) throw KvError.unavailable(`node ${r.id} changed concurrently; try again`, { isSafeToRetry: true });
    this.state.records.set(r.id, { ...next, modRev: res.rev });
    this.nodeEvents?.check();
  }

  private fence(): { key: string; createRev: number } {
    const l = this.leadership;
    if (l === null || !l.isLeader) throw KvError.unavailable('this manager is not the leader', { isSafeToRetry: true });
    return l.fence;
  }

  private requireMap(): ClusterMap {
    const map = this.state.map;
    if (map === null) throw KvError.unavailable('there is no map yet: no node has joined');
    return map;
  }

  /** A node by id, id prefix or address. */
  private find(ref: string): NodeRecord & { modRev: number } {
    const records = [...this.state.records.values()];
    const hit = records.find((r) => r.id === ref || r.address === ref) ?? (() => {
      const prefixed = records.filter((r) => r.id.startsWith(ref));
      return prefixed.length === 1 ? prefixed[0] : undefined;
    })();
    if (hit === undefined) throw KvError.notFound(`no node matches "${ref}"`);
    return hit;
  }
}

/** Ids of the placeable nodes among `nodes` that hold no copy of any unit in `map`. */
function emptyNodes(map: ClusterMap, nodes: readonly PlannerNode[]): string[] {
  const holding = new Set([...holdingNodes(map)].map((m) => map.nodes[m]?.id));
  return nodes.filter((n) => (n.state === 'active' || n.state === 'joining') && !holding.has(n.id)).map((n) => n.id);
}

function noop(): void {}
