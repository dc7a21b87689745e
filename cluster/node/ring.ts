import { KvError } from '../../shared/errors.js';
import { join } from 'node:path';
import { Manager } from '../manager/manager.js';
import type { NodeOptions } from './options.js';

/**
 * A ring: nodes that form a cluster without a separate manager process (DESIGN §6 seed
 * switches `--redundancy` and `--ringnode`). The first node, given `--redundancy R` and
 * no `--manager`, seeds it: it keeps the ring's map in its data dir and serves it, with
 * the manager's planner, moves and failover, from inside its own process. Other nodes
 * join with `--ringnode URL`, the map address the seed prints. See docs/replication.md.
 *
 * - `'seed'`: no `--manager`, no `--ringnode`, `--redundancy` above 1
 * - `'member'`: `--ringnode URL`
 * - `null`: managed (`--manager`) or alone (owns every bucket)
 */
export type RingRole = 'seed' | 'member' | null;

export function ringRole(o: Pick<NodeOptions, 'manager' | 'ringnode' | 'redundancy'>): RingRole {
  if (o.manager !== null) return null;
  if (o.ringnode !== null) return 'member';
  return o.redundancy > 1 ? 'seed' : null;
}

/** The map a node follows before it starts: `--manager` or `--ringnode` (a seed's is made at start). */
export function followedMapUrl(o: Pick<NodeOptions, 'manager' | 'ringnode'>): string | null {
  return o.manager ?? o.ringnode;
}

/** The node follows a map: a manager's, a ring's it joins, or the one it seeds. */
export function followsMap(o: Pick<NodeOptions, 'manager' | 'ringnode' | 'redundancy'>): boolean {
  return followedMapUrl(o) !== null || ringRole(o) === 'seed';
}

/** Checks of the ring switches. @throws RangeError with a one-line reason */
export function validateRingOptions(o: NodeOptions): void {
  if (o.manager !== null && o.ringnode !== null) throw KvError.invalidArgument('--ringnode and --manager exclude each other: a node follows one map');
  const role = ringRole(o);
  if (role === null) return;
  if (o.dht.length === 0) throw KvError.invalidArgument(`a ring (${role === 'seed' ? `--redundancy ${o.redundancy} without --manager` : '--ringnode'}) replicates over the peer plane: it needs --dht HOST:PORT`);
  if (role === 'seed' && o.dataDir === null) throw KvError.invalidArgument(`--redundancy ${o.redundancy} without --manager seeds a ring, whose map is kept in the data dir: it needs --data-dir DIR`);
}

/**
 * Start the seed's map service on the node's address (a free port): config in
 * `<data-dir>/ring-cfg.json`, its key in `<data-dir>/ring.key` (stable across restarts,
 * so clients that pin it keep working), the node's bucket count and redundancy.
 */
export function startRingSeed(o: NodeOptions): Promise<Manager> {
  const dir = o.dataDir!;
  return Manager.start({
    ip: o.ip,
    port: 0,
    cfg: `file:${join(dir, 'ring-cfg.json')}`,
    keyFile: join(dir, 'ring.key'),
    redundancy: o.redundancy,
    bits: Math.log2(o.buckets),
    isInsecure: o.isInsecure,
    // Ring members are given the peer plane's bootstrap; the seed names the same one.
    dht: o.dht,
    // The ring's planner logs its cluster events the way the node was told to.
    logFormat: o.logFormat,
    logWrite: o.logWrite,
  });
}
