import { chainOf, type ClusterMap } from '../../../shared/cluster-map.js';
import type { KvEngine } from '../engine/types.js';

/** Shared pieces of replication (replicator.ts) and hinted handoff (handoff.ts). */

/** One replicated change: the item's state after a write, or its removal (`value` null). */
export type ReplRecord = [unit: number, seq: number, key: Uint8Array, value: Uint8Array | null, flags: number, expAt: number];

/** Largest replication or hint message body aimed for (the plane's frame limit is 8 MiB). */
export const MESSAGE_BYTES = 4 * 1024 * 1024;

/** Bytes a record takes, roughly, on the wire. */
export function recordBytes(r: ReplRecord): number {
  return r[2].length + (r[3]?.length ?? 0) + 32;
}

/** Split `items` into runs of at most `maxCount` items and about `maxBytes` bytes. */
export function* batches<T>(items: T[], maxBytes: number, maxCount: number, size: (t: T) => number): Generator<T[]> {
  if (items.length <= maxCount && items.length < 64 && items.every((t) => size(t) < maxBytes / 64)) {
    if (items.length > 0) yield items;
    return;
  }
  let batch: T[] = [];
  let bytes = 0;
  for (const t of items) {
    const n = size(t);
    if (batch.length > 0 && (batch.length >= maxCount || bytes + n > maxBytes)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(t);
    bytes += n;
  }
  if (batch.length > 0) yield batch;
}

export function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function isRecord(r: unknown): r is ReplRecord {
  return Array.isArray(r) && r.length === 6 && isUint(r[0]) && isUint(r[1]) && r[2] instanceof Uint8Array
    && (r[3] === null || r[3] instanceof Uint8Array) && isUint(r[4]) && isUint(r[5]);
}

/** A key's new state into `engine` (null: deleted). */
export function applyState(engine: KvEngine, key: string, value: Uint8Array | null, flags: number, expAt: number): void {
  if (value === null) engine.delete(key);
  else engine.set(key, value, flags, expAt);
}

/** Each unit's chain; with `unitBits` (not below the map's), of the units a map split that finely would have. */
export function unitChains(map: ClusterMap, unitBits = map.unitBits): Array<[number, readonly number[]]> {
  const out: Array<[number, readonly number[]]> = [];
  const units = 2 ** unitBits;
  const perUnit = 2 ** (map.bits - unitBits);
  for (let u = 0; u < units; u++) out.push([u, chainOf(map, u * perUnit)]);
  return out;
}

/** The chain of `unit` in `map`: the nodes holding it, active first (empty with no map or no such unit). */
function unitChain(map: ClusterMap | null, unit: number): readonly number[] {
  return map === null || unit >= 2 ** map.unitBits ? [] : chainOf(map, unit * 2 ** (map.bits - map.unitBits));
}

/** Whether node `self` holds `unit` in `map` (null: no map, nothing held); answers are kept in `memo`. */
export function holdsUnit(map: ClusterMap | null, self: number, unit: number, memo: Map<number, boolean>): boolean {
  let isHeld = memo.get(unit);
  if (isHeld === undefined) {
    isHeld = self >= 0 && unitChain(map, unit).includes(self);
    memo.set(unit, isHeld);
  }
  return isHeld;
}

/** The peer keys of the live nodes other than `self` that hold `unit` in `map`. */
export function copyHolders(map: ClusterMap | null, self: number, unit: number): string[] {
  const keys: string[] = [];
  for (const i of unitChain(map, unit)) {
    const node = map!.nodes[i];
    if (i !== self && node !== undefined && node.state !== 'failed' && node.peerKey !== null) keys.push(node.peerKey);
  }
  return keys;
}

/** True when `self` is `unit`'s active in `map`; `memo` keeps answers for one batch. */
export function isActiveOf(map: ClusterMap | null, self: number, unit: number, memo: Map<number, boolean>): boolean {
  let isActive = memo.get(unit);
  if (isActive === undefined) {
    isActive = self >= 0 && unitChain(map, unit)[0] === self;
    memo.set(unit, isActive);
  }
  return isActive;
}

export function unitsHeld(map: ClusterMap, self: number): Set<number> {
  const held = new Set<number>();
  for (const [unit, chain] of unitChains(map)) if (chain.includes(self)) held.add(unit);
  return held;
}

/** `[unit, seqno, …]` of the units `self` holds in `map` (every unit in `seqs` without a map), at most 65 536. */
export function heldSeqnos(map: ClusterMap | null, self: number, seqs: ReadonlyMap<number, number>): number[] {
  const flat: number[] = [];
  const held = map === null || self < 0 ? null : unitsHeld(map, self);
  for (const [unit, seq] of seqs) {
    if (held !== null && !held.has(unit)) continue;
    if (flat.length >= 2 * 65_536) break;
    flat.push(unit, seq);
  }
  return flat;
}

/** The active of `unit` in `previous`, as an index into `previous.nodes`, if it is still in `next`. */
export function previousActive(previous: ClusterMap, unit: number, next: ClusterMap): number {
  const perUnit = 2 ** (previous.bits - previous.unitBits);
  const idx = chainOf(previous, unit * perUnit)[0];
  if (idx === undefined) return -1;
  const node = previous.nodes[idx];
  return node !== undefined && next.nodes.some((n) => n.id === node.id && n.state !== 'failed') ? idx : -1;
}

/**
 * The units `self` holds a copy of in `map` and must fetch, by the peer to fetch them
 * from: the unit's active, or (when `self` is its new active) the previous one. Units in
 * `held` (this node had them before) and those it is copying already are left out.
 */
export function fetchSources(previous: ClusterMap | null, map: ClusterMap, self: number, held: ReadonlySet<number>, isCopying: (unit: number) => boolean): Map<string, number[]> {
  const bySource = new Map<string, number[]>();
  for (const [unit, chain] of unitChains(map)) {
    const at = chain.indexOf(self);
    if (at < 0 || held.has(unit) || isCopying(unit)) continue;
    const sourceIndex = at > 0 ? chain[0]! : previous === null ? -1 : previousActive(previous, unit, map);
    const source = sourceIndex < 0 ? null : (previous !== null && at === 0 ? previous : map).nodes[sourceIndex]?.peerKey ?? null;
    if (source === null || source === map.nodes[self]!.peerKey) continue;
    const list = bySource.get(source) ?? [];
    list.push(unit);
    bySource.set(source, list);
  }
  return bySource;
}

/** What a node's replication has done, for STATS (`repl_*`). */
export interface ReplicationCounters {
  recordsSent: number;
  recordsApplied: number;
  acksSent: number;
  majorityWaits: number;
  majorityTimeouts: number;
  backfills: number;
  backfillItems: number;
  backfillRetries: number;
  backfillBytes: number;
  gaps: number;
  /** Units brought up to date from the source's change log (delta recovery). */
  deltaUnits: number;
  /** Records received that way. */
  deltaRecords: number;
  /** Units this node (as source) sent a delta for through history restored from its disk, values read from the engine (restored-delta.ts). */
  deltaRestoredUnits: number;
  /** Units this node had data for that it had to copy in full (no common history with the source). */
  fullResyncs: number;
  /** Units rolled back to a point their active shares, then caught up by delta. */
  rollbackUnits: number;
  /** Records discarded by those rollbacks. */
  rollbackRecords: number;
  /** Hints this node holds now (fallback side). */
  hintsStored: number;
  /** Bytes of the hints this node holds now. */
  hintBytes: number;
  /** Records this node (as active) handed to a fallback as hints, and the fallback took. */
  hintsSent: number;
  /** Records that could reach neither their replica nor a fallback. */
  hintsDropped: number;
  /** Held hints that reached every node they were for (applied there, or found stale), then deleted. */
  hintsDelivered: number;
  /** Held hints dropped after the hint TTL. */
  hintsExpired: number;
  /** Hinted records this node applied as the receiver. */
  hintsApplied: number;
  /** Hinted records this node refused as the receiver because it had a newer seqno, or they came from an older map. */
  hintsStale: number;
  /** Replication records refused because their sender was failed over (epoch fencing). */
  staleRefused: number;
  /**
   * Records and hints refused because their sender wrote them under a newer map than the
   * one this node follows, which still names this node the unit's active.
   */
  aheadRefused: number;
  /** Records refused because the unit's new active had sent newer ones first (takeover.ts, `Handover.isLate`). */
  lateRefused: number;
  /** Units this node became the active of and held until their previous active handed them over (takeover.ts). */
  handoverWaits: number;
  /** Of those, units served without a handover once the wait ran out (the previous active could not be reached). */
  handoverTimeouts: number;
  /** Time units were held, ms, all units held so far together (whether handed over or released by the wait). */
  handoverHeldMs: number;
  /** Longest a unit was held, ms. */
  handoverHeldMsMax: number;
}

/** Every counter at zero. */
export function newReplicationCounters(): ReplicationCounters {
  return {
    recordsSent: 0, recordsApplied: 0, acksSent: 0, majorityWaits: 0, majorityTimeouts: 0, backfills: 0, backfillItems: 0, backfillRetries: 0, backfillBytes: 0, gaps: 0, deltaUnits: 0, deltaRecords: 0, deltaRestoredUnits: 0, fullResyncs: 0, rollbackUnits: 0, rollbackRecords: 0,
    hintsStored: 0, hintBytes: 0, hintsSent: 0, hintsDropped: 0, hintsDelivered: 0, hintsExpired: 0, hintsApplied: 0, hintsStale: 0, staleRefused: 0, aheadRefused: 0, lateRefused: 0, handoverWaits: 0, handoverTimeouts: 0, handoverHeldMs: 0, handoverHeldMsMax: 0,
  };
}
