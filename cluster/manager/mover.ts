import { countUnitsToMove, clearStaged, stagedMembers, stageBatch, switchBatch, unstageBatch, type StagedBatch } from './moves.js';
import type { LeaderHost, StopResult } from './leader-host.js';
import { onReport } from './node-reports.js';
import { emptyNodes, planFrom, plannerNodes } from './planning.js';
import { waitUntil, type Subscribe } from './wait-until.js';

/** Progress of data moves (units), for `GET /api/rebalance`. */
export interface MoveProgress {
  isMoving: boolean;
  isStopped: boolean;
  unitsMoved: number;
  unitsLeft: number;
  batches: number;
  bytesCopied: number;
  lastWarning: string | null;
}

/** What the mover asks of the reconciler, without importing it. */
export interface MoverHooks {
  /** Copies lost in a failover wait for an admin's rebalance (`--no-auto-restore`). */
  isRestoreHeld(): boolean;
  /** A resume came in while the loop was letting go of a stop: the new plan needs a loop. */
  onResumeNeeded(): void;
}

/**
 * Data moves in batches: stage a batch (new copies join their chains), wait until the
 * nodes gaining copies report caught up (woken by their heartbeats, not by polling),
 * switch the batch to its planned chains, repeat. Stop, resume and their progress.
 */
export class Mover {
  readonly progress: MoveProgress = { isMoving: false, isStopped: false, unitsMoved: 0, unitsLeft: 0, batches: 0, bytesCopied: 0, lastWarning: null };
  /** Sum of the nodes' copied bytes when the current moves began. */
  private copiedAtStart = 0;
  private loop: Promise<void> | null = null;
  /** Aborted by `stop`: ends a wait for a batch to catch up at once. Replaced on resume. */
  private stopController = new AbortController();
  /** The next loop continues a stopped rebalance (its counts carry on). */
  private isResuming = false;
  /** What the move loop did with its batch when it last saw a stop. */
  private stopOutcome: { batch: StopResult['batch']; units: number } = { batch: 'none', units: 0 };
  /** Heartbeats and node record changes: what a catch-up wait looks again on. */
  private readonly wakeups: readonly Subscribe[];

  constructor(private readonly host: LeaderHost, private readonly hooks: MoverHooks) {
    const state = host.state;
    const onNodes: Subscribe = (wake) => {
      state.on('nodes', wake);
      return () => state.off('nodes', wake);
    };
    this.wakeups = [onReport(host.reports), onNodes];
  }

  /** True while a move loop runs. */
  get isRunning(): boolean {
    return this.loop !== null;
  }

  /** Resolves once no move loop runs. */
  async whenIdle(): Promise<void> {
    while (this.loop !== null) await this.loop;
  }

  /** A new leadership: a rebalance an earlier leader was told to stop stays stopped. */
  onElected(): void {
    this.progress.isStopped = this.host.state.settings?.isRebalanceStopped === true;
    if (!this.progress.isStopped && this.stopController.signal.aborted) this.stopController = new AbortController();
  }

  /** Resume a stopped rebalance (in the operation queue): clears the stored stop. */
  async resume(): Promise<string[]> {
    const p = this.progress;
    p.isStopped = false;
    this.stopController = new AbortController();
    this.isResuming = true;
    const warnings = await this.persistStopped(false);
    this.host.events.record('rebalance-resume', { unitsMoved: p.unitsMoved, unitsLeft: p.unitsLeft, batches: p.batches });
    return warnings;
  }

  /** After a resume's re-plan: when no loop was needed, what was left needed no data moves, so it is done. */
  finishResumeWithoutMoves(): void {
    if (!this.isResuming) return;
    this.isResuming = false;
    const p = this.progress;
    p.unitsLeft = 0;
    const map = this.host.state.map;
    this.host.events.record('rebalance-finish', { unitsMoved: p.unitsMoved, batches: p.batches, bytesCopied: p.bytesCopied, epoch: map?.epoch ?? 0, rev: map?.rev ?? 0 });
  }

  /**
   * "Put the pencils down": no further batch is staged and a wait for the batch in flight
   * ends at once. Resolves, once the loop has let go, with whether moves were stopped already.
   */
  async stop(): Promise<boolean> {
    const wasStopped = this.progress.isStopped;
    this.progress.isStopped = true;
    this.isResuming = false;
    this.stopOutcome = { batch: 'none', units: 0 };
    this.stopController.abort();
    const loop = this.loop;
    if (loop !== null) await loop;
    return wasStopped;
  }

  /** The rest of a stop, in the operation queue: keep it in the config store and report it. */
  async finishStop(wasStopped: boolean): Promise<StopResult> {
    const outcome = this.stopOutcome;
    // A resume that came in while the loop let go wins.
    if (!this.progress.isStopped) return { batch: outcome.batch, rolledBackUnits: outcome.units, warnings: ['resumed since'] };
    const warnings = await this.persistStopped(true);
    this.progress.unitsLeft = this.unitsLeftToMove();
    if (!wasStopped) {
      const p = this.progress;
      this.host.events.record('rebalance-stop', { reason: 'admin', batch: outcome.batch, rolledBackUnits: outcome.units, unitsMoved: p.unitsMoved, unitsLeft: p.unitsLeft, batches: p.batches });
    }
    return { batch: outcome.batch, rolledBackUnits: outcome.units, warnings };
  }

  /** Start a move loop unless one runs or moves are stopped. */
  start(): void {
    if (this.loop !== null || this.progress.isStopped) return;
    const p = this.progress;
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
    this.loop = this.moveLoop(signal, isResuming)
      .catch((err: Error) => { p.lastWarning = err.message; })
      .finally(() => {
        this.loop = null;
        p.isMoving = false;
        if (signal.aborted && !p.isStopped) this.hooks.onResumeNeeded();
      });
  }

  /** Keep the stopped flag with the settings; a failure leaves the stop in force here only. */
  private async persistStopped(isStopped: boolean): Promise<string[]> {
    const state = this.host.state;
    const current = state.settings ?? { redundancy: this.host.options.redundancy };
    if ((current.isRebalanceStopped === true) === isStopped) return [];
    const next = isStopped ? { ...current, isRebalanceStopped: true } : { redundancy: current.redundancy };
    try {
      if (!await this.host.writer.writeSettings(next)) return ['the stopped flag could not be stored (settings changed concurrently); it holds on this manager only'];
      return [];
    } catch (err) {
      return [`the stopped flag could not be stored (${err instanceof Error ? err.message : String(err)}); it holds on this manager only`];
    }
  }

  /** Units the current plan would still move (0 without a map). */
  private unitsLeftToMove(): number {
    const { state, options } = this.host;
    const map = state.map;
    if (map === null || !plannerNodes(state).some((n) => n.state === 'active')) return 0;
    return countUnitsToMove(map, planFrom(state, options, map).map);
  }

  /**
   * The loop: a stop (`signal`) ends the wait at once and the batch is rolled back, as is
   * a batch that does not catch up in time: no unit is left with copies that were never
   * filled. Also stops when leadership ends; when the map changed under a batch, the next
   * one starts from it.
   */
  private async moveLoop(signal: AbortSignal, isResuming: boolean): Promise<void> {
    const { host } = this;
    const { options, state, writer } = host;
    const limits = { perNode: options.movesPerNode, total: options.maxMoves };
    const p = this.progress;
    let hasStarted = isResuming;
    // Nodes that held nothing when a batch was planned keep pulling their share in the
    // batches after it, which are planned from maps where they hold part of it already.
    const pulling = new Set<string>();
    for (;;) {
      if (host.isClosed || !host.isLeader || signal.aborted || p.isStopped || this.hooks.isRestoreHeld()) return;
      const batch = await host.run(async () => {
        if (signal.aborted) return 'stopped' as const;
        const base = writer.requireMap();
        // Units still staged from before (an earlier leader's batch): their new copies may
        // be filling, and planning from this map would count them as filled.
        if (base.moves.length > 0) return { inherited: stagedMembers(base), rev: base.rev };
        const nodes = plannerNodes(state);
        for (const id of emptyNodes(base, nodes)) pulling.add(id);
        const target = planFrom(state, options, base, nodes, pulling).map;
        const next = stageBatch(base, target, limits);
        if (next === null) {
          if (target.rev !== base.rev || target.epoch !== base.epoch) await writer.writeMap(target);
          p.unitsLeft = 0;
          return null;
        }
        await writer.writeMap(next.staged);
        p.unitsLeft = next.remaining + next.units.length;
        p.batches++;
        if (!hasStarted) {
          hasStarted = true;
          host.events.record('rebalance-start', { units: p.unitsLeft, movesPerNode: limits.perNode, maxMoves: limits.total, epoch: next.staged.epoch, rev: next.staged.rev });
        }
        return next;
      });
      if (batch === 'stopped') return;
      if (batch !== null && 'inherited' in batch) {
        if (!await this.waitCaughtUp(batch.inherited, batch.rev, signal)) {
          p.lastWarning = signal.aborted
            ? 'units staged before this rebalance stay staged until it resumes'
            : `nodes of units staged earlier did not catch up within ${options.moveTimeoutMs} ms; moves paused`;
          return;
        }
        await host.run(async () => {
          const base = writer.requireMap();
          if (base.moves.length > 0 && base.rev === batch.rev) await writer.writeMap(clearStaged(base));
        });
        continue;
      }
      if (batch === null) {
        if (hasStarted) {
          const map = state.map;
          host.events.record('rebalance-finish', { unitsMoved: p.unitsMoved, batches: p.batches, bytesCopied: p.bytesCopied, epoch: map?.epoch ?? 0, rev: map?.rev ?? 0 });
        }
        return;
      }
      const caughtUp = await this.waitCaughtUp(batch.gainers, batch.staged.rev, signal);
      if (!caughtUp) {
        if (!host.isLeader || host.isClosed) return;
        const units = await this.rollBack(batch);
        if (signal.aborted) {
          this.stopOutcome = { batch: 'rolled-back', units };
          return;
        }
        p.lastWarning = `nodes ${[...batch.gainers].join(', ')} did not catch up within ${options.moveTimeoutMs} ms; batch rolled back, moves paused`;
        host.events.record('rebalance-stop', { reason: 'catch-up-timeout', batch: 'rolled-back', rolledBackUnits: units, unitsMoved: p.unitsMoved, unitsLeft: p.unitsLeft, batches: p.batches });
        return;
      }
      const switched = await host.run(async () => {
        const base = writer.requireMap();
        if (base.rev !== batch.staged.rev || base.epoch !== batch.staged.epoch) return false;
        await writer.writeMap(switchBatch(base, batch.final));
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
    const { writer } = this.host;
    return this.host.run(async () => {
      const next = unstageBatch(writer.requireMap(), batch.staged.unitBits, batch.added);
      if (next === null) return 0;
      const units = batch.added.size;
      await writer.writeMap(next);
      return units;
    });
  }

  private copiedBytes(): number {
    let sum = 0;
    for (const r of this.host.reports.replication.values()) sum += r.copiedBytes;
    return sum;
  }

  /**
   * Every node in `ids` has applied `rev` and reports no backfill under way, within the
   * move timeout; false on a stop, at the end of the leadership, or at the timeout.
   */
  private waitCaughtUp(ids: ReadonlySet<string>, rev: number, signal: AbortSignal): Promise<boolean> {
    const { state, reports } = this.host;
    const isCaughtUp = (): boolean => {
      for (const id of ids) {
        // A failed node will be re-planned. Any other must report, with its heartbeat, that it
        // applied the staged map and copied everything: a node that has not reported yet
        // (one that just joined) is not caught up.
        if (state.records.get(id)?.state === 'failed') continue;
        const r = reports.replication.get(id);
        if (r === undefined || r.rev < rev || r.backfilling > 0) return false;
      }
      return true;
    };
    return waitUntil(isCaughtUp, this.wakeups, this.host.options.moveTimeoutMs, AbortSignal.any([signal, this.host.leadershipSignal]));
  }
}
