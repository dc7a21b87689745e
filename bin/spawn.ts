import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_FLAGS } from './server-flags.js';

/** Path of the compiled `pandakv` CLI. */
export const CLI_PATH = fileURLToPath(new URL('./pandakv.js', import.meta.url));

/** A running `pandakv` child process and the address it announced. */
export interface Spawned {
  child: ChildProcess;
  pid: number;
  address: string;
  /** The line that announced readiness. */
  readyLine: string;
  /** Lines the process printed to stderr (kept for error reports). */
  stderr: string[];
  /** Lines it printed to stdout up to and including the ready line (the first 200). */
  stdout: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Every child started here that has not exited, ready or not. */
const spawned = new Set<ChildProcess>();

/**
 * Kill every child started here that is still running, ready or still starting (for an
 * exit handler: a parent that exits leaves no orphan behind).
 */
export function killSpawned(signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const child of spawned) {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }
}

/**
 * Start `pandakv <args>` and resolve when it prints a line matching `ready`
 * (whose first capture group is the address), or reject at the deadline.
 */
export function spawnPandakv(
  args: string[], ready: RegExp, timeoutMs = 10_000, env: NodeJS.ProcessEnv = process.env, prefix: readonly string[] = [], nodeFlags: readonly string[] = [],
): Promise<Spawned> {
  // `prefix` runs the CLI under another command that execs it (e.g. `ip netns exec NS`), so the pid is the node's.
  // `nodeFlags` go to Node itself (e.g. `--cpu-prof`).
  const command = [...prefix, process.execPath, ...nodeFlags, CLI_PATH, ...args];
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
  spawned.add(child);
  child.once('exit', () => spawned.delete(child));
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (stderr.length < 200) stderr.push(line);
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return new Promise<Spawned>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop('SIGKILL');
      reject(new Error(`pandakv ${args[0]} not ready within ${timeoutMs} ms; stderr: ${stderr.join(' | ')}`));
    }, timeoutMs);
    const lines = createInterface({ input: child.stdout! });
    const stdout: string[] = [];
    const onLine = (line: string): void => {
      if (stdout.length < 200) stdout.push(line);
      const m = ready.exec(line);
      if (m === null) return;
      clearTimeout(timer);
      lines.off('line', onLine);
      resolve({ child, pid: child.pid!, address: m[1] ?? line, readyLine: line, stderr, stdout, stop });
    };
    lines.on('line', onLine);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`pandakv ${args[0]} exited with ${code} before it was ready; stderr: ${stderr.join(' | ')}`));
    });
  });
}

/**
 * Start a data node process; resolves with its `ws://` address. It runs with
 * `SERVER_NODE_FLAGS` and then `nodeFlags` (a later V8 flag overrides an earlier one).
 */
export function spawnNode(args: string[] = [], timeoutMs?: number, nodeFlags: readonly string[] = []): Promise<Spawned> {
  return spawnPandakv(['node', '--ip', '127.0.0.1', '--port', '0', ...args], /^pandakv node listening on (wss?:\/\/\S+)$/, timeoutMs, process.env, [], [...SERVER_NODE_FLAGS, ...nodeFlags]);
}

/** Start a manager process; resolves with its `http://` address. */
export function spawnManager(args: string[] = [], timeoutMs?: number, nodeFlags: readonly string[] = []): Promise<Spawned> {
  return spawnPandakv(['manager', '--ip', '127.0.0.1', '--port', '0', ...args], /^pandakv manager listening on (https?:\/\/\S+)$/, timeoutMs, process.env, [], nodeFlags);
}

/** Start a DHT bootstrap process (`pandakv dht`); resolves with its `host:port`. */
export function spawnDht(args: string[] = [], timeoutMs?: number): Promise<Spawned> {
  return spawnPandakv(['dht', '--ip', '127.0.0.1', '--port', '0', ...args], /^pandakv dht listening on (\S+:\d+)$/, timeoutMs);
}

/**
 * Start a proxy process; resolves with its `ws://` address and its memcached `host:port`.
 * Node flags as for `spawnNode`.
 */
export async function spawnProxy(args: string[] = [], timeoutMs?: number, nodeFlags: readonly string[] = []): Promise<Spawned & { memcached: string | null }> {
  let memcached: string | null = null;
  const p = await spawnPandakv(['proxy', '--ip', '127.0.0.1', '--port', '0', ...args], /^pandakv proxy listening on (wss?:\/\/\S+)(?: memcached (\S+))?$/, timeoutMs, process.env, [], [...SERVER_NODE_FLAGS, ...nodeFlags]);
  const m = /memcached (\S+)$/.exec(p.readyLine);
  if (m) memcached = m[1]!;
  return { ...p, memcached };
}
