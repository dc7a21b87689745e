import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI_PATH, spawnManager, spawnNode, type Spawned } from '../../bin/spawn.js';
import { Manager } from '../../cluster/manager/manager.js';
import { DataNode } from '../../cluster/node/data-node.js';
import type { ClusterEvent } from '../../shared/event-log.js';
import { withCluster } from '../helpers/cluster.js';
import { withEtcd } from '../helpers/etcd.js';
import { poll } from '../helpers/deadline.js';

const run = promisify(execFile);
const test = suite('integration - cluster events');

interface EventsAnswer { events: ClusterEvent[]; total: number }

async function events(manager: string, query = ''): Promise<EventsAnswer> {
  const res = await fetch(`${manager}/api/events${query}`, { signal: AbortSignal.timeout(10_000) });
  assert.is(res.status, 200, `GET /api/events${query}`);
  return await res.json() as EventsAnswer;
}

/** Until the manager has recorded an event named `name` (optionally matching `where`). */
function eventSeen(manager: string, name: string, where: (e: ClusterEvent) => boolean = () => true): Promise<ClusterEvent> {
  return poll(async () => (await events(manager, '?limit=1000')).events.find((e) => e.name === name && where(e)) ?? null, 30_000, `event ${name}`);
}

/** Run `pandakv <args>` expecting it to fail; returns its exit code and stderr. */
async function failing(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [CLI_PATH, ...args], { timeout: 20_000 });
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? -1, stderr: e.stderr ?? '' };
  }
  throw new Error(`pandakv ${args.join(' ')} exited 0`);
}

test('the manager logs leadership, membership, epoch changes and a failover as greppable text lines', () => withCluster({
  nodes: 2, managerArgs: ['--failover-after-ms', '1000'],
}, async ({ manager, nodes }) => {
  const elected = await eventSeen(manager.address, 'leader-elected');
  assert.is(elected.component, 'manager');
  assert.is(elected.id, manager.address, 'lines carry the manager address as id');
  for (const n of nodes) await eventSeen(manager.address, 'node-join', (e) => e.fields['address'] === n.address);
  await eventSeen(manager.address, 'node-add');
  await eventSeen(manager.address, 'epoch-change');
  const victim = nodes[1]!;
  await victim.stop('SIGKILL');
  const failover = await eventSeen(manager.address, 'failover');
  const fail = await eventSeen(manager.address, 'node-fail');
  assert.is(failover.fields['node'], fail.fields['node']);
  assert.type(failover.fields['unitsPromoted'], 'number');
  assert.ok(Number(failover.fields['unitsPromoted']) + Number(failover.fields['unitsLost']) > 0, JSON.stringify(failover.fields));
  assert.ok(fail.seq < failover.seq, 'node-fail is logged before the failover it caused');
  const removed = await fetch(`${manager.address}/api/nodes/remove`, { method: 'POST', body: JSON.stringify({ node: fail.fields['node'] }) });
  assert.is(removed.status, 200, await removed.text());
  const drain = await eventSeen(manager.address, 'node-remove', (e) => e.fields['phase'] === 'drain');
  const done = await eventSeen(manager.address, 'node-remove', (e) => e.fields['phase'] === 'done');
  assert.is(drain.fields['from'], 'failed');
  assert.ok(drain.seq < done.seq && done.fields['node'] === fail.fields['node']);

  // Text lines on stderr, one per event, greppable by name.
  await poll(async () => (manager.stderr.some((l) => / event=failover /.test(l)) ? true : null), 10_000, 'failover line on stderr');
  const lines = manager.stderr.filter((l) => / event=/.test(l));
  for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z event=[a-z-]+ component=manager id=\S+( [A-Za-z0-9_.-]+=\S+)*/);
  for (const name of ['leader-elected', 'node-join', 'node-add', 'epoch-change', 'node-fail', 'failover', 'node-remove']) {
    assert.ok(lines.some((l) => l.includes(` event=${name} `)), `a ${name} line`);
  }

  // `cluster status` shows the recent events and the rebalance state; `cluster events` prints lines.
  const status = await run(process.execPath, [CLI_PATH, 'cluster', 'status', '--manager', manager.address]);
  assert.match(status.stdout, /^rebalance: idle, /m);
  assert.match(status.stdout, /^recent events:$/m);
  assert.match(status.stdout, / event=failover component=manager /);
  const listed = await run(process.execPath, [CLI_PATH, 'cluster', 'events', '--limit', '3', '--manager', manager.address]);
  assert.is(listed.stdout.trim().split('\n').length, 3);
  process.stdout.write(`    (${lines.length} event lines on stderr; failover promoted ${failover.fields['unitsPromoted']} units, lost ${failover.fields['unitsLost']})\n`);
}));

test('GET /api/events bounds its answer and refuses malformed queries with 400', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  await eventSeen(manager.address, 'epoch-change');
  const all = await events(manager.address, '?limit=1000');
  assert.ok(all.events.length >= 3 && all.events.length === all.total, `${all.events.length} of ${all.total}`);
  const seqs = all.events.map((e) => e.seq);
  assert.equal(seqs, [...seqs].sort((a, b) => a - b), 'oldest first');
  assert.is((await events(manager.address, '?limit=1')).events.length, 1);
  assert.is((await events(manager.address, '?limit=1')).events[0]!.seq, seqs[seqs.length - 1]);
  assert.is((await events(manager.address, '?limit=0')).events.length, 0);
  const big = await events(manager.address, '?limit=999999999');
  assert.is(big.events.length, big.total, 'a huge limit is capped at what is kept');
  const last = big.events[big.events.length - 1]!.seq;
  const newer = await events(manager.address, `?after=${last - 1}`);
  assert.ok(newer.events.length >= 1 && newer.events.every((e) => e.seq >= last), 'after= gives only newer events');
  assert.ok((await events(manager.address)).events.length <= 100, 'default limit');
  let refused = 0;
  for (const q of ['?limit=abc', '?limit=-1', '?limit=1.5', '?limit=1e3', '?limit=', '?limit=1&limit=2', '?after=x', `?limit=${'9'.repeat(5000)}`, '?limit=%00']) {
    const res = await fetch(`${manager.address}/api/events${q}`);
    const body = await res.json() as { error?: { code: string } };
    assert.is(res.status, 400, q.slice(0, 30));
    assert.is(body.error?.code, 'KV_ERR_BAD_REQUEST');
    refused++;
  }
  process.stdout.write(`    (${refused} malformed queries refused with 400; ${all.total} events served)\n`);
}));

test('GET /api/events needs an admin token on a secure manager', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-events-'));
  const lines: string[] = [];
  const manager = await Manager.start({ cfg: `file:${join(dir, 'cfg.json')}`, logWrite: (l) => lines.push(l), logFormat: 'json' });
  try {
    await manager.whenLeader(10_000);
    const res = await fetch(`${manager.address}/api/events`);
    assert.is(res.status, 401);
    assert.ok(manager.events.recent().some((e) => e.name === 'leader-elected'), 'the log is on manager.events');
    assert.ok(lines.map((l) => JSON.parse(l) as { event: string }).some((e) => e.event === 'leader-elected'), 'logWrite gets JSON lines');
  } finally {
    await manager.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a bad --log-format exits 2 with one line for the manager, the node and the proxy', async () => {
  const cases: string[][] = [
    ['manager', '--insecure', '--log-format', 'yaml'],
    ['node', '--insecure', '--log-format', 'JSON'],
    ['proxy', '--insecure', '--map', 'ws://127.0.0.1:1', '--log-format', ''],
    ['manager', '--insecure', '--log-format', 'text\nevent=forged'],
  ];
  for (const args of cases) {
    const { code, stderr } = await failing(args);
    assert.is(code, 2, args.join(' '));
    const out = stderr.trim().split('\n');
    assert.is(out.length, 1, stderr);
    assert.match(out[0]!, /--log-format must be text or json/);
  }
});

test('a node keeps its events on node.events, with its id once it has loaded it', async () => {
  const lines: string[] = [];
  const node = new DataNode({ isInsecure: true, logFormat: 'json', logWrite: (l) => lines.push(l) });
  try {
    await node.listen();
    assert.is(node.events.id, node.id);
    node.events.record('fence', { epoch: 3 });
    const line = JSON.parse(lines[0]!) as { event: string; component: string; id: string; fields: { epoch: number } };
    assert.equal([line.event, line.component, line.id, line.fields.epoch], ['fence', 'node', node.id, 3]);
  } finally {
    await node.close();
  }
});

test('with etcd, a new leader keeps a stopped rebalance stopped until it is resumed', () => withEtcd(async (etcd) => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-stop-etcd-'));
  const procs: Spawned[] = [];
  try {
    const args = ['--insecure', '--cfg', etcd.url, '--leader-lease-ms', '1500'];
    const a = await spawnManager(args);
    procs.push(a);
    const b = await spawnManager(args);
    procs.push(b);
    const lead = async (ms: number): Promise<Spawned> => poll(async () => {
      for (const m of procs) {
        if (m.child.exitCode !== null || m.child.signalCode !== null) continue;
        const s = await (await fetch(`${m.address}/api/status`, { signal: AbortSignal.timeout(3000) })).json() as { isLeader: boolean };
        if (s.isLeader) return m;
      }
      return null;
    }, ms, 'a leader');
    const first = await lead(10_000);
    procs.push(await spawnNode(['--insecure', '--manager', first.address, '--data-dir', join(dir, 'n1')]));
    const stop = await fetch(`${first.address}/api/rebalance/stop`, { method: 'POST' });
    assert.is(stop.status, 200);
    const stopped = await stop.json() as { stopped: boolean; warnings: string[] };
    assert.equal(stopped.warnings, [], 'the stopped flag was stored');
    await first.stop('SIGKILL');
    const second = await lead(15_000);
    assert.ok(second !== first);
    const p = await (await fetch(`${second.address}/api/rebalance`)).json() as { moves: { isStopped: boolean } };
    assert.ok(p.moves.isStopped, 'the new leader did not resume on its own');
    const resumed = await fetch(`${second.address}/api/rebalance`, { method: 'POST' });
    assert.is(resumed.status, 200);
    const after = await (await fetch(`${second.address}/api/rebalance`)).json() as { moves: { isStopped: boolean } };
    assert.not.ok(after.moves.isStopped);
    const names = (await events(second.address, '?limit=100')).events.map((e) => e.name);
    assert.ok(names.includes('leader-elected'), names.join(','));
    assert.equal(names.slice(-2), ['rebalance-resume', 'rebalance-finish'], 'nothing was left to move, so the resumed rebalance is finished');
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}));

test.run();
