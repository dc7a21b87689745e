import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_PATH, spawnNode } from '../../bin/spawn.js';
import { withCluster } from '../helpers/cluster.js';
import { poll, withDeadline } from '../helpers/deadline.js';
import { connect, type PandaClient } from '../../sdk/index.js';

const test = suite('integration - pandakv command line: version, usage errors, help, change commands');

async function runCli(args: string[], deadlineMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  try {
    const code = await withDeadline(new Promise<number | null>((resolve) => child.once('exit', resolve)), deadlineMs, `pandakv ${args.join(' ')}`);
    return { code, stdout, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

test('--version, -v and version print the package version and exit 0', async () => {
  for (const arg of ['--version', '-v', 'version']) {
    const r = await runCli([arg]);
    assert.is(r.code, 0, arg);
    assert.is(r.stdout, `pandakv ${version}\n`);
  }
});

/** Node's own parseArgs texts, which must never reach the user. */
const NODE_TEXTS = [/To specify/, /argument is ambiguous/, /positional/, /ERR_PARSE_ARGS/, /getaddrinfo/, /fetch failed/];

const usageErrors: Array<[string, string[], RegExp]> = [
  ['node', ['--memory-size', '-5'], /--memory-size needs a value; to give one that starts with "-", write --memory-size=-5/],
  ['node', ['--frobnicate'], /unknown switch --frobnicate/],
  ['node', ['--port'], /--port needs a value/],
  ['node', ['--insecure=yes'], /--insecure takes no value/],
  ['node', ['--ip', '999.1.1.1', '--insecure'], /--ip: cannot resolve "999\.1\.1\.1"/],
  ['node', ['--ip', 'bad host!', '--insecure'], /--ip: .* is not an IP address or host name/],
  ['manager', ['--ip', '999.1.1.1', '--insecure', '--no-dht'], /--ip: cannot resolve/],
  ['manager', ['-x'], /unknown switch -x/],
  ['proxy', ['--ip', '999.1.1.1', '--insecure', '--map', 'ws://127.0.0.1:9'], /--ip: cannot resolve/],
  ['proxy', ['--map', '-1'], /--map needs a value/],
  ['cluster', ['status', '--bogus'], /unknown switch --bogus/],
  ['cluster', ['status', '--manager', 'ftp://x'], /--manager must be http/],
  ['cluster', ['frobnicate'], /unknown cluster command/],
  ['cluster', ['status', '--credentials', '/nonexistent/creds.json'], /--credentials: /],
  ['user', ['add'], /user add needs a NAME/],
  ['user', ['add', '--roles', 'read'], /user add needs a NAME/],
  ['user', ['remove'], /user remove needs a NAME/],
  ['user', ['add', 'bob', '--roles', 'root'], /unknown role "root"/],
  ['user', ['list', '--cfg', 'gopher://x'], /--cfg: /],
  ['plan', ['--nodes'], /--nodes needs a value|unknown switch/],
];

/**
 * Every usage error's run, started together on the first case that asks (four at a time):
 * each is a process that parses its switches and exits, so most of its time is Node's start.
 */
let usageRuns: Array<Promise<Awaited<ReturnType<typeof runCli>>>> | null = null;
function usageRun(i: number): Promise<Awaited<ReturnType<typeof runCli>>> {
  if (usageRuns === null) {
    const slots = Array.from({ length: 4 }, () => Promise.resolve());
    usageRuns = usageErrors.map(([command, args], k) => {
      const run = slots[k % slots.length]!.then(() => runCli([command, ...args]));
      slots[k % slots.length] = run.then(() => undefined, () => undefined);
      return run;
    });
  }
  return usageRuns[i]!;
}

for (const [i, [command, args, expected]] of usageErrors.entries()) {
  test(`pandakv ${command} ${args.join(' ')}: exit 2 with one line in the project's words`, async () => {
    const r = await usageRun(i);
    assert.is(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.includes('WARNING'));
    assert.is(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^pandakv ${command}: `));
    assert.match(lines[0]!, expected);
    for (const t of NODE_TEXTS) assert.not.match(r.stderr, t);
  });
}

test('user list with a config file that does not exist says so and does not create it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-cli-'));
  try {
    const cfg = join(dir, 'missing', 'cfg.json');
    const r = await runCli(['user', 'list', '--cfg', `file:${cfg}`]);
    assert.is(r.code, 2);
    assert.match(r.stderr, /does not exist/);
    assert.is(existsSync(cfg), false);
    assert.is(existsSync(join(dir, 'missing')), false);
    const rm = await runCli(['user', 'remove', 'bob', '--cfg', `file:${cfg}`]);
    assert.is(rm.code, 2);
    assert.is(existsSync(cfg), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cluster <command> --help prints that command\'s usage and exits 0', async () => {
  for (const sub of ['status', 'events', 'add', 'remove', 'failover', 'split', 'rebalance', 'set']) {
    const r = await runCli(['cluster', sub, '--help']);
    assert.is(r.code, 0, sub);
    assert.match(r.stdout, new RegExp(`^Usage: pandakv cluster ${sub}\\b`));
  }
  const general = await runCli(['cluster', '--help']);
  assert.match(general.stdout, /^Usage: pandakv cluster <command>/);
  const none = await runCli(['cluster']);
  assert.is(none.code, 2);
});

test('an unreachable manager is named with the reason, not "fetch failed"', async () => {
  const port = await closedPort();
  const r = await runCli(['cluster', 'status', '--manager', `http://127.0.0.1:${port}`]);
  assert.is(r.code, 1);
  assert.is(r.stderr, `pandakv cluster: cannot reach the manager at http://127.0.0.1:${port}: connection refused\n`);
  // Port 1 is one fetch() refuses outright ("bad port"): still a plain refusal here.
  const one = await runCli(['cluster', 'status', '--manager', 'http://127.0.0.1:1']);
  assert.match(one.stderr, /cannot reach the manager at http:\/\/127\.0\.0\.1:1: connection refused/);
  const two = await runCli(['cluster', 'status', '--manager', `http://127.0.0.1:${port},http://127.0.0.1:1`]);
  assert.match(two.stderr, /cannot reach any manager \(http:\/\/127\.0\.0\.1:\d+: connection refused, http:\/\/127\.0\.0\.1:1: connection refused\)/);
});

test('a node whose manager cannot be reached says so on stderr, naming the manager and the reason', async () => {
  const port = await closedPort();
  const node = await spawnNode(['--insecure', '--engine', 'memory', '--manager', `http://127.0.0.1:${port}`]);
  try {
    assert.match(node.readyLine, /^pandakv node listening on ws:\/\/127\.0\.0\.1:\d+$/);
    const warned = new RegExp(`event=manager-error .*manager=ws://127\\.0\\.0\\.1:${port}/map error="connection refused" retrying=true`);
    const line = await poll(async () => node.stderr.find((l) => warned.test(l)) ?? null, 30_000, 'the unreachable manager reported');
    assert.match(line, warned);
  } finally {
    await node.stop('SIGKILL');
  }
});

test('a node given a comma list of managers starts and registers; cluster status takes a list too', () => withCluster({ nodes: 0 }, async ({ manager }) => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const node = await spawnNode(['--insecure', '--engine', 'memory', '--manager', `${dead},${manager.address}`]);
  try {
    await poll(async () => {
      const r = await runCli(['cluster', 'status', '--manager', `${dead},${manager.address}`]);
      return r.code === 0 && r.stdout.includes(node.address) ? true : null;
    }, 30_000, 'the node listed by the manager', 200);
  } finally {
    await node.stop('SIGKILL');
  }
}));

test('cluster add prints the map it starts from, follows the data moves to the end and prints the new epoch and rev', () => withCluster({
  nodes: 2, hasDht: true, deadlineMs: 180_000,
  managerArgs: ['--redundancy', '2', '--no-auto-add', '--moves-per-node', '4'],
}, async ({ manager, nodes, addNode }) => {
  // With --no-auto-add nothing is placed until an admin adds it: the first two, here.
  for (const n of nodes) {
    const first = await runCli(['cluster', 'add', n.address, '--manager', manager.address, '--timeout-ms', '60000'], 90_000);
    assert.is(first.code, 0, first.stderr);
    assert.match(first.stdout, /^add: done: map epoch \d+, rev \d+ applied by \d\/\d nodes; /m);
  }
  const db: PandaClient = await connect({ map: manager.address, timeoutMs: 10_000 });
  try {
    await poll(async () => {
      const map = db.map;
      if (map === null || map.nodes.filter((n) => n.state === 'active').length < 2) return null;
      if (!map.runChains.every((c) => map.chains[c]!.length >= 2)) return null;
      await db.set('probe', 'x', { durability: 'majority', timeoutMs: 2000 });
      return true;
    }, 60_000, 'a replicated cluster');
    for (let i = 0; i < 2000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => db.set(`cli:${i + j}`, 'v'.repeat(100))));
    // Copying in at 16 KiB/s, the new node's moves last long enough to be seen under way.
    const joined = await addNode(['--backfill-rate', '16']);
    await poll(async () => {
      const r = await runCli(['cluster', 'status', '--manager', manager.address]);
      return r.stdout.includes(joined.address) ? true : null;
    }, 30_000, 'the new node registered', 200);
    const adding = runCli(['cluster', 'add', joined.address, '--manager', manager.address, '--timeout-ms', '120000'], 150_000);
    // Meanwhile `cluster status` shows the moves in progress.
    const progress = /^rebalance: (\w+), (\d+) units moved, (\d+) left \((\d+) %\), [\d.]+ (B|kB|MB) copied$/m;
    const underWay = await poll(async () => {
      const s = await runCli(['cluster', 'status', '--manager', manager.address]);
      const m = progress.exec(s.stdout);
      return m !== null && m[1] !== 'idle' && Number(m[3]) > 0 ? m : null;
    }, 60_000, 'cluster status showing the moves under way', 200);
    process.stdout.write(`    (cluster status during the add: ${underWay[0]})\n`);
    assert.ok(Number(underWay[4]) < 100);
    const r = await adding;
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^add: map epoch \d+, rev \d+, \d+ unit moves$/m);
    const done = /^add: done: map epoch (\d+), rev (\d+) applied by 3\/3 nodes; (\d+) units moved, [\d.]+ (B|kB|MB) copied$/m.exec(r.stdout);
    assert.ok(done, r.stdout);
    assert.ok(Number(done[3]) > 0, 'units moved');
    const moving = r.stdout.split('\n').filter((l) => l.startsWith('moving: '));
    process.stdout.write(`    (cluster add: ${moving.length} progress lines; ${done[0]})\n`);
    for (const line of moving) {
      assert.match(line, /^moving: \d+\/\d+ units, [\d.]+ (B|kB|MB) copied, ETA (\?|\d+ s|\d+ min \d+ s)$/);
    }
    const status = await runCli(['cluster', 'status', '--manager', manager.address]);
    assert.match(status.stdout, /^rebalance: idle, \d+ units moved, 0 left \(100 %\), [\d.]+ (B|kB|MB) copied$/m);
    assert.match(status.stdout, new RegExp(`^map: epoch ${done[1]}, rev ${done[2]},`, 'm'));
    assert.ok(nodes.length === 3);
  } finally {
    await db.close();
  }
}));

test.run();
