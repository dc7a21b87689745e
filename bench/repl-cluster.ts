/**
 * A replicated cluster for the `rebalance` and `failover` benches: a DHT bootstrap, a
 * manager with redundancy 2 and N nodes, all on 127.0.0.1 port 0 and all `--insecure`.
 * Every process is ours and is stopped by its handle (pid) in `close()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDht, spawnManager, spawnNode, type Spawned } from '../bin/spawn.js';
import { connect, type ClusterMap, type PandaClient } from '../sdk/index.js';

export type Client = PandaClient<Uint8Array | string, Uint8Array>;

export interface ReplClusterOptions {
  nodes: number;
  /** Extra manager switches, e.g. `--failover-after-ms`. */
  managerArgs: string[];
  /** Engine budget of each node, MB. */
  nodeMemoryMb: number;
  spawnTimeoutMs: number;
  /** Extra switches of every node, e.g. `--engine memory`. @default [] */
  nodeArgs?: readonly string[];
}

export interface ReplCluster {
  manager: Spawned;
  nodes: Spawned[];
  /** Start one more node registered with the manager (it is placed automatically). */
  addNode(): Promise<Spawned>;
  /** One line per process: exit state and the last stderr line (for failure reports). */
  describe(): string;
  /** Stop every process in reverse start order and remove the temp dir. */
  close(): Promise<void>;
}

export async function startReplCluster(o: ReplClusterOptions): Promise<ReplCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-bench-repl-'));
  const procs: Spawned[] = [];
  const close = async (): Promise<void> => {
    for (const p of [...procs].reverse()) await p.stop('SIGTERM').catch(() => null);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const dht = await spawnDht([], o.spawnTimeoutMs);
    procs.push(dht);
    const manager = await spawnManager(['--insecure', '--dht', dht.address, '--cfg', `file:${join(dir, 'cfg.json')}`, '--redundancy', '2', ...o.managerArgs], o.spawnTimeoutMs);
    procs.push(manager);
    const nodes: Spawned[] = [];
    let index = 0;
    const addNode = async (): Promise<Spawned> => {
      const n = await spawnNode([
        '--insecure', '--manager', manager.address, '--dht', dht.address, '--data-dir', join(dir, `n${index++}`), '--memory-size', String(o.nodeMemoryMb), '--no-warm-restart',
        ...(o.nodeArgs ?? []),
      ], o.spawnTimeoutMs);
      procs.push(n);
      nodes.push(n);
      return n;
    };
    for (let i = 0; i < o.nodes; i++) await addNode();
    const describe = (): string => procs.map((p) => {
      const state = p.child.exitCode !== null ? `exited ${p.child.exitCode}` : p.child.signalCode !== null ? `killed ${p.child.signalCode}` : 'running';
      return `${p.address} (pid ${p.pid}) ${state}: ${p.stderr.slice(-2).join(' | ')}`;
    }).join('\n');
    return { manager, nodes, addNode, describe, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** An SDK client on the manager's map with room for `inflight` requests per lane. */
export function connectRepl(manager: string, o: { inflight: number; timeoutMs: number; durability?: 'none' | 'majority' }): Promise<Client> {
  return connect({
    map: manager, timeoutMs: o.timeoutMs, connectTimeoutMs: Math.min(o.timeoutMs, 2000), maxInFlightPerLane: Math.max(1024, o.inflight),
    durability: o.durability ?? 'none',
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every `everyMs` until it returns non-null; reject at the deadline. */
export async function pollUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | null> | T | null, everyMs = 100): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== null) return v;
    if (performance.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** Active nodes in the map. */
export function activeNodeCount(map: ClusterMap | null): number {
  return map === null ? 0 : map.nodes.filter((n) => n.state === 'active').length;
}

/** Nodes that are the active copy of some unit: placed, not only listed (moves place nodes in batches). */
export function placedNodeCount(map: ClusterMap | null): number {
  return map === null ? 0 : new Set(map.runChains.map((c) => map.chains[c]?.[0])).size;
}

/** Until `nodes` nodes are placed, every chain has two copies and a majority write goes through. */
export async function waitReplicated(db: Client, nodes: number, timeoutMs: number): Promise<void> {
  await pollUntil(`a replicated cluster of ${nodes} nodes`, timeoutMs, async () => {
    const map = db.map;
    if (map === null || activeNodeCount(map) < nodes || placedNodeCount(map) < nodes) return null;
    if (!map.runChains.every((c) => (map.chains[c]?.length ?? 0) >= 2)) return null;
    try {
      await db.set('bench:probe', 'x', { durability: 'majority', timeoutMs: 1000 });
      return true;
    } catch {
      return null;
    }
  }, 200);
}

/** Sum of a numeric STATS field over every node that answered. */
export function sumStat(stats: Record<string, Record<string, number | string>>, field: string): number {
  let sum = 0;
  for (const s of Object.values(stats)) {
    const v = s[field];
    if (typeof v === 'number') sum += v;
  }
  return sum;
}

/** Until no node reports a running backfill. */
export async function waitIdle(db: Client, timeoutMs: number): Promise<void> {
  await pollUntil('backfills done', timeoutMs, async () => {
    const stats = await db.stats({ timeoutMs: 2000 }).catch(() => null);
    if (stats === null) return null;
    return Object.values(stats).every((s) => s.repl_backfilling === 0) ? true : null;
  }, 200);
}

/** The manager's `/api/rebalance`: `applied`/`total` count nodes at map `rev`; `moves` the units. */
export interface RebalanceProgress {
  rev: number;
  applied: number;
  total: number;
  isDone: boolean;
  moves?: { unitsMoved: number; unitsLeft: number };
}

/** `GET /api/rebalance` on an `--insecure` manager. */
export async function rebalanceProgress(manager: string): Promise<RebalanceProgress | null> {
  try {
    const res = await fetch(`${manager.replace(/\/$/, '')}/api/rebalance`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return null;
    return await res.json() as RebalanceProgress;
  } catch {
    return null;
  }
}

/** Error text with its code, as the workload prints it. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
