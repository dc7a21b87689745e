import { ErrorCode, KvError } from '../../shared/errors.js';
import { sameManagers } from './manager-record.js';
import { countUnitsToMove, needsDataMoves } from './moves.js';
import type { LeaderHost, OpResult } from './leader-host.js';
import type { Mover } from './mover.js';
import { onReport } from './node-reports.js';
import { planFrom, plannerNodes } from './planning.js';
import { waitUntil, type Subscribe } from './wait-until.js';

/**
 * Turns node changes into maps: re-plans when records, liveness or the manager tier
 * change, publishes what needs no data moves and hands the rest to the mover.
 */
export class Reconciler {
  /**
   * Set by a failover when copies are not restored automatically (`--no-auto-restore`):
   * automatic re-plans wait until an admin operation clears it.
   */
  isRestoreHeld = false;
  private isScheduled = false;
  /** Heartbeats and node changes: what the wait for the nodes' first reports looks again on. */
  private readonly wakeups: readonly Subscribe[];

  constructor(private readonly host: LeaderHost, private readonly mover: Mover) {
    const state = host.state;
    const onNodes: Subscribe = (wake) => {
      state.on('nodes', wake);
      return () => state.off('nodes', wake);
    };
    this.wakeups = [onReport(host.reports), onNodes];
  }

  /** Re-plan on node and manager changes from now on (while leading). */
  start(): void {
    this.host.state.on('nodes', this.onNodes);
    this.host.state.on('managers', this.onNodes);
  }

  stop(): void {
    this.host.state.off('nodes', this.onNodes);
    this.host.state.off('managers', this.onNodes);
  }

  /** A new leadership: a failover under an earlier leader may still wait for an admin's rebalance. */
  onElected(): void {
    const { state, options } = this.host;
    if (!options.isAutoRestore && state.map !== null) {
      const failed = new Set([...state.records.values()].filter((r) => r.state === 'failed').map((r) => r.id));
      if (state.map.nodes.some((n) => failed.has(n.id))) this.isRestoreHeld = true;
    }
  }

  private readonly onNodes = (): void => {
    this.schedule();
  };

  /** One automatic re-plan per microtask burst of changes, in the operation queue. */
  schedule(): void {
    if (this.isScheduled || !this.host.isLeader) return;
    this.isScheduled = true;
    queueMicrotask(this.onScheduled);
  }

  private readonly onScheduled = (): void => {
    this.isScheduled = false;
    void this.host.run(() => this.autoReconcile()).catch((err: Error) => {
      if (!(err instanceof KvError && err.code === ErrorCode.UNAVAILABLE)) this.host.reportError(err);
    });
  };

  /** A re-plan nobody asked for (node changes, failover): skipped while a restore is held. */
  autoReconcile(): Promise<OpResult> {
    if (this.isRestoreHeld) {
      const map = this.host.state.map;
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
  async whenReportsSettled(): Promise<void> {
    const { host } = this;
    const { state, options, reports } = host;
    if (host.isClosed || !host.isLeader) return;
    // Live nodes move here within a heartbeat or two of seeing the new manager list; one
    // that does not (paused, partitioned) must not hold planning up until it is failed.
    const bound = host.electedAt + Math.min(options.failoverAfterMs, Math.max(1000, 3 * options.heartbeatMs));
    const electedAt = host.electedAt;
    const isSettled = (): boolean => ![...state.live].some((id) => (reports.heardAt.get(id) ?? -Infinity) < electedAt && state.records.get(id)?.state !== 'failed');
    await waitUntil(isSettled, this.wakeups, bound - performance.now(), host.leadershipSignal);
  }

  /** Re-plan with the current nodes now; publishes, or starts the mover when data must move. */
  async reconcileNow(): Promise<OpResult> {
    const { state: s, options, writer } = this.host;
    // The manager list first (it moves no data): nodes learn from it whom to report to.
    const listed = s.map;
    if (listed !== null && !sameManagers(listed.managers, writer.managerList())) await writer.writeMap({ ...listed, rev: listed.rev + 1 });
    await this.whenReportsSettled();
    if (options.isAutoAdd) {
      for (const r of [...s.records.values()]) {
        if (r.state === 'joining' && s.live.has(r.id)) await writer.setState(r, 'active');
      }
    }
    const nodes = plannerNodes(s);
    const current = s.map;
    if (!nodes.some((n) => n.state === 'active')) {
      return { epoch: current?.epoch ?? 0, rev: current?.rev ?? 0, movedUnits: 0, warnings: ['no active node to place units on'] };
    }
    const result = planFrom(s, options, current, nodes);
    const isChanged = current === null || result.map.rev !== current.rev || result.map.epoch !== current.epoch;
    // A map with units in motion (a staged batch) is never replaced by a plan directly: the
    // plan would count the staged copies as filled. The mover waits for them first.
    const hasStaged = current !== null && current.moves.length > 0;
    // (Staged units mean the nodes replicate, even before their first reports reach a
    // manager that just started.)
    if (isChanged && current !== null && (hasStaged || (this.isReplicating() && needsDataMoves(current, result.map)))) {
      // Copies must be filled before anyone relies on them: move in batches, in the background.
      if (this.mover.progress.isStopped) {
        return { epoch: current.epoch, rev: current.rev, movedUnits: 0, warnings: [...result.warnings, 'the rebalance is stopped: no data moves until "pandakv cluster rebalance"'] };
      }
      this.mover.start();
      return { epoch: current.epoch, rev: current.rev, movedUnits: result.moves.length, warnings: [...result.warnings, 'moving data in batches; see GET /api/rebalance'] };
    }
    if (isChanged) {
      const warnings = [...result.warnings];
      // Nothing can copy a unit between nodes without a peer plane: one that changes owner
      // starts empty there, and what its old owner held is no longer served. Say so.
      const uncopied = current === null || this.isReplicating() ? 0 : countUnitsToMove(current, result.map);
      await writer.writeMap(result.map);
      if (uncopied > 0) {
        this.host.events.record('switch-without-copy', { units: uncopied, epoch: result.map.epoch, rev: result.map.rev });
        warnings.push(`${uncopied} units changed owner with no peer plane to copy them: they start empty on their new owners`);
      }
      return { epoch: result.map.epoch, rev: result.map.rev, movedUnits: result.moves.length, warnings };
    } else if (current !== null && !sameManagers(current.managers, writer.managerList())) {
      // Only the manager tier changed: same placement, next rev.
      await writer.writeMap({ ...current, rev: current.rev + 1 });
      return { epoch: current.epoch, rev: current.rev + 1, movedUnits: 0, warnings: result.warnings };
    }
    return { epoch: result.map.epoch, rev: result.map.rev, movedUnits: result.moves.length, warnings: result.warnings };
  }

  /** Nodes replicate when they report replication state with their heartbeats. */
  private isReplicating(): boolean {
    return this.host.reports.replication.size > 0;
  }
}
