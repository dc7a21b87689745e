import { EventEmitter } from 'eventemitter3';
import type { NodeLoadReport, NodeRegistration, ReplicationReport } from '../../shared/map-protocol.js';
import type { NodeReports, ReplicationState } from './node-reports.js';
import type { Cfg, CfgLease } from './cfg/cfg.js';
import { liveKey, nodeKey } from './keys.js';
import { decodeRecord, encodeRecord, type NodeRecord } from './node-record.js';
import type { ClusterState } from './cluster-state.js';
import { KvError } from '../../shared/errors.js';
import type { ClusterMap } from '../../shared/cluster-map.js';

/** True when `id` is the active of some unit in `map`. */
export function isActiveAnywhere(map: ClusterMap, id: string): boolean {
  const index = map.nodes.findIndex((n) => n.id === id);
  return index >= 0 && map.runChains.some((c) => map.chains[c]![0] === index);
}

/** Times a registration reads the node's record again after a concurrent change, before giving up. */
const MAX_RECORD_RETRIES = 8;

export interface MembershipEvents {
  /** A heartbeat from node `id` was taken in (its report, if any, is in `replication`). */
  report: (id: string) => void;
}

/**
 * Node registration and liveness. A registered node gets a lease of `failoverAfterMs`
 * holding its liveness key; each heartbeat refreshes it. A node that goes silent loses
 * the key when the lease runs out, which every manager sees through its watch.
 * `report` is emitted once each heartbeat's report is taken in (the leader's waits look
 * again then).
 */
export class Membership extends EventEmitter<MembershipEvents> implements NodeReports {
  private readonly leases = new Map<string, CfgLease>();
  /** Each replicating node's last report (backfills under way, seqnos per unit), from heartbeats. */
  readonly replication = new Map<string, ReplicationState>();
  /**
   * Each node's last load report and when it arrived (ms since the epoch), for the
   * dashboard; `fencedAt`: when a report last said the node was fenced.
   */
  readonly load = new Map<string, NodeLoadReport & { at: number; fencedAt?: number }>();
  /** Rev of the map each node last reported applying, from heartbeats. */
  readonly appliedRev = new Map<string, number>();
  /** When each node last heartbeated here (ms, monotonic). */
  readonly heardAt = new Map<string, number>();
  /** Asks connected nodes for a heartbeat now; the manager sets it to its map service's. */
  reportRequester: (ids: readonly string[], ms: number) => Promise<Set<string>> = () => Promise.resolve(new Set());
  /** Heartbeats received since the start (`pandakv_manager_heartbeats_total`). */
  heartbeatsTotal = 0;

  constructor(
    private readonly cfg: Cfg,
    private readonly state: ClusterState,
    private readonly failoverAfterMs: number,
    private readonly isAutoAdd: boolean,
  ) {
    super();
  }

  /**
   * Record the node and start its lease. A new node (or a failed one that returns) is
   * 'active' at once when nodes are added automatically, else 'joining' until added.
   * @returns true when the node had been declared failed
   */
  async register(reg: NodeRegistration): Promise<boolean> {
    const existing = this.state.records.get(reg.id);
    // A node being failed over stays out until the promoted map is out: before that it
    // would take back units whose replicas are about to take over.
    if (existing?.state === 'failed' && this.state.map !== null && isActiveAnywhere(this.state.map, reg.id)) {
      throw KvError.unavailable('this node is being failed over; register again once the promoted map is out', { isSafeToRetry: true });
    }
    await this.writeRecord(reg, existing === undefined ? null : { record: existing, modRev: existing.modRev });
    const previous = this.leases.get(reg.id);
    const lease = await this.cfg.grantLease(this.failoverAfterMs);
    await this.cfg.put(liveKey(reg.id), Buffer.from(reg.address), { lease });
    this.leases.set(reg.id, lease);
    if (previous !== undefined && previous !== lease) void previous.revoke().catch(() => undefined);
    return existing?.state === 'failed';
  }

  /**
   * Store the registration's record over `current` (null: none known): a failed or new
   * node becomes 'active' or 'joining', any other keeps its state. Compare-and-set: when
   * the record changed meanwhile (an operator's add or failover), it is read again and the
   * state worked out from what is stored now, so a concurrent change is never overwritten.
   */
  private async writeRecord(reg: NodeRegistration, current: { record: NodeRecord; modRev: number } | null): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const existing = current?.record;
      const isNew = existing === undefined || existing.state === 'failed';
      const state = isNew ? (this.isAutoAdd ? 'active' : 'joining') : existing.state;
      const changed = existing === undefined || existing.address !== reg.address || existing.zone !== reg.zone
        || existing.weight !== reg.weight || existing.peerKey !== reg.peerKey || existing.state !== state;
      if (!changed) return;
      const r = await this.cfg.cas(nodeKey(reg.id), encodeRecord({ ...reg, state }), current?.modRev ?? 0);
      if (r.ok) return;
      if (attempt >= MAX_RECORD_RETRIES) throw KvError.unavailable(`node ${reg.id}'s record keeps changing; register again`, { isSafeToRetry: true });
      const stored = await this.cfg.get(nodeKey(reg.id));
      current = stored === null ? null : { record: decodeRecord(stored.value), modRev: stored.modRev };
    }
  }

  /** Refresh the node's lease; false when it has none here or it already expired. */
  async heartbeat(id: string, rev: number, repl?: ReplicationReport, load?: NodeLoadReport): Promise<boolean> {
    this.heartbeatsTotal++;
    this.appliedRev.set(id, rev);
    this.heardAt.set(id, performance.now());
    if (load !== undefined) {
      // A fence may last one heartbeat: keep when it was last reported, for the dashboard.
      const at = Date.now();
      const fencedAt = load.isFenced === true ? at : this.load.get(id)?.fencedAt;
      this.load.set(id, fencedAt === undefined ? { ...load, at } : { ...load, at, fencedAt });
    }
    if (repl !== undefined) {
      const seqnos: Record<number, number> = {};
      for (let i = 0; i + 1 < repl.seqnos.length; i += 2) seqnos[repl.seqnos[i]!] = repl.seqnos[i + 1]!;
      this.replication.set(id, { backfilling: repl.backfilling, seqnos, rev, copiedBytes: repl.copiedBytes ?? 0 });
    }
    this.emit('report', id);
    const lease = this.leases.get(id);
    if (lease === undefined || lease.isEnded) return false;
    // A node declared failed gets no renewal: its lease runs out, it fences itself, and the
    // leader promotes its replicas only after that (leader.ts, failNow).
    if (this.state.records.get(id)?.state === 'failed') {
      this.leases.delete(id);
      lease.stopKeepAlive();
      return false;
    }
    try {
      await lease.keepAlive();
      return true;
    } catch {
      this.leases.delete(id);
      return false;
    }
  }

  requestReports(ids: readonly string[], ms: number): Promise<Set<string>> {
    return this.reportRequester(ids, ms);
  }

  close(): void {
    for (const lease of this.leases.values()) lease.stopKeepAlive();
    this.leases.clear();
  }
}
