import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { poll } from './deadline.js';

/** Where Debian's etcd-server puts the binary; PANDAKV_ETCD_BIN overrides it. */
export const ETCD_BIN = process.env['PANDAKV_ETCD_BIN'] ?? '/usr/bin/etcd';

/** A running etcd started by {@link withEtcd}. */
export interface EtcdFixture {
  /** `127.0.0.1:PORT` of the client listener. */
  endpoint: string;
  /** The same as a config store URL: `etcd://127.0.0.1:PORT`. */
  url: string;
  /** Process id of the current etcd process. */
  readonly pid: number;
  /** SIGKILL etcd and start it again on the same ports and data, waiting until it is healthy. */
  restart(): Promise<void>;
}

/** Options of {@link withEtcd}. */
export interface WithEtcdOptions {
  /** How long etcd may take to answer its health check. @default 20000 */
  startTimeoutMs: number;
  /** How long the body may run. @default 60000 */
  bodyTimeoutMs: number;
  /** The etcd binary. @default ETCD_BIN */
  bin: string;
}

const DEFAULTS: Readonly<WithEtcdOptions> = Object.freeze({ startTimeoutMs: 20_000, bodyTimeoutMs: 60_000, bin: ETCD_BIN });

/** A free port on 127.0.0.1: bind port 0, read it back, close. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not read back a free port');
  return address.port;
}

/**
 * Start a single-member etcd on 127.0.0.1 with free ports and a temporary data dir, wait
 * until it is healthy, run `fn`, and always kill etcd and remove the dir afterwards. Fails
 * (never skips) when the etcd binary is missing. Heartbeat and election timeouts are
 * shortened so etcd accepts 1 s leases (its minimum TTL derives from them).
 */
export async function withEtcd<T>(fn: (etcd: EtcdFixture) => Promise<T>, options: Partial<WithEtcdOptions> = {}): Promise<T> {
  const opts = { ...DEFAULTS, ...options };
  if (!existsSync(opts.bin)) {
    throw new Error(`etcd is not installed at ${opts.bin}: install Debian's etcd-server (apt-get install -y etcd-server) or set PANDAKV_ETCD_BIN`);
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'pandakv-etcd-'));
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const etcd = new EtcdProcess(opts, join(dataDir, 'data'), clientPort, peerPort);
  try {
    await etcd.start();
    const fixture: EtcdFixture = {
      endpoint: `127.0.0.1:${etcd.clientPort}`,
      url: `etcd://127.0.0.1:${etcd.clientPort}`,
      get pid() { return etcd.pid; },
      restart: () => etcd.restart(),
    };
    return await Promise.race([runWithDeadline(fn(fixture), opts.bodyTimeoutMs), etcd.crashed]);
  } finally {
    await etcd.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The etcd child process; `crashed` rejects when it exits without being asked to. */
class EtcdProcess {
  readonly crashed: Promise<never>;
  private child: ChildProcess | null = null;
  private stderr = '';
  private onCrash: (err: Error) => void = ignore;

  constructor(private readonly opts: WithEtcdOptions, private readonly dataDir: string, readonly clientPort: number, private readonly peerPort: number) {
    this.crashed = new Promise<never>((_, reject) => { this.onCrash = reject; });
    this.crashed.catch(ignore);
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  async start(): Promise<void> {
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const child = spawn(this.opts.bin, [
      '--name', 'pandakv-test',
      '--data-dir', this.dataDir,
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `pandakv-test=${peer}`,
      '--initial-cluster-state', 'new',
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      '--log-level', 'warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'], env: etcdEnv() });
    this.child = child;
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.stderr = (this.stderr + chunk).slice(-4000); });
    const early = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) => {
        const err = new Error(`etcd exited unexpectedly (code ${code}, signal ${signal}): ${this.stderr}`);
        reject(err);
        if (this.child === child) this.onCrash(err);
      });
      child.once('error', reject);
    });
    early.catch(ignore);
    await Promise.race([waitHealthy(this.clientPort, this.opts.startTimeoutMs), early]);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child !== null) await killAndWait(child);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

/** Our environment without ETCD_* variables, which etcd would read as flags. */
function etcdEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD_')) env[k] = v;
  return env;
}

async function waitHealthy(port: number, timeoutMs: number): Promise<void> {
  let last = 'no answer';
  await poll(async () => {
    last = await health(port).catch((err: Error) => err.message);
    return last === 'ok' ? true : null;
  }, timeoutMs, `etcd on port ${port} healthy`).catch(() => {
    throw new Error(`etcd on port ${port} not healthy within ${timeoutMs} ms (last answer: ${last})`);
  });
}

function health(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/health', timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => {
        resolve(res.statusCode === 200 && body.includes('"health":"true"') ? 'ok' : `${res.statusCode} ${body}`);
      });
    });
    req.on('timeout', () => req.destroy(new Error('health check timed out')));
    req.on('error', reject);
  });
}

async function runWithDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`etcd fixture body did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    return;
  }
  await gone;
}

function ignore(): void {
  // The early-exit promise only matters while someone races it.
}
