import { performance } from 'node:perf_hooks';
import type { ClusterMap } from '../../../shared/cluster-map.js';
import { isUint, unitChains } from './records.js';

/*
 * The seqnos a handover answer carries (`{ t: 'ep', e, s: [unit, seqno, …] }`, takeover.ts):
 * how the answering node builds the list, how the asker reads it back.
 */

/**
 * The seqnos of units this node forgot when it left their chains, for a while: a previous
 * active that left a unit's chain at a switch drops the unit's history and data at once,
 * and its answer to the new active must still say how far the unit had got here.
 */
export class LeftSeqnos {
  private readonly left = new Map<number, { seq: number; at: number; unitBits: number }>();

  /** @param keepMs how long a seqno is kept: past the longest handover wait */
  constructor(private readonly keepMs: () => number, private readonly now: () => number = () => performance.now()) {}

  /** `unit` (of a map with `unitBits`) left this node at `seq`. */
  note(unit: number, seq: number, unitBits: number): void {
    this.left.set(unit, { seq, at: this.now(), unitBits });
  }

  /** The seqno `unit` left at, if it left lately, while units are the same size. */
  get(unit: number, unitBits: number): number | undefined {
    const x = this.left.get(unit);
    if (x === undefined) return undefined;
    if (this.now() - x.at <= this.keepMs() && x.unitBits === unitBits) return x.seq;
    this.left.delete(unit);
    return undefined;
  }

  /** Units kept now (old ones are dropped as they are looked at or noted). */
  get size(): number {
    return this.left.size;
  }

  /** Drop the seqnos kept longer than the keep time. */
  prune(): void {
    for (const [unit, x] of [...this.left]) this.get(unit, x.unitBits);
  }
}

/**
 * `[unit, seqno, …]`: this node's seqno (`seqs`, else the one it forgot the unit at: `left`)
 * of each unit that node `peer` (an index) is the active of in `map`.
 */
export function handedSeqnos(map: ClusterMap | null, peer: number, seqs: ReadonlyMap<number, number>, left: LeftSeqnos | null = null): number[] {
  const flat: number[] = [];
  if (map === null || peer < 0) return flat;
  for (const [unit, chain] of unitChains(map)) {
    if (chain[0] !== peer) continue;
    const seq = seqs.get(unit) ?? left?.get(unit, map.unitBits);
    if (seq !== undefined) flat.push(unit, seq);
  }
  return flat;
}

/** The `[unit, seqno, …]` list of an `ep`, by unit; null when it has none. */
export function seqnosOf(raw: unknown): Map<number, number> | null {
  if (!Array.isArray(raw)) return null;
  const out = new Map<number, number>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const unit: unknown = raw[i];
    const seq: unknown = raw[i + 1];
    if (isUint(unit) && isUint(seq)) out.set(unit, seq);
  }
  return out;
}
