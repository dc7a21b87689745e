import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PandaClient } from '../../sdk/index.js';
import { killSpawned, spawnDht, spawnManager, spawnNode, spawnProxy, type Spawned } from '../spawn.js';
import { parseCommandLine, numberArg, UsageError } from '../cli-util.js';
import { STOP_TIMEOUT_MS, StoppedError, type Shutdown } from '../shutdown.js';
import { runDemo } from '../demo.js';
import { openCfg } from '../../cluster/manager/cfg/open-cfg.js';
import { UserStore } from '../../cluster/manager/users.js';
import { loadCredentials, randomBytes, toHex, writeCredentials } from '../../shared/auth/index.js';

const UP_USAGE = `Usage: pandakv up [switches]

Starts a local cluster — a manager on a file config store, data nodes and a proxy —
runs a short demo workload against it with the SDK, and stays up until Ctrl-C.

  --nodes N        data nodes to start (default 3)
  --keys N         keys the demo writes and reads back (default 20000)
  --memory-size MB memory budget of each node (default 100)
  --data-dir DIR   where the config store and node identities live (default: a temp dir)
  --exit           stop after the demo instead of waiting for Ctrl-C
  --insecure       run every process without authentication
  --help           print this text
`;

/** `pandakv up`: what `npm start` runs. */
export async function upMain(argv: string[], shutdown: Shutdown): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    nodes: { type: 'string' },
    keys: { type: 'string' },
    'memory-size': { type: 'string' },
    'data-dir': { type: 'string' },
    exit: { type: 'boolean' },
    insecure: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(UP_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const nodeCount = numberArg(values, 'nodes', (n) => Number.isInteger(n) && n >= 1 && n <= 16) ?? 3;
  const keys = numberArg(values, 'keys', (n) => Number.isInteger(n) && n > 0) ?? 20_000;
  const memory = numberArg(values, 'memory-size', (n) => n > 0) ?? 100;
  const isTempDir = values['data-dir'] === undefined;
  const dir = isTempDir ? await mkdtemp(join(tmpdir(), 'pandakv-up-')) : String(values['data-dir']);

  // The children stop in parallel, each within its own stop time; what is left after
  // ours is killed by the exit handler below.
  shutdown.setStopTimeout(STOP_TIMEOUT_MS + 400);
  const stopped = shutdown.wait();
  const procs: Spawned[] = [];
  // A signal during start-up stops it at the current step; whatever that step still
  // starts is stopped when it comes up. If this process dies anyway, its children go too.
  const aborted = stopped.then((signal) => Promise.reject(new StoppedError(signal, 'starting the cluster')));
  aborted.catch(() => undefined);
  const started = async <T extends Spawned>(spawning: Promise<T>): Promise<T> => {
    const p = await Promise.race([spawning, aborted]).catch((err: Error) => {
      void spawning.then((late) => late.stop(), () => undefined);
      throw err;
    });
    procs.push(p);
    return p;
  };
  // Children still starting are not in `procs` yet: kill whatever was spawned.
  const killAll = (): void => killSpawned('SIGKILL');
  process.once('exit', killAll);
  let proxy: Spawned & { memcached: string | null };
  let db: PandaClient | null = null;
  const isInsecure = values.insecure === true;
  try {
    const cfgUrl = `file:${join(dir, 'cfg.json')}`;
    const dev = isInsecure ? null : await devCredentials(cfgUrl, dir);
    const secure = (file: string | undefined): string[] => (isInsecure ? ['--insecure'] : ['--credentials', file!]);
    // A local DHT bootstrap for the nodes' peer plane: replication, two copies of every item.
    const dht = await started(spawnDht());
    process.stdout.write(`dht       ${dht.address}  (peer-plane bootstrap, pid ${dht.pid})\n`);
    const manager = await started(spawnManager(['--cfg', cfgUrl, '--dht', dht.address, '--failover-after-ms', '3000', '--redundancy', String(Math.min(2, nodeCount)), '--key', join(dir, 'manager.key'), ...(isInsecure ? ['--insecure'] : [])]));
    process.stdout.write(`manager   ${manager.address}  (map at ${manager.address.replace('http', 'ws')}/map, pid ${manager.pid})\n`);
    const login = dev === null ? 'no login: --insecure' : `log in as ${dev.webUser} / ${dev.webPassword}`;
    process.stdout.write(`dashboard ${manager.address}/ui  (${login})\n`);
    for (let i = 0; i < nodeCount; i++) {
      const node = await started(spawnNode(['--manager', manager.address, '--data-dir', join(dir, `node-${i}`), '--memory-size', String(memory), '--dht', dht.address, ...secure(dev?.admin)]));
      process.stdout.write(`node      ${node.address}  (pid ${node.pid})\n`);
    }
    db = await Promise.race([connect({ map: manager.address, credentials: dev?.admin ?? null }), aborted]);
    // Each join moves data in batches (empty here, but each batch is a map round).
    await Promise.race([waitForNodes(db, nodeCount, 60_000), aborted]);
    proxy = await started(spawnProxy(['--map', manager.address, ...secure(dev?.admin)]));
    process.stdout.write(`proxy     ${proxy.address}  memcached ${proxy.memcached ?? 'off'}  (pid ${proxy.pid})\n`);
    await Promise.race([runDemo(db, keys), aborted]);
    const creds = dev === null ? '' : ` --credentials ${dev.admin}`;
    process.stdout.write(`\ntry:      npx pandakv cluster status --manager ${manager.address}${creds}\n`);
    if (proxy.memcached !== null) {
      const nc = `nc -q1 ${proxy.memcached.replace(':', ' ')}`;
      // A stock binary client too: libmemcached's tools log in with SASL PLAIN.
      const sasl = dev === null ? '' : ` --binary --username=${dev.memcachedUser} --password=${dev.memcachedPassword}`;
      if (dev === null) process.stdout.write(`          printf 'get demo:00000042\\r\\n' | ${nc}\n`);
      else {
        const auth = `${dev.memcachedUser} ${dev.memcachedPassword}`;
        process.stdout.write(`          printf 'set auth 0 0 ${Buffer.byteLength(auth)}\\r\\n${auth}\\r\\nget demo:00000042\\r\\n' | ${nc}\n`);
      }
      process.stdout.write(`          memccat --servers=${proxy.memcached}${sasl} demo:00000042   # libmemcached-tools (memcat on some systems)\n`);
    }
    if (dev !== null) process.stdout.write(`dev credentials (mode 0600): ${dev.admin}\n`);
    const exampleArgs = `${manager.address.replace('http', 'ws')}/map${dev === null ? '' : ` ${dev.admin}`}`;
    process.stdout.write(`examples: node dist/examples/get-set.js ${exampleArgs}\n          node dist/examples/scan.js ${exampleArgs}\n`);
    if (values.exit) return 0;
    process.stdout.write('Cluster is up. Press Ctrl-C to stop.\n');
    await stopped;
    return 0;
  } finally {
    await db?.close();
    await Promise.all(procs.map((p) => p.stop()));
    // One interrupted while starting is not in `procs`.
    killAll();
    process.off('exit', killAll);
    if (isTempDir) await rm(dir, { recursive: true, force: true });
  }
}

interface DevCredentials {
  /** Credentials file of `dev`, an admin principal the nodes, the proxy and the demo use. */
  admin: string;
  memcachedUser: string;
  memcachedPassword: string;
  /** An admin password principal for the dashboard's login form. */
  webUser: string;
  webPassword: string;
}

/**
 * Development principals, created in the config store before the manager starts (the
 * file store has one owner) and kept in 0600 files in the data dir; a second `up` on the
 * same dir reuses them.
 */
async function devCredentials(cfgUrl: string, dir: string): Promise<DevCredentials> {
  const admin = join(dir, 'dev.credentials.json');
  const mc = join(dir, 'dev-memcached.credentials.json');
  const web = join(dir, 'dev-web.credentials.json');
  const cfg = await openCfg(cfgUrl);
  try {
    const users = new UserStore(cfg);
    const existing = new Set((await users.list()).map((p) => p.name));
    if (!existing.has('dev')) writeCredentials(admin, (await users.add('dev', ['admin', 'read', 'write', 'scan'])).credentials);
    if (!existing.has('dev-memcached')) {
      const password = toHex(randomBytes(12));
      writeCredentials(mc, (await users.add('dev-memcached', ['read', 'write'], password)).credentials);
    }
    if (!existing.has('dev-web')) writeCredentials(web, (await users.add('dev-web', ['admin'], toHex(randomBytes(9)))).credentials);
  } finally {
    await cfg.close();
  }
  const mcCreds = loadCredentials(mc);
  const webCreds = loadCredentials(web);
  return {
    admin, memcachedUser: mcCreds.principal, memcachedPassword: mcCreds.kind === 'password' ? mcCreds.password : '',
    webUser: webCreds.principal, webPassword: webCreds.kind === 'password' ? webCreds.password : '',
  };
}

/** Wait until the map places units on `count` nodes. */
function waitForNodes(db: PandaClient, count: number, timeoutMs: number): Promise<void> {
  const placed = (): boolean => {
    const map = db.map;
    if (map === null) return false;
    const owners = new Set(map.runChains.map((c) => map.chains[c]![0]));
    return owners.size >= count;
  };
  if (placed()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      db.off('map', onMap);
      reject(new Error(`the map did not place all ${count} nodes within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMap = (): void => {
      if (!placed()) return;
      clearTimeout(timer);
      db.off('map', onMap);
      resolve();
    };
    db.on('map', onMap);
  });
}
