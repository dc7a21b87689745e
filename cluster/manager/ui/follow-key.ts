/**
 * Where a key lives in a map (DESIGN §2, §3): its bucket, unit, chain and, when its unit
 * is in motion, the move. The same keystream and routing the SDK uses, bundled for the page.
 */
import { chainOf, unitOf, type ClusterMap, type UnitMove } from '../../../shared/cluster-map.js';
import { bucketOf } from '../../../shared/keystream.js';

export interface KeyPlace {
  key: string;
  bucket: number;
  unit: number;
  epoch: number;
  rev: number;
  /** Node ids, active first. */
  chain: string[];
  move: (Omit<UnitMove, 'from' | 'to'> & { from: string; to: string }) | null;
}

/** Locate `key` in `map`. @throws KvError for a key the keystream refuses (empty, too long) */
export function locateKey(map: ClusterMap, key: string): KeyPlace {
  const bucket = bucketOf(key, map.bits);
  const unit = unitOf(map, bucket);
  const id = (i: number): string => map.nodes[i]?.id ?? `#${i}`;
  const m = map.moves.find((x) => x.unit === unit);
  return {
    key, bucket, unit, epoch: map.epoch, rev: map.rev,
    chain: chainOf(map, bucket).map(id),
    move: m === undefined ? null : { unit, from: id(m.from), to: id(m.to), phase: m.phase },
  };
}
