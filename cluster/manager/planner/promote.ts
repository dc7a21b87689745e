/**
 * Failover without data movement (DESIGN §5): every unit whose active failed is taken
 * over by its most up-to-date surviving replica. Nothing is copied and no copy is added;
 * a later plan() restores redundancy.
 */
import type { ClusterMap } from '../../../shared/cluster-map.js';

/** Replica seqnos as reported by the nodes: `seqnos[nodeId][unit]`; missing = 0. */
export type UnitSeqnos = Record<string, Record<number, number>>;

class RunBuilder {
  readonly chains: number[][] = [];
  readonly runStarts: number[] = [];
  readonly runChains: number[] = [];
  private readonly index = new Map<string, number>();

  add(start: number, chain: number[]): void {
    const key = chain.join(',');
    let at = this.index.get(key);
    if (at === undefined) {
      at = this.chains.length;
      this.chains.push(chain);
      this.index.set(key, at);
    }
    if (this.runChains[this.runChains.length - 1] === at) return;
    this.runStarts.push(start);
    this.runChains.push(at);
  }
}

/**
 * A promote-only map: failed nodes leave every chain, and for each unit whose active is
 * in `failedIds` the surviving replica with the highest seqno (first in the chain on a
 * tie) becomes active. Units with no surviving replica keep their failed active and are
 * reported in `lostUnits`. Epoch and rev both rise.
 */
export function promoteOnly(previous: ClusterMap, failedIds: ReadonlySet<string>, seqnos: UnitSeqnos = {}): { map: ClusterMap; lostUnits: number[] } {
  const nodes = previous.nodes.map((n) => (failedIds.has(n.id) ? { ...n, state: 'failed' as const } : { ...n }));
  const isFailed = nodes.map((n) => failedIds.has(n.id));
  const unitSize = 2 ** (previous.bits - previous.unitBits);
  const total = 2 ** previous.bits;
  const seqno = (node: number, unit: number): number => seqnos[nodes[node]!.id]?.[unit] ?? 0;
  const out = new RunBuilder();
  const lost: number[] = [];
  for (let i = 0; i < previous.runStarts.length; i++) {
    const start = previous.runStarts[i]!;
    const end = i + 1 < previous.runStarts.length ? previous.runStarts[i + 1]! : total;
    const chain = previous.chains[previous.runChains[i]!] ?? [];
    const survivors = chain.slice(1).filter((m) => !isFailed[m]);
    if (chain.length === 0 || !isFailed[chain[0]!]) {
      out.add(start, chain.filter((m) => !isFailed[m]));
      continue;
    }
    for (let at = start; at < end;) {
      const unit = Math.floor(at / unitSize);
      const next = Math.min(end, (unit + 1) * unitSize);
      let best = -1;
      for (const m of survivors) if (best < 0 || seqno(m, unit) > seqno(best, unit)) best = m;
      if (best < 0) {
        if (lost[lost.length - 1] !== unit) lost.push(unit);
        out.add(at, [chain[0]!]);
      } else {
        out.add(at, [best, ...survivors.filter((m) => m !== best)]);
      }
      at = next;
    }
  }
  const failedIndexes = new Set(nodes.flatMap((_, i) => (isFailed[i] ? [i] : [])));
  const map: ClusterMap = {
    epoch: previous.epoch + 1,
    rev: previous.rev + 1,
    bits: previous.bits,
    unitBits: previous.unitBits,
    nodes,
    chains: out.chains,
    runStarts: out.runStarts,
    runChains: out.runChains,
    moves: previous.moves.filter((m) => !failedIndexes.has(m.from) && !failedIndexes.has(m.to)).map((m) => ({ ...m })),
  };
  return { map, lostUnits: lost };
}
