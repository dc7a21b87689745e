/**
 * What the dashboard pushes each tick, composed from the manager's state: node cards,
 * rebalance progress and the seqnos of followed units. Pure over the host, apart from the
 * per-node ops counters it remembers to turn cumulative counts into rates.
 */
import { chainOf } from '../../../shared/cluster-map.js';
import type { DashboardHost } from './contract.js';
import type { FeedFollow, FeedNode } from '../ui/feed-protocol.js';

interface OpsSample {
  ops: number;
  at: number;
  opsPerSec: number | null;
}

export class DashboardFeed {
  private readonly ops = new Map<string, OpsSample>();

  constructor(private readonly host: DashboardHost) {}

  /** Every known node with its liveness, replication state and load. */
  nodes(): FeedNode[] {
    const h = this.host;
    const out: FeedNode[] = [];
    for (const r of h.records.values()) {
      const repl = h.replication.get(r.id);
      const load = h.load.get(r.id) ?? null;
      out.push({
        id: r.id, address: r.address, zone: r.zone, weight: r.weight, state: r.state,
        isLive: h.live.has(r.id),
        appliedRev: h.appliedRev.get(r.id) ?? null,
        backfilling: repl === undefined ? null : repl.backfilling,
        copiedBytes: repl?.copiedBytes ?? 0,
        load,
        opsPerSec: load === null ? null : this.rate(r.id, load.ops, load.at),
      });
    }
    for (const id of this.ops.keys()) if (!h.records.has(id)) this.ops.delete(id);
    return out;
  }

  /**
   * The seqno each holder of `unit` last reported for it and, when `key` is given, the
   * size of the key's value each node last reported (see node-reports.ts).
   */
  follow(unit: number, key: string | null = null): FeedFollow {
    const h = this.host;
    const sizes = key === null ? undefined : h.keySizes?.sizesOf(Buffer.from(key, 'utf8'));
    const value = (id: string): FeedFollow['copies'][number]['value'] => {
      const v = sizes?.get(id);
      return v === undefined ? null : { bytes: v.bytes, at: v.at };
    };
    const copies: FeedFollow['copies'] = [];
    for (const r of h.records.values()) {
      // pandakv_node_unit_seqno: from the node's heartbeat report (replication/replicator.ts builds it).
      const seqno = h.replication.get(r.id)?.seqnos[unit];
      if (seqno !== undefined) copies.push({ id: r.id, seqno, value: value(r.id) });
    }
    // The chain's members come first even when they have not reported the unit yet.
    const map = h.map;
    if (map !== null && unit >= 0 && unit < 2 ** map.unitBits) {
      for (const m of chainOf(map, unit * 2 ** (map.bits - map.unitBits))) {
        const id = map.nodes[m]?.id;
        if (id !== undefined && !copies.some((c) => c.id === id)) copies.push({ id, seqno: null, value: value(id) });
      }
    }
    return { unit, key, copies };
  }

  private rate(id: string, ops: number, at: number): number | null {
    const prev = this.ops.get(id);
    if (prev === undefined) {
      this.ops.set(id, { ops, at, opsPerSec: null });
      return null;
    }
    if (at === prev.at) return prev.opsPerSec;
    // A restarted node counts from zero again: no rate for that interval.
    const opsPerSec = ops >= prev.ops && at > prev.at ? ((ops - prev.ops) * 1000) / (at - prev.at) : null;
    this.ops.set(id, { ops, at, opsPerSec });
    return opsPerSec;
  }
}
