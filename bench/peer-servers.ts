/**
 * The peer servers `pandakv bench peers` measures PandaKV against, started from the
 * Debian binaries (bench/setup-peers.sh installs them): a 3-master Redis Cluster and
 * twemproxy (nutcracker, ketama) in front of 3 memcached. Everything listens on
 * 127.0.0.1 on ports picked free; every process is stopped by its pid.
 */
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { spawnNode, type ChildHandle } from './processes.js';

/** Interval between two readiness probes of a starting server, ms. */
const PROBE_INTERVAL_MS = 50;

/** Absolute path of `bin` on the PATH (or in /usr/sbin, where Debian puts nutcracker); null when absent. */
export function findBinary(bin: string): string | null {
  // The name goes into a shell command line: program names only.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(bin)) return null;
  const r = spawnSync('sh', ['-c', `command -v ${bin} || { test -x /usr/sbin/${bin} && echo /usr/sbin/${bin}; }`], { encoding: 'utf8' });
  const path = r.status === 0 ? r.stdout.trim() : '';
  return path === '' ? null : path;
}

/**
 * A loopback port that was free a moment ago (the kernel picks it for a listener on
 * port 0, which is then closed). The peer servers cannot be told to listen on port 0
 * and report back, so this is the closest to it.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolve once 127.0.0.1:`port` accepts a connection; reject when `handle` exits first or at the deadline. */
export async function waitForPort(handle: ChildHandle, port: number, timeoutMs: number): Promise<void> {
  let hasExited = false;
  void handle.exited.then(() => {
    hasExited = true;
  });
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (hasExited) throw new Error(`${handle.name} (pid ${handle.pid}) exited before it listened: ${handle.stderrTail()}`);
    if (await canConnect(port)) return;
    if (performance.now() > deadline) throw new Error(`${handle.name} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS));
  }
}

/** A started peer server. */
export interface PeerServer {
  handle: ChildHandle;
  /** `127.0.0.1:port` */
  address: string;
  port: number;
}

async function startServer(name: string, command: string, args: string[], port: number, timeoutMs: number): Promise<PeerServer> {
  const handle = spawnNode({ name, command, args });
  handle.child.stdout?.resume();
  try {
    await waitForPort(handle, port, timeoutMs);
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return { handle, address: `127.0.0.1:${port}`, port };
}

/** Stop servers by pid, in reverse order of start. */
export async function stopServers(servers: readonly PeerServer[]): Promise<void> {
  for (const s of [...servers].reverse()) await s.handle.stop();
}

/** Binaries of the Redis contender. */
export interface RedisBinaries {
  server: string;
  cli: string;
}

/**
 * Start `count` redis-server masters in cluster mode (no persistence) and join them
 * with `redis-cli --cluster create … --cluster-yes`, which assigns the 16384 slots
 * evenly. Servers started before a failure are stopped before it is thrown.
 */
export async function startRedisCluster(bin: RedisBinaries, dir: string, count: number, timeoutMs: number): Promise<PeerServer[]> {
  const servers: PeerServer[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      const busPort = await freePort();
      servers.push(await startServer(`redis-server ${i + 1}`, bin.server, [
        '--bind', '127.0.0.1', '--port', String(port), '--cluster-enabled', 'yes', '--cluster-port', String(busPort),
        '--cluster-config-file', join(dir, `redis-nodes-${port}.conf`), '--dir', dir, '--save', '', '--appendonly', 'no',
        '--protected-mode', 'no', '--daemonize', 'no', '--loglevel', 'warning',
      ], port, timeoutMs));
    }
    const create = spawnSync(bin.cli, ['--cluster', 'create', ...servers.map((s) => s.address), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8', timeout: timeoutMs,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${(create.stderr || create.stdout || String(create.error)).trim().slice(-500)}`);
    await waitForClusterOk(bin.cli, servers, timeoutMs);
    return servers;
  } catch (err) {
    await stopServers(servers);
    throw err;
  }
}

/** Wait until every master reports `cluster_state:ok` (the slots have been agreed on). */
async function waitForClusterOk(cli: string, servers: readonly PeerServer[], timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const states = servers.map((s) => {
      const r = spawnSync(cli, ['-h', '127.0.0.1', '-p', String(s.port), 'cluster', 'info'], { encoding: 'utf8', timeout: timeoutMs });
      return /cluster_state:ok/.test(r.stdout ?? '');
    });
    if (states.every(Boolean)) return;
    if (performance.now() > deadline) throw new Error(`the Redis Cluster did not reach cluster_state:ok within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS));
  }
}

/** Binaries of the twemproxy contender. */
export interface TwemproxyBinaries {
  memcached: string;
  nutcracker: string;
}

/** The twemproxy contender: nutcracker first, then the memcached servers behind it. */
export interface TwemproxySet {
  proxy: PeerServer;
  memcached: PeerServer[];
  /** Every server, in order of start. */
  all: PeerServer[];
}

/** nutcracker's YAML configuration: one pool, ketama over `servers` (weight 1 each). */
export function twemproxyConfig(listen: string, servers: readonly string[]): string {
  return [
    'peers:',
    `  listen: ${listen}`,
    '  hash: fnv1a_64',
    '  distribution: ketama',
    '  timeout: 5000',
    '  backlog: 1024',
    '  preconnect: true',
    '  auto_eject_hosts: false',
    '  servers:',
    ...servers.map((s) => `   - ${s}:1`),
    '',
  ].join('\n');
}

/** One memcached with one worker thread (`-t 1`) on a free loopback port, TCP only. */
export async function startMemcached(bin: string, name: string, memoryMb: number, timeoutMs: number): Promise<PeerServer> {
  // memcached refuses to run as root unless told which user to be.
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const port = await freePort();
  return startServer(name, bin, ['-t', '1', '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', String(memoryMb), '-c', '4096', ...user], port, timeoutMs);
}

/**
 * Start `count` memcached (`-t 1`, one worker thread each) and nutcracker in front of
 * them, its configuration written to `dir`, its stats port picked free too.
 */
export async function startTwemproxy(bin: TwemproxyBinaries, dir: string, count: number, memoryMb: number, timeoutMs: number): Promise<TwemproxySet> {
  const all: PeerServer[] = [];
  try {
    for (let i = 0; i < count; i++) all.push(await startMemcached(bin.memcached, `memcached ${i + 1}`, memoryMb, timeoutMs));
    const memcached = [...all];
    const port = await freePort();
    const statsPort = await freePort();
    const conf = join(dir, 'nutcracker.yml');
    await writeFile(conf, twemproxyConfig(`127.0.0.1:${port}`, memcached.map((s) => s.address)));
    const proxy = await startServer('nutcracker', bin.nutcracker, [
      '-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', join(dir, 'nutcracker.log'), '-v', '4',
    ], port, timeoutMs);
    all.push(proxy);
    return { proxy, memcached, all };
  } catch (err) {
    await stopServers(all);
    throw err;
  }
}
