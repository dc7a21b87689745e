import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PandaClient } from '../../sdk/index.js';
import { spawnDht, spawnNode, spawnPandakv, type Spawned } from '../../bin/spawn.js';
import { poll, withDeadline } from '../helpers/deadline.js';

const test = suite('integration - a ring without a manager (--redundancy, --ringnode)');

const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString());

/** Until `nodes` nodes are active, every unit has `copies` copies and no move is left. */
async function placed(db: PandaClient, nodes: number, copies: number): Promise<void> {
  await poll(async () => {
    const map = db.map;
    if (map === null || map.nodes.filter((n) => n.state === 'active').length < nodes || map.moves.length > 0) return null;
    if (!map.runChains.every((c) => map.chains[c]!.length === copies)) return null;
    await db.set('probe', 'x', { durability: 'majority', timeoutMs: 1000 });
    return true;
  }, 60_000, `${nodes} nodes with ${copies} copies of every unit`);
}

interface Ring {
  dir: string;
  dht: Spawned;
  /** Start a ring seed on `<dir>/seed`; resolves with the ring's map URL as its address. */
  seed(): Promise<Spawned>;
  /** Start a node that joins `ring` with --ringnode. */
  join(ring: string, name: string): Promise<Spawned>;
}

/** A temp dir and a DHT bootstrap for a ring; every process started is killed at the end. */
async function withRing(ms: number, body: (r: Ring) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-ring-'));
  const procs: Spawned[] = [];
  const started = async (p: Promise<Spawned>): Promise<Spawned> => {
    const s = await p;
    procs.push(s);
    return s;
  };
  try {
    const dht = await started(spawnDht());
    await withDeadline(body({
      dir,
      dht,
      seed: () => started(spawnPandakv(
        ['node', '--ip', '127.0.0.1', '--port', '0', '--insecure', '--redundancy', '2', '--data-dir', join(dir, 'seed'), '--dht', dht.address],
        /^pandakv node ring map at (http:\/\/\S+) /,
      )),
      join: (ring, name) => started(spawnNode(['--insecure', '--ringnode', ring, '--data-dir', join(dir, name), '--dht', dht.address])),
    }), ms, 'ring test');
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

test('a node given --redundancy 2 seeds a ring that another joins with --ringnode: majority writes, replica reads, failover, no manager process', () => withRing(120_000, async ({ seed: startSeed, join: joinRing }) => {
  const seed = await startSeed();
  const ring = seed.address;
  const member = await joinRing(ring, 'member');
  const db = await connect({ map: ring, timeoutMs: 3000 });
  try {
    await placed(db, 2, 2);
    const n = 300;
    for (let i = 0; i < n; i++) await db.set(`ring:${i}`, `v${i}`, { durability: 'majority' });
    // Every key has its second copy on the other node.
    for (let i = 0; i < n; i++) assert.is(text(await db.get(`ring:${i}`, { replica: true })), `v${i}`, `replica of ring:${i}`);
    const stats = await db.stats();
    assert.is(Object.keys(stats).length, 2);
    // Both nodes are active for some units and replica for others: each sent and applied records.
    for (const s of Object.values(stats)) {
      assert.ok(Number(s.repl_records_sent) > 0, `sent: ${JSON.stringify(s)}`);
      assert.ok(Number(s.repl_records_applied) > 0, `applied: ${JSON.stringify(s)}`);
    }
    // The member dies: the seed's map service fails it over (promote-only); every
    // acknowledged write is still readable.
    const t0 = Date.now();
    await member.stop('SIGKILL');
    await poll(async () => (db.map?.nodes.some((x) => x.address === member.address && x.state === 'failed') === true ? true : null), 30_000, 'member failed over');
    let read = 0;
    for (let i = 0; i < n; i++) {
      assert.is(text(await db.get(`ring:${i}`)), `v${i}`, `ring:${i} after failover`);
      read++;
    }
    process.stdout.write(`    (ring: member failed over ${Date.now() - t0} ms after SIGKILL; ${read} of ${n} majority writes read back)\n`);
  } finally {
    db.destroy();
  }
}));

test('a ring seed keeps its map in its data dir: restarted, it serves the same ring', () => withRing(60_000, async ({ seed }) => {
  const first = await seed();
  const db = await connect({ map: first.address, timeoutMs: 3000 });
  let id: string;
  let epoch: number;
  try {
    await poll(async () => (db.map !== null && db.map.nodes.length === 1 ? true : null), 20_000, 'seed placed');
    id = db.map!.nodes[0]!.id;
    epoch = db.map!.epoch;
  } finally {
    db.destroy();
  }
  await first.stop('SIGTERM');
  const again = await seed();
  const db2 = await connect({ map: again.address, timeoutMs: 3000 });
  try {
    await poll(async () => (db2.map !== null && db2.map.nodes.length === 1 && db2.map.nodes[0]!.state === 'active' ? true : null), 20_000, 'seed back');
    assert.is(db2.map!.nodes[0]!.id, id, 'the same node, from the same data dir');
    assert.ok(db2.map!.epoch >= epoch, 'the ring map carried on from where it was');
    await db2.set('after-restart', 'ok');
    assert.is(text(await db2.get('after-restart')), 'ok');
  } finally {
    db2.destroy();
  }
}));

test.run();
