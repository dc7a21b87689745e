import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDht, spawnManager, spawnNode, type Spawned } from '../../bin/spawn.js';
import { withDeadline } from './deadline.js';

export interface ClusterFixture {
  manager: Spawned;
  nodes: Spawned[];
  dir: string;
  /** The DHT bootstrap's `host:port` (`hasDht`), else null. */
  dht: string | null;
  /** Start another node registered with the manager. */
  addNode(extraArgs?: string[]): Promise<Spawned>;
}

export interface ClusterOptions {
  nodes?: number;
  managerArgs?: string[];
  nodeArgs?: string[];
  deadlineMs?: number;
  /** Run with authentication on (the caller passes credentials in nodeArgs). @default false */
  isSecure?: boolean;
  /** Runs before the manager starts (the file config store has one owner): add principals here. */
  setup?: (cfgUrl: string, dir: string) => Promise<void>;
  /** Extra node arguments that depend on the temp dir (credentials files written by `setup`). */
  nodeArgsFor?: (dir: string) => string[];
  /** Start a DHT bootstrap and give nodes `--dht` (replication over the peer plane). @default false */
  hasDht?: boolean;
  /**
   * Let the manager run its own peer-plane bootstrap and offer it to the nodes, which are
   * started without `--dht` (the way docs/operations.md starts a cluster). Otherwise,
   * without `hasDht`, the manager runs `--no-dht` and nodes do not replicate. @default false
   */
  hasManagerDht?: boolean;
  /**
   * The nodes' engine. The fixture gives every node a data dir, which makes `disk` the
   * node's default; tests written against the memory engine keep it. @default 'memory'
   */
  engine?: 'disk' | 'memory';
}

/**
 * A real cluster on loopback: a manager on a file config store in a temp dir and N
 * nodes registered with it. Runs `body` under a deadline and always tears everything
 * down in reverse order.
 */
export async function withCluster<T>(opts: ClusterOptions, body: (c: ClusterFixture) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-test-'));
  const procs: Spawned[] = [];
  let nodeIndex = 0;
  const insecure = opts.isSecure === true ? [] : ['--insecure'];
  try {
    await opts.setup?.(`file:${join(dir, 'cfg.json')}`, dir);
    const dhtArgs: string[] = [];
    let dhtAddress: string | null = null;
    const managerDht = opts.hasManagerDht === true ? [] : ['--no-dht'];
    if (opts.hasDht === true) {
      const dht = await spawnDht();
      procs.push(dht);
      dhtArgs.push('--dht', dht.address);
      dhtAddress = dht.address;
      managerDht.splice(0, managerDht.length, '--dht', dht.address);
    }
    const manager = await spawnManager(['--cfg', `file:${join(dir, 'cfg.json')}`, ...insecure, ...managerDht, ...(opts.managerArgs ?? [])]);
    procs.push(manager);
    const nodes: Spawned[] = [];
    const addNode = async (extra: string[] = []): Promise<Spawned> => {
      const n = await spawnNode(['--manager', manager.address, '--data-dir', join(dir, `node-${nodeIndex++}`), '--engine', opts.engine ?? 'memory', ...insecure, ...dhtArgs, ...(opts.nodeArgsFor?.(dir) ?? []), ...(opts.nodeArgs ?? []), ...extra]);
      procs.push(n);
      nodes.push(n);
      return n;
    };
    for (let i = 0; i < (opts.nodes ?? 3); i++) await addNode();
    return await withDeadline(body({ manager, nodes, dir, dht: dhtAddress, addNode }), opts.deadlineMs ?? 60_000, 'cluster test body');
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}
