import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_PATH, spawnDht, spawnManager, spawnNode, spawnProxy, type Spawned } from '../../bin/spawn.js';
import { withCluster } from '../helpers/cluster.js';
import { until, withDeadline } from '../helpers/deadline.js';
import { readFileSync, readdirSync } from 'node:fs';

const test = suite('integration - signals and exit codes of every process');

/** The issue's budget for obeying a signal; the wait allows for a loaded machine. */
const EXIT_DEADLINE_MS = 6000;

/** A `pandakv` process under test: its output lines and its exit. */
interface Run {
  child: ChildProcess;
  out: string[];
  err: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  /** Resolve at the first line (stdout or stderr) matching `re`. */
  line(re: RegExp, ms?: number): Promise<string>;
}

function run(args: string[]): Run {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  const err: string[] = [];
  const watchers: Array<{ re: RegExp; resolve: (line: string) => void }> = [];
  const onLine = (into: string[]) => (line: string): void => {
    into.push(line);
    for (const w of [...watchers]) {
      if (!w.re.test(line)) continue;
      watchers.splice(watchers.indexOf(w), 1);
      w.resolve(line);
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine(out));
  createInterface({ input: child.stderr! }).on('line', onLine(err));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, atMs: Date.now() }));
  });
  const line = (re: RegExp, ms = 20_000): Promise<string> => {
    const seen = [...out, ...err].find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return withDeadline(new Promise<string>((resolve) => watchers.push({ re, resolve })), ms, `line ${re}; stderr: ${err.join(' | ')}`);
  };
  return { child, out, err, exited, line };
}

/** Send `signal` and return the exit code, under the deadline; prints how long it took. */
async function stopWith(r: Run, signal: NodeJS.Signals, what: string): Promise<number | null> {
  const sentAt = Date.now();
  r.child.kill(signal);
  const { code, signal: by, atMs } = await withDeadline(r.exited, EXIT_DEADLINE_MS, `${what} exit after ${signal}`);
  console.log(`  ${what}: ${signal} -> exit ${code ?? by} after ${atMs - sentAt} ms`);
  return code;
}

function kill(r: Run): void {
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`a proxy waiting for its first map stops at ${signal} with exit 0 and says where it was`, async () => {
    const r = run(['proxy', '--ip', '127.0.0.1', '--port', '0', '--map', 'ws://127.0.0.1:1', '--insecure']);
    try {
      await r.line(/^pandakv proxy: waiting up to \d+ ms for a map from ws:\/\/127\.0\.0\.1:1$/);
      assert.is(await stopWith(r, signal, 'proxy waiting for a map'), 0);
      assert.ok(r.err.includes(`pandakv proxy: stopped by ${signal} while waiting for its first map from ws://127.0.0.1:1`), r.err.join('\n'));
      assert.is(r.out.length, 0, 'never announced itself ready');
    } finally {
      kill(r);
    }
  });
}

test('a proxy with no map by its deadline exits 1 with one clear line', async () => {
  const r = run(['proxy', '--ip', '127.0.0.1', '--port', '0', '--map', 'ws://127.0.0.1:1', '--insecure', '--ready-timeout-ms', '300']);
  try {
    const { code } = await withDeadline(r.exited, 20_000, 'proxy exit at its ready deadline');
    assert.is(code, 1);
    const reasons = r.err.filter((l) => l.startsWith('pandakv proxy: ') && !l.includes('WARNING') && !l.includes('waiting up to'));
    assert.equal(reasons, ['pandakv proxy: no map from ws://127.0.0.1:1 within 300 ms (--ready-timeout-ms); exiting']);
    console.log(`  proxy without a map: exit ${code}, ${reasons.length} reason line`);
  } finally {
    kill(r);
  }
});

test('a node given an unusable data dir exits at once with 2 and the reason, whatever its engine', async () => {
  for (const engine of ['disk', 'memory']) {
    const r = run(['node', '--ip', '127.0.0.1', '--port', '0', '--insecure', '--engine', engine, '--data-dir', '/proc/nope']);
    try {
      const { code } = await withDeadline(r.exited, 20_000, `node (${engine}) exit on /proc/nope`);
      assert.is(code, 2);
      assert.ok(r.err.some((l) => /^pandakv node: --data-dir: cannot use directory \/proc\/nope: .*ENOENT/.test(l)), r.err.join('\n'));
    } finally {
      kill(r);
    }
  }
});

test('unusable switches exit 2 with one line naming the switch, before anything starts', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['node', '--insecure', '--manager', 'ftp://127.0.0.1:1'], /^pandakv node: --manager: .*ftp/],
    [['node', '--insecure', '--manager', 'http://[nope'], /^pandakv node: --manager: .*not a URL/],
    [['node', '--insecure', '--manager', 'http://127.0.0.1:1,'], /^pandakv node: --manager: empty address/],
    [['node', '--insecure', '--idle-timeout-ms', '1.5'], /^pandakv node: --idle-timeout-ms: invalid value/],
    [['node', '--insecure', '--bogus'], /^pandakv node: unknown switch --bogus/],
    [['proxy', '--insecure', '--map', 'tcp://127.0.0.1:1'], /^pandakv proxy: --map: /],
    [['proxy', '--insecure', '--map', 'ws://127.0.0.1:1', '--max-connections', '0'], /^pandakv proxy: --max-connections: invalid value/],
    [['manager', '--insecure', '--cfg', 'file:/proc/nope/cfg.json'], /^pandakv manager: --cfg: cannot use directory/],
    [['manager', '--insecure', '--read-timeout-ms', 'soon'], /^pandakv manager: --read-timeout-ms: invalid value/],
    [['dht', '--port', '99999'], /^pandakv dht: --port: invalid value/],
  ];
  for (const [args, re] of cases) {
    const r = run(args);
    try {
      const { code } = await withDeadline(r.exited, 20_000, `exit of ${args.join(' ')}`);
      assert.is(code, 2, `${args.join(' ')}: ${r.err.join(' | ')}`);
      assert.ok(r.err.some((l) => re.test(l)), `${args.join(' ')}: ${r.err.join(' | ')}`);
    } finally {
      kill(r);
    }
  }
  console.log(`  ${cases.length} unusable command lines: exit 2 each`);
});

test('a node stops at a signal while starting and once running (with and without a reachable manager)', async () => {
  // Signalled right after its first line: starting, or just ready on a fast machine.
  const early = run(['node', '--ip', '127.0.0.1', '--port', '0', '--insecure']);
  try {
    await early.line(/WARNING: --insecure/);
    assert.is(await stopWith(early, 'SIGTERM', 'node starting'), 0);
  } finally {
    kill(early);
  }
  // A manager that is not there: the node listens and waits for its map.
  const waiting = run(['node', '--ip', '127.0.0.1', '--port', '0', '--insecure', '--manager', 'http://127.0.0.1:1']);
  try {
    await waiting.line(/^pandakv node listening on /);
    assert.is(await stopWith(waiting, 'SIGINT', 'node waiting for its manager'), 0);
  } finally {
    kill(waiting);
  }
  let node: Spawned | null = null;
  try {
    node = await spawnNode(['--insecure']);
    const code = await withDeadline(node.stop('SIGTERM'), EXIT_DEADLINE_MS, 'running node exit');
    assert.is(code, 0);
  } finally {
    await node?.stop('SIGKILL');
  }
});

test('a manager and a DHT bootstrap stop at SIGTERM and SIGINT with exit 0', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-signals-'));
  try {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const manager: Spawned = await spawnManager(['--insecure', '--cfg', `file:${join(dir, `cfg-${signal}.json`)}`]);
      try {
        assert.is(await withDeadline(manager.stop(signal), EXIT_DEADLINE_MS, `manager exit after ${signal}`), 0);
      } finally {
        await manager.stop('SIGKILL');
      }
      const dht = await spawnDht();
      try {
        assert.is(await withDeadline(dht.stop(signal), EXIT_DEADLINE_MS, `dht exit after ${signal}`), 0);
      } finally {
        await dht.stop('SIGKILL');
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a running proxy stops at SIGTERM with exit 0', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  const proxy = await spawnProxy(['--map', manager.address, '--insecure']);
  try {
    assert.is(await withDeadline(proxy.stop('SIGTERM'), EXIT_DEADLINE_MS, 'running proxy exit'), 0);
  } finally {
    await proxy.stop('SIGKILL');
  }
}));

test('pandakv up stops at a signal while starting its cluster, and leaves no child behind', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-signals-up-'));
  const r = run(['up', '--insecure', '--nodes', '1', '--keys', '10', '--data-dir', dir]);
  try {
    await r.line(/^dht /, 30_000);
    assert.is(await stopWith(r, 'SIGTERM', 'up starting'), 0);
    // Children, ready or still starting, carry the data dir on their command line.
    await until(() => processesMentioning(dir) === 0, 10_000, 'children of up gone');
    console.log(`  up: ${r.out.filter((l) => /pid \d+\)/.test(l)).length} children announced before the signal, 0 left after`);
  } finally {
    kill(r);
    await rm(dir, { recursive: true, force: true });
  }
});

/** Processes whose command line contains `text` (this machine's /proc). */
function processesMentioning(text: string): number {
  let n = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(text)) n++;
    } catch { /* gone meanwhile */ }
  }
  return n;
}

test.run();
