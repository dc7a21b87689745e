import { activeRanges, chainOf } from '../../shared/cluster-map.js';
import { KvError } from '../../shared/errors.js';
import type { LeaderHost, OpResult } from './leader-host.js';
import { isActiveAnywhere } from './membership.js';
import { demoteActive } from './moves.js';
import { onReport, type NodeReports } from './node-reports.js';
import { promoteOnly, type UnitSeqnos } from './planner/plan.js';
import type { Reconciler } from './reconciler.js';
import { waitUntil, type Subscribe } from './wait-until.js';

/** Longest a graceful failover waits for the node to adopt the map that demoted it. */
const DEMOTED_ADOPT_TIMEOUT_MS = 10_000;

/** The nodes' reported seqnos per unit, as the planner takes them. */
function reportedSeqnos(reports: NodeReports): UnitSeqnos {
  const seqnos: UnitSeqnos = {};
  for (const [node, report] of reports.replication) seqnos[node] = report.seqnos;
  return seqnos;
}

/**
 * Failure detection and failover: a node whose liveness key goes away, or that is not
 * live `failoverAfterMs` after this manager began leading, is failed over: its replicas
 * take its units in a promote-only map once its lease has run out (it has fenced itself
 * by then), and the reconciler restores the copies.
 */
export class FailureDetector {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly onNodes: Subscribe;

  constructor(private readonly host: LeaderHost, private readonly reconciler: Reconciler) {
    const state = host.state;
    this.onNodes = (wake) => {
      state.on('nodes', wake);
      return () => state.off('nodes', wake);
    };
  }

  /** Leading from now on: a node whose liveness key goes away is failed over. */
  start(): void {
    this.host.state.on('live-lost', this.onLiveLost);
  }

  /** Nodes that are active but not live get `failoverAfterMs` to show up. */
  checkNotLive(): void {
    const state = this.host.state;
    for (const r of state.records.values()) {
      if (r.state === 'active' && !state.live.has(r.id)) this.scheduleFailCheck(r.id);
    }
  }

  /** No longer leading: liveness changes are another leader's. */
  stop(): void {
    this.host.state.off('live-lost', this.onLiveLost);
  }

  /** Closing: also drop the pending checks. */
  close(): void {
    this.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private scheduleFailCheck(id: string): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      const { host } = this;
      if (host.isLeader && !host.state.live.has(id) && host.state.records.get(id)?.state === 'active') {
        void host.run(() => this.failNow(id)).catch((err: Error) => host.reportError(err));
      }
    }, this.host.options.failoverAfterMs);
    t.unref();
    this.timers.add(t);
  }

  private readonly onLiveLost = (id: string): void => {
    const r = this.host.state.records.get(id);
    if (r === undefined || r.state === 'failed' || r.state === 'leaving') return;
    void this.host.run(() => this.failNow(id)).catch((err: Error) => this.host.reportError(err));
  };

  /** Fail node `id` now (in the operation queue): promote its replicas, then re-plan. */
  async failNow(id: string): Promise<OpResult> {
    const { state, options, writer, reports } = this.host;
    const r = state.records.get(id);
    if (r === undefined) throw KvError.notFound(`no node ${id}`);
    if (r.state === 'failed') return this.reconciler.autoReconcile();
    // Promotion picks the replica with the highest reported seqno: hear the replicas first.
    await this.reconciler.whenReportsSettled();
    await writer.setState(r, 'failed');
    // A node still holding its liveness lease may still be serving: its replicas take over
    // only once that lease has run out (it is no longer renewed for a failed node), since
    // by then the node has fenced itself (DESIGN §4).
    if (state.live.has(id) && state.map !== null && isActiveAnywhere(state.map, id)) {
      const isGone = await waitUntil(() => !state.live.has(id), [this.onNodes], options.failoverAfterMs * 2 + options.heartbeatMs * 2);
      if (!isGone) throw KvError.unavailable(`node ${id} still holds its liveness lease; not failed over (try again)`, { isSafeToRetry: true });
    }
    const map = state.map;
    if (map !== null && map.nodes.some((n) => n.id === id)) {
      // First a promote-only map: replicas take over, no data moves. The replica to promote
      // is the one with the highest seqno *now*: the failed node has fenced itself, so no
      // write is acknowledged any more, and every one it acknowledged is on a replica that
      // applied it before answering. The periodic reports may predate some of those (with
      // r >= 3 the wrong replica could be picked): ask the replicas first.
      const replicas = map.nodes.filter((n) => n.id !== id && n.state !== 'failed' && state.live.has(n.id)).map((n) => n.id);
      await reports.requestReports(replicas, Math.max(1000, 3 * options.heartbeatMs));
      const promoted = promoteOnly(map, new Set([id]), reportedSeqnos(reports));
      if (promoted.map.rev !== map.rev) await writer.writeMap(promoted.map);
      const index = map.nodes.findIndex((n) => n.id === id);
      const unitSize = 2 ** (map.bits - map.unitBits);
      const activeUnits = activeRanges(map, index).reduce((sum, [a, b]) => sum + Math.ceil((b - a) / unitSize), 0);
      this.host.events.record('failover', {
        node: id, unitsPromoted: Math.max(0, activeUnits - promoted.lostUnits.length), unitsLost: promoted.lostUnits.length,
        epoch: promoted.map.epoch, rev: promoted.map.rev,
      });
    }
    if (!options.isAutoRestore) this.reconciler.isRestoreHeld = true;
    return this.reconciler.autoReconcile();
  }

  /**
   * Graceful failover: wait until the replicas of every unit the node is active for have
   * applied what it had written (seqnos from heartbeats), then publish the promote-only
   * map and fail the node. The node stays up meanwhile: writes it takes in the last moment
   * still stream to the replicas, which apply them after the switch, so clients see a
   * NOT_MY_BUCKET and a retry, not an error.
   */
  async gracefulFailover(ref: string): Promise<OpResult> {
    const { host } = this;
    const { writer, reports, options } = host;
    const id = await host.run(async () => writer.find(ref).id);
    const mine = reports.replication.get(id);
    const map = writer.requireMap();
    if (mine === undefined) return host.run(() => this.failNow(writer.find(ref).id));
    const self = map.nodes.findIndex((n) => n.id === id);
    const wanted: Array<[number, number, string[]]> = [];
    const unitSize = 2 ** (map.bits - map.unitBits);
    for (const [unitText, seq] of Object.entries(mine.seqnos)) {
      const unit = Number(unitText);
      const chain = chainOf(map, unit * unitSize);
      if (chain[0] !== self || chain.length < 2) continue;
      wanted.push([unit, seq, chain.slice(1).map((i) => map.nodes[i]!.id)]);
    }
    const behind = (): Array<[number, number, string[]]> =>
      wanted.filter(([unit, seq, replicas]) => !replicas.some((r) => (reports.replication.get(r)?.seqnos[unit] ?? 0) >= seq));
    if (!await waitUntil(() => behind().length === 0, [onReport(reports)], options.moveTimeoutMs)) {
      throw KvError.unavailable(`replicas of ${behind().length} unit(s) did not catch up within ${options.moveTimeoutMs} ms; node not failed over`, { isSafeToRetry: true });
    }
    // Hand the units over while the node stays linked as a replica, so what it took in the
    // last moment still reaches the new actives; fail it once it has adopted that map.
    const demoted = await host.run(async () => {
      const next = demoteActive(writer.requireMap(), id, reportedSeqnos(reports));
      if (next !== null) await writer.writeMap(next);
      return next;
    });
    if (demoted !== null) {
      await waitUntil(() => (reports.replication.get(id)?.rev ?? 0) >= demoted.rev, [onReport(reports)], DEMOTED_ADOPT_TIMEOUT_MS);
    }
    return host.run(() => this.failNow(id));
  }
}
