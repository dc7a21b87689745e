import type { PandaClient } from '../../sdk/index.js';
import { bucketOf } from '../../shared/keystream.js';
import { chainOf, type ClusterMap } from '../../shared/cluster-map.js';
import { poll } from './deadline.js';

/** Until every node is placed with redundancy 2, backfills are done and a majority write goes through. */
export async function replicatedCluster(db: PandaClient, manager: string, nodes: number): Promise<void> {
  await poll(async () => {
    const map = db.map;
    if (map === null || map.nodes.filter((n) => n.state === 'active').length < nodes) return null;
    if (!map.runChains.every((c) => map.chains[c]!.length >= 2)) return null;
    const res = await fetch(`${manager}/api/rebalance`);
    const p = await res.json() as { isDone: boolean; moves: { isMoving: boolean } };
    if (!p.isDone || p.moves.isMoving) return null;
    await db.set('probe', 'x', { durability: 'majority', timeoutMs: 1000 });
    const stats = await db.stats();
    return Object.values(stats).every((s) => s.repl_backfilling === 0) ? true : null;
  }, 90_000, 'a replicated cluster');
}


/** `count` keys with `prefix` whose active in `map` is node `index`. */
export function keysOn(map: ClusterMap, index: number, prefix: string, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    if (chainOf(map, bucketOf(`${prefix}${i}`, map.bits))[0] === index) keys.push(`${prefix}${i}`);
  }
  return keys;
}

/** A value's sequence number: values are written as `<writer>:<seq>`; -1 for none. */
export const seqOf = (v: string | null): number => (v === null ? -1 : Number(v.slice(v.indexOf(':') + 1)));

/**
 * How a node's units caught up after it came back, from its `event=rollback` log lines:
 * rolled back to a point the active shares and sent the records after it, or copied in full.
 */
export function rollbackCounts(lines: readonly string[]): { deltaUnits: number; discarded: number; copiedUnits: number } {
  const out = { deltaUnits: 0, discarded: 0, copiedUnits: 0 };
  for (const line of lines) {
    if (!line.includes('event=rollback')) continue;
    const field = (name: string): number => Number(new RegExp(`\\b${name}=(\\d+)`).exec(line)?.[1] ?? 0);
    if (line.includes('how=delta')) {
      out.deltaUnits += field('units');
      out.discarded += field('discarded');
    } else out.copiedUnits += field('units');
  }
  return out;
}
