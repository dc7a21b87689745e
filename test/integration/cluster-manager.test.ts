import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { once } from 'node:events';
import { connect, type PandaClient, type ClusterMap } from '../../sdk/index.js';
import { CLI_PATH } from '../../bin/spawn.js';
import { encodeMessage, decodeResponses } from '../../shared/protocol/codec.js';
import { Op } from '../../shared/protocol/ops.js';
import { Status } from '../../shared/status.js';
import { withCluster } from '../helpers/cluster.js';
import { until, withDeadline } from '../helpers/deadline.js';

const run = promisify(execFile);
const test = suite('integration - manager, map service and routing by the live map');

/** Wait until the client's map satisfies `pred`. */
function mapWhere(db: PandaClient, pred: (m: ClusterMap) => boolean, ms: number, what: string): Promise<ClusterMap> {
  const now = db.map;
  if (now !== null && pred(now)) return Promise.resolve(now);
  return withDeadline(new Promise<ClusterMap>((resolve) => {
    const onMap = (m: ClusterMap): void => {
      if (!pred(m)) return;
      db.off('map', onMap);
      resolve(m);
    };
    db.on('map', onMap);
  }), ms, what);
}

const owners = (m: ClusterMap): Set<string> => new Set(m.runChains.map((c) => m.nodes[m.chains[c]![0]!]!.address));

async function cli(manager: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI_PATH, 'cluster', ...args, '--manager', manager], { timeout: 30_000 });
  return stdout;
}

test('nodes register, the map places every node, and the SDK routes by it', () => withCluster({ nodes: 3 }, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address });
  try {
    const map = await mapWhere(db, (m) => owners(m).size === 3, 10_000, 'three owners');
    assert.ok(map.epoch > 0);
    for (const n of nodes) assert.ok(owners(map).has(n.address));
    const keys = Array.from({ length: 2000 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((k) => db.set(k, k)));
    const values = await db.getMany(keys);
    assert.ok(values.every((v, i) => v !== null && Buffer.from(v).toString() === keys[i]));
    const perNode = Object.values(await db.stats()).map((s) => Number(s.items));
    assert.is(perNode.reduce((a, b) => a + b, 0), 2000);
    assert.ok(perNode.every((n) => n > 400), `balanced: ${perNode.join(',')}`);
    const r = db.route('k1');
    assert.is(r.epoch, map.epoch);
    assert.ok(nodes.some((n) => n.address === r.chain[0]));
  } finally {
    await db.close();
  }
}));

test('a node refuses a key it does not own with NOT_MY_BUCKET and its epoch, without executing it', () => withCluster({ nodes: 2 }, async ({ manager }) => {
  const db = await connect({ map: manager.address });
  try {
    const map = await mapWhere(db, (m) => owners(m).size === 2, 10_000, 'two owners');
    const route = db.route('victim');
    const other = map.nodes.find((n) => n.address !== route.chain[0])!;
    const ws = new WebSocket(other.address);
    await withDeadline(once(ws, 'open'), 5000, 'open');
    const reply = withDeadline(once(ws, 'message'), 5000, 'reply');
    ws.send(encodeMessage([[1, Op.SET, map.epoch, 'victim', 'x'], [2, Op.GET, map.epoch - 1, 'victim']]));
    const answers = decodeResponses((await reply)[0] as Buffer)!;
    ws.close();
    for (const a of answers) {
      assert.is(a.status, Status.NOT_MY_BUCKET);
      assert.is(a.extra?.epoch, map.epoch);
    }
    assert.is(await db.get('victim'), null, 'the refused write did not land anywhere');
  } finally {
    await db.close();
  }
}));

test('the SDK keeps working without errors while a node is added and another removed', () => withCluster({ nodes: 3, deadlineMs: 90_000 }, async ({ manager, nodes, addNode }) => {
  const db = await connect({ map: manager.address, timeoutMs: 10_000 });
  try {
    await mapWhere(db, (m) => owners(m).size === 3, 10_000, 'three owners');
    let ops = 0;
    const errors: string[] = [];
    let isRunning = true;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; isRunning || i < 2500; i++) {
        const key = `load:${w}:${i % 2500}`;
        try {
          await db.set(key, key);
          await db.get(key);
          ops += 2;
        } catch (err) {
          errors.push((err as { code?: string }).code ?? String(err));
        }
        if (!isRunning && i >= 2500) break;
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    const fourth = await addNode();
    await mapWhere(db, (m) => owners(m).has(fourth.address), 10_000, 'the fourth node owns units');
    await cli(manager.address, 'remove', nodes[0]!.address);
    await mapWhere(db, (m) => !owners(m).has(nodes[0]!.address), 10_000, 'the removed node owns nothing');
    isRunning = false;
    await Promise.all(workers);
    assert.equal(errors, []);
    assert.ok(ops >= 20_000, `ran ${ops} operations`);
  } finally {
    await db.close();
  }
}));

test('a node killed with SIGKILL is declared failed and its units are reassigned', () => withCluster({ nodes: 3, managerArgs: ['--failover-after-ms', '500'] }, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address });
  try {
    await mapWhere(db, (m) => owners(m).size === 3, 10_000, 'three owners');
    const victim = nodes[1]!;
    const downAt = Date.now();
    await victim.stop('SIGKILL');
    const map = await mapWhere(db, (m) => !owners(m).has(victim.address), 10_000, 'units reassigned');
    assert.is(map.nodes.find((n) => n.address === victim.address)?.state ?? 'failed', 'failed');
    // The lease runs from the last heartbeat (every 100 ms), so expiry is 400–500 ms after the kill.
    assert.ok(Date.now() - downAt >= 350, 'not before the lease of failoverAfterMs ran out');
    await db.set('after-failover', 'ok');
    assert.is(Buffer.from((await db.get('after-failover'))!).toString(), 'ok');
  } finally {
    await db.close();
  }
}));

test('with --no-auto-restore a failover keeps the promoted map until a rebalance restores the copies', () => withCluster({
  nodes: 3, managerArgs: ['--failover-after-ms', '500', '--redundancy', '2', '--no-auto-restore'],
}, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address });
  const fullChains = (m: ClusterMap): boolean => m.runChains.every((c) => m.chains[c]!.length === 2);
  try {
    await mapWhere(db, (m) => owners(m).size === 3 && fullChains(m), 10_000, 'three owners, two copies each');
    const victim = nodes[1]!;
    await victim.stop('SIGKILL');
    const promoted = await mapWhere(db, (m) => !owners(m).has(victim.address), 10_000, 'promote-only map');
    assert.not.ok(fullChains(promoted), 'the failed node\'s copies are not restored yet');
    const held = await (await fetch(`${manager.address}/api/rebalance`)).json() as { rev: number; isRestoreHeld: boolean };
    assert.ok(held.isRestoreHeld, 'the restore waits for an admin');
    assert.is(held.rev, db.map!.rev, 'no re-plan after the promotion');
    await db.set('held', 'ok');
    const res = await fetch(`${manager.address}/api/rebalance`, { method: 'POST' });
    assert.is(res.status, 200);
    const restored = await mapWhere(db, (m) => fullChains(m) && m.runChains.every((c) => !m.chains[c]!.some((i) => m.nodes[i]!.address === victim.address)), 10_000, 'copies restored');
    assert.ok(restored.rev > promoted.rev);
    const after = await (await fetch(`${manager.address}/api/rebalance`)).json() as { isRestoreHeld: boolean };
    assert.not.ok(after.isRestoreHeld);
  } finally {
    await db.close();
  }
}));

test('split doubles the buckets online under load, keeps every owner, and clients keep working', () => withCluster({ nodes: 2 }, async ({ manager }) => {
  const db = await connect({ map: manager.address, timeoutMs: 10_000 });
  try {
    const before = await mapWhere(db, (m) => owners(m).size === 2, 10_000, 'two owners');
    const keys = Array.from({ length: 500 }, (_, i) => `split:${i}`);
    await Promise.all(keys.map((k) => db.set(k, k)));
    const ownerBefore = keys.map((k) => db.route(k).chain[0]);
    let isRunning = true;
    let ops = 0;
    const errors: string[] = [];
    const load = async (w: number): Promise<void> => {
      for (let i = 0; isRunning; i++) {
        const k = `load:${w}:${i % 200}`;
        try {
          await db.set(k, 'x');
          await db.get(keys[i % keys.length]!);
          ops += 2;
        } catch (err) {
          errors.push((err as { code?: string }).code ?? String(err));
        }
      }
    };
    const workers = [0, 1, 2].map(load);
    const out = await cli(manager.address, 'split');
    assert.match(out, /split: map epoch/);
    const after = await mapWhere(db, (m) => m.bits === before.bits + 1, 10_000, 'split map');
    const opsAtSplit = ops;
    await until(() => ops > opsAtSplit + 500, 10_000, 'load continues after the split');
    isRunning = false;
    await Promise.all(workers);
    assert.equal(errors, [], 'no error reached the caller');
    assert.equal(keys.map((k) => db.route(k).chain[0]), ownerBefore);
    assert.ok(after.epoch >= before.epoch);
    const values = await db.getMany(keys);
    assert.ok(values.every((v) => v !== null), 'no data moved, nothing lost');
  } finally {
    await db.close();
  }
}));

test('pandakv cluster status lists the nodes and rejects unknown commands', () => withCluster({ nodes: 2 }, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address });
  try {
    await mapWhere(db, (m) => owners(m).size === 2, 10_000, 'two owners');
  } finally {
    await db.close();
  }
  const out = await cli(manager.address, 'status');
  for (const n of nodes) assert.ok(out.includes(n.address));
  assert.match(out, /active/);
  const bad = await run(process.execPath, [CLI_PATH, 'cluster', 'frobnicate', '--manager', manager.address]).catch((e: { code: number }) => e);
  assert.is((bad as { code: number }).code, 2);
  const missing = await run(process.execPath, [CLI_PATH, 'cluster', 'remove', 'no-such-node', '--manager', manager.address]).catch((e: { code: number; stderr: string }) => e);
  assert.is((missing as { code: number }).code, 1);
  assert.match((missing as { stderr: string }).stderr, /KV_ERR_NOT_FOUND/);
}));

test.run();
