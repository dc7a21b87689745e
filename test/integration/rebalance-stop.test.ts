import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect, type PandaClient } from '../../sdk/index.js';
import { join } from 'node:path';
import { CLI_PATH, spawnManager, type Spawned } from '../../bin/spawn.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';

const run = promisify(execFile);
const test = suite('integration - rebalance stop and resume');

interface Moves { isMoving: boolean; isStopped: boolean; unitsMoved: number; unitsLeft: number; batches: number }
interface Progress { rev: number; isDone: boolean; moves: Moves }

async function progress(manager: string): Promise<Progress> {
  const res = await fetch(`${manager}/api/rebalance`);
  return await res.json() as Progress;
}

async function heartbeats(manager: string): Promise<number> {
  const text = await (await fetch(`${manager}/metrics`)).text();
  const m = /^pandakv_manager_heartbeats_total (\d+)$/m.exec(text);
  assert.ok(m, 'the manager counts heartbeats');
  return Number(m[1]);
}

function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI_PATH, 'cluster', ...args], { timeout: 150_000 });
}

/** Until the map places `nodes` nodes with two copies of every unit and a majority write goes through. */
async function replicated(db: PandaClient, nodes: number): Promise<void> {
  await poll(async () => {
    const map = db.map;
    if (map === null || map.nodes.filter((n) => n.state === 'active').length < nodes) return null;
    if (!map.runChains.every((c) => map.chains[c]!.length >= 2)) return null;
    await db.set('probe', 'x', { durability: 'majority', timeoutMs: 1000 });
    return true;
  }, 60_000, 'a replicated cluster');
}

const KEYS = 4000;
const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString());

test('a stopped rebalance moves nothing more, leaves no unit half-moved, and finishes with every key when resumed', () => withCluster({
  nodes: 2, hasDht: true, deadlineMs: 240_000,
  managerArgs: ['--redundancy', '2', '--failover-after-ms', '2500', '--moves-per-node', '16', '--log-format', 'json'],
}, async ({ manager, addNode }) => {
  const db = await connect({ map: manager.address, timeoutMs: 5000 });
  try {
    await replicated(db, 2);
    for (let i = 0; i < KEYS; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => db.set(`rs:${i + j}`, `v${i + j}`, { durability: 'majority' })));
    }
    const joined = await addNode();
    // Stop once a batch has been switched and more are to come.
    const before = await poll(async () => {
      const p = await progress(manager.address);
      return p.moves.isMoving && p.moves.unitsMoved > 0 && p.moves.unitsLeft > 0 ? p : null;
    }, 60_000, 'a rebalance under way', 20);
    // The new node gains a copy of every unit that moves: paused, it cannot report a staged
    // batch caught up, so the stop finds a batch in flight and must roll it back.
    process.kill(joined.pid, 'SIGSTOP');
    let isPaused = true;
    try {
      let lastRev = -1;
      await poll(async () => {
        const st = await (await fetch(`${manager.address}/api/status`)).json() as { map: { rev: number; moves: number } };
        const isStuck = st.map.moves > 0 && st.map.rev === lastRev;
        lastRev = st.map.rev;
        return isStuck ? true : null;
      }, 30_000, 'a staged batch waiting for the paused node', 300);
      const asked = performance.now();
      const res = await fetch(`${manager.address}/api/rebalance/stop`, { method: 'POST' });
      const answeredMs = performance.now() - asked;
      const body = await res.json() as { stopped: boolean; batch: string; rolledBackUnits: number };
      assert.is(res.status, 200);
      assert.is(body.batch, 'rolled-back');
      assert.ok(body.rolledBackUnits > 0, `units rolled back: ${body.rolledBackUnits}`);
      process.stdout.write(`    (stop: batch ${body.batch}, ${body.rolledBackUnits} units rolled back, answered in ${answeredMs.toFixed(0)} ms on a loaded machine)\n`);
    } finally {
      if (isPaused) process.kill(joined.pid, 'SIGCONT');
      isPaused = false;
    }
    // Asking again changes nothing.
    const stop = await cli(['rebalance', '--stop', '--manager', manager.address]);
    assert.match(stop.stdout, /^rebalance stopped: no batch in flight; \d+ units moved, \d+ left$/m);

    const stopped = await progress(manager.address);
    assert.ok(stopped.moves.isStopped, 'progress says stopped');
    assert.not.ok(stopped.moves.isMoving, 'the move loop let go');
    assert.ok(stopped.moves.unitsLeft > 0, `units left: ${stopped.moves.unitsLeft}`);
    assert.ok(stopped.moves.unitsMoved >= before.moves.unitsMoved);
    const status = await (await fetch(`${manager.address}/api/status`)).json() as { map: { rev: number; moves: number }; rebalance: { state: string } };
    assert.is(status.map.moves, 0, 'no unit left in motion');
    assert.is(status.rebalance.state, 'stopped');
    await poll(async () => (db.map !== null && db.map.rev >= status.map.rev ? true : null), 10_000, 'client has the stopped map');
    const map = db.map!;
    const widest = Math.max(...map.runChains.map((c) => map.chains[c]!.length));
    assert.is(widest, 2, 'every unit is back to its two copies: no staged copy left in a chain');

    // Several heartbeat intervals of every node go by: nothing moves.
    const h0 = await heartbeats(manager.address);
    let looks = 0;
    const changes: string[] = [];
    await poll(async () => {
      const p = await progress(manager.address);
      looks++;
      if (p.moves.unitsMoved !== stopped.moves.unitsMoved) changes.push(`moved ${p.moves.unitsMoved}`);
      if (p.moves.batches !== stopped.moves.batches) changes.push(`batches ${p.moves.batches}`);
      if (p.rev !== stopped.rev) changes.push(`rev ${p.rev}`);
      return (await heartbeats(manager.address)) >= h0 + 5 * 3 ? true : null;
    }, 60_000, 'five heartbeats of each of 3 nodes', 100);
    assert.equal(changes, [], 'nothing moved, no batch staged and no map published while stopped');
    const statusText = await cli(['status', '--manager', manager.address]);
    assert.match(statusText.stdout, /^rebalance: stopped, \d+ units moved, \d+ left/m);
    assert.match(statusText.stdout, /event=rebalance-stop component=manager/);
    process.stdout.write(`    (stopped at ${stopped.moves.unitsMoved} units moved, ${stopped.moves.unitsLeft} left; unchanged over ${(await heartbeats(manager.address)) - h0} heartbeats and ${looks} looks)\n`);

    // Resume: the CLI waits until the moves are done.
    const resumed = await cli(['rebalance', '--manager', manager.address, '--timeout-ms', '150000']);
    assert.match(resumed.stdout, /applied by \d+\/3 nodes/);
    const done = await poll(async () => {
      const p = await progress(manager.address);
      return p.isDone && !p.moves.isMoving && p.moves.unitsLeft === 0 ? p : null;
    }, 60_000, 'rebalance finished');
    assert.not.ok(done.moves.isStopped);
    assert.ok(done.moves.unitsMoved > stopped.moves.unitsMoved, 'resumed moves counted on from the stop');
    const finalStatus = await cli(['status', '--manager', manager.address]);
    assert.match(finalStatus.stdout, /^rebalance: idle, \d+ units moved, 0 left/m);
    await poll(async () => (db.map !== null && db.map.rev >= done.rev ? true : null), 10_000, 'client has the final map');
    const holders = new Set(db.map!.runChains.flatMap((c) => db.map!.chains[c]!));
    assert.is(holders.size, 3, 'the new node holds copies');

    let lost = 0;
    for (let i = 0; i < KEYS; i += 200) {
      const got = await Promise.all(Array.from({ length: 200 }, (_, j) => db.get(`rs:${i + j}`)));
      got.forEach((v, j) => { if (text(v) !== `v${i + j}`) lost++; });
    }
    process.stdout.write(`    (${KEYS} keys written, ${KEYS - lost} readable after the resumed rebalance, ${lost} lost; ${done.moves.unitsMoved} units moved in ${done.moves.batches} batches)\n`);
    assert.is(lost, 0);

    const events = await (await fetch(`${manager.address}/api/events?limit=1000`)).json() as { events: Array<{ name: string; fields: Record<string, unknown> }> };
    const names = events.events.map((e) => e.name).filter((n) => n.startsWith('rebalance-'));
    const stopAt = names.indexOf('rebalance-stop');
    assert.ok(stopAt > 0 && names[stopAt - 1] === 'rebalance-start', names.join(','));
    assert.equal(names.slice(stopAt, stopAt + 3), ['rebalance-stop', 'rebalance-resume', 'rebalance-finish']);
    const stopEvent = events.events.find((e) => e.name === 'rebalance-stop')!;
    assert.is(stopEvent.fields['reason'], 'admin');
    assert.is(stopEvent.fields['batch'], 'rolled-back');
    assert.is(events.events.filter((e) => e.name === 'node-fail').length, 0, 'the paused node was not failed');
    // --log-format json: the same events as JSON lines on stderr.
    const jsonLines = manager.stderr.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string; component: string });
    assert.ok(jsonLines.some((e) => e.event === 'rebalance-stop' && e.component === 'manager'), 'rebalance-stop logged as a JSON line');
  } finally {
    await db.close();
  }
}));

test('a manager restarted while a batch is staged waits for its copies before switching, and nothing is lost', () => withCluster({
  nodes: 2, hasDht: true, deadlineMs: 240_000,
  managerArgs: ['--redundancy', '2', '--failover-after-ms', '10000', '--moves-per-node', '1000'],
}, async ({ manager, dir, addNode }) => {
  let db: PandaClient | null = null;
  let restarted: Spawned | null = null;
  let paused: Spawned | null = null;
  try {
    db = await connect({ map: manager.address, timeoutMs: 5000 });
    await replicated(db, 2);
    for (let i = 0; i < KEYS; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => db!.set(`sh:${i + j}`, `v${i + j}`, { durability: 'majority' })));
    }
    // The new node is paused as soon as it has registered, so it cannot fill the copies
    // the (single) batch stages for it; the manager dies while that batch is staged.
    const joined = await addNode();
    await poll(async () => {
      const st = await (await fetch(`${manager.address}/api/status`)).json() as { nodes: Array<{ address: string }> };
      return st.nodes.some((n) => n.address === joined.address) ? true : null;
    }, 30_000, 'the new node registered', 10);
    process.kill(joined.pid, 'SIGSTOP');
    paused = joined;
    const stagedRev = await poll(async () => {
      const st = await (await fetch(`${manager.address}/api/status`)).json() as { map: { moves: number; rev: number } };
      return st.map.moves > 0 ? st.map.rev : null;
    }, 60_000, 'a staged batch', 20);
    await manager.stop('SIGKILL');
    const port = new URL(manager.address).port;
    restarted = await spawnManager(['--cfg', `file:${join(dir, 'cfg.json')}`, '--insecure', '--port', port,
      '--redundancy', '2', '--failover-after-ms', '10000', '--moves-per-node', '1000']);
    // Its first decision: wait for the staged copies (the mover runs, the map stays), not
    // publish a plan that counts them as filled (a new rev with nothing in motion).
    const st = await poll(async () => {
      const p = await progress(restarted!.address);
      const s = await (await fetch(`${restarted!.address}/api/status`)).json() as { isLeader: boolean; map: { moves: number; rev: number } };
      return s.isLeader && (p.moves.isMoving || s.map.moves === 0) ? s : null;
    }, 30_000, 'the restarted manager decides');
    // A new rev may list the restarted manager (same placement, batch still staged); a plan
    // published over the batch would have nothing in motion.
    assert.ok(st.map.rev >= stagedRev, 'no older map');
    assert.ok(st.map.moves > 0, 'the staged batch is still staged while its copies cannot fill');
    const waiting = await progress(restarted.address);
    assert.ok(waiting.moves.isMoving, 'the mover waits for the staged copies');
    process.kill(joined.pid, 'SIGCONT');
    paused = null;
    const done = await poll(async () => {
      const p = await progress(restarted!.address);
      return p.isDone && !p.moves.isMoving && p.moves.unitsLeft === 0 ? p : null;
    }, 120_000, 'rebalance finished after the restart');
    await poll(async () => (db!.map !== null && db!.map.rev >= done.rev && db!.map.moves.length === 0 ? true : null), 20_000, 'client has the final map');
    const holders = new Set(db.map!.runChains.flatMap((c) => db!.map!.chains[c]!));
    assert.is(holders.size, 3, 'the new node holds copies');
    let lost = 0;
    for (let i = 0; i < KEYS; i += 200) {
      const got = await Promise.all(Array.from({ length: 200 }, (_, j) => db!.get(`sh:${i + j}`)));
      got.forEach((v, j) => { if (text(v) !== `v${i + j}`) lost++; });
    }
    process.stdout.write(`    (manager killed with a batch staged at rev ${st.map.rev}; restarted, it waited (moving=${waiting.moves.isMoving}); ${KEYS - lost} of ${KEYS} keys readable, ${lost} lost)\n`);
    assert.is(lost, 0);
  } finally {
    if (paused !== null) process.kill(paused.pid, 'SIGCONT');
    await db?.close();
    await restarted?.stop('SIGKILL');
  }
}));

test('a batch that does not catch up in time is rolled back, and the next rebalance completes', () => withCluster({
  nodes: 2, hasDht: true, deadlineMs: 180_000,
  managerArgs: ['--redundancy', '2', '--failover-after-ms', '15000', '--moves-per-node', '1000', '--move-timeout-ms', '1500'],
}, async ({ manager, addNode }) => {
  let db: PandaClient | null = null;
  let paused: Spawned | null = null;
  try {
    db = await connect({ map: manager.address, timeoutMs: 5000 });
    await replicated(db, 2);
    for (let i = 0; i < KEYS; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => db!.set(`to:${i + j}`, `v${i + j}`, { durability: 'majority' })));
    }
    // Paused as soon as it registered, the new node cannot fill what the batch stages for it.
    const joined = await addNode();
    await poll(async () => {
      const st = await (await fetch(`${manager.address}/api/status`)).json() as { nodes: Array<{ address: string }> };
      return st.nodes.some((n) => n.address === joined.address) ? true : null;
    }, 30_000, 'the new node registered', 10);
    process.kill(joined.pid, 'SIGSTOP');
    paused = joined;
    const timedOut = await poll(async () => {
      const r = await (await fetch(`${manager.address}/api/events?limit=100`)).json() as { events: Array<{ name: string; fields: Record<string, unknown> }> };
      return r.events.find((e) => e.name === 'rebalance-stop' && e.fields['reason'] === 'catch-up-timeout') ?? null;
    }, 30_000, 'the batch timed out');
    assert.is(timedOut.fields['batch'], 'rolled-back');
    assert.ok(Number(timedOut.fields['rolledBackUnits']) > 0);
    const st = await (await fetch(`${manager.address}/api/status`)).json() as { map: { moves: number }; rebalance: { state: string; lastWarning: string | null } };
    assert.is(st.map.moves, 0, 'no unit left in motion');
    assert.is(st.rebalance.state, 'idle');
    assert.match(String(st.rebalance.lastWarning), /did not catch up within 1500 ms; batch rolled back/);
    process.kill(joined.pid, 'SIGCONT');
    paused = null;
    // The resumed node first reconnects its peer links; with a 1.5 s catch-up limit a batch
    // staged before that may time out again, and the operator runs the rebalance again.
    let attempts = 0;
    const done = await poll(async () => {
      const p = await progress(manager.address);
      if (p.isDone && !p.moves.isMoving && p.moves.unitsLeft === 0) return p;
      if (!p.moves.isMoving && attempts < 5) {
        attempts++;
        const again = await cli(['rebalance', '--manager', manager.address, '--timeout-ms', '120000']);
        assert.match(again.stdout, /applied by \d+\/3 nodes/);
      }
      return null;
    }, 90_000, 'rebalance finished').catch(async (err: Error) => {
      const p = await progress(manager.address).catch(() => null);
      const ev = await (await fetch(`${manager.address}/api/events?limit=60`)).json().catch(() => null) as { events: Array<{ name: string; fields: unknown }> } | null;
      const st = await (await fetch(`${manager.address}/api/status`)).json().catch(() => null);
      process.stdout.write(`    progress at the deadline: ${JSON.stringify(p)}\n    status: ${JSON.stringify(st).slice(0, 1500)}\n`);
      for (const e of ev?.events ?? []) process.stdout.write(`    ${e.name} ${JSON.stringify(e.fields)}\n`);
      throw err;
    });
    await poll(async () => (db!.map !== null && db!.map.rev >= done.rev ? true : null), 10_000, 'client has the final map');
    assert.is(new Set(db.map!.runChains.flatMap((c) => db!.map!.chains[c]!)).size, 3, 'the new node holds copies');
    let lost = 0;
    for (let i = 0; i < KEYS; i += 200) {
      const got = await Promise.all(Array.from({ length: 200 }, (_, j) => db!.get(`to:${i + j}`)));
      got.forEach((v, j) => { if (text(v) !== `v${i + j}`) lost++; });
    }
    process.stdout.write(`    (timed-out batch rolled back ${timedOut.fields['rolledBackUnits']} units; rebalance run ${attempts} time(s) more; then ${KEYS - lost} of ${KEYS} keys readable, ${lost} lost)\n`);
    assert.is(lost, 0);
  } finally {
    if (paused !== null) process.kill(paused.pid, 'SIGCONT');
    await db?.close();
  }
}));

test('a node with --backfill-rate copies in no faster than its rate, and every key arrives', () => withCluster({
  nodes: 1, hasDht: true, deadlineMs: 120_000,
  managerArgs: ['--redundancy', '1'],
}, async ({ manager, addNode }) => {
  const db = await connect({ map: manager.address, timeoutMs: 5000 });
  try {
    const keys = 2000;
    const value = 'r'.repeat(1000);
    for (let i = 0; i < keys; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => db.set(`rate:${i + j}`, value)));
    const rate = 256 * 1024;
    const started = performance.now();
    await addNode(['--backfill-rate', String(rate / 1024)]);
    const copied = await poll(async () => {
      const p = await progress(manager.address);
      if (!p.isDone || p.moves.isMoving || p.moves.unitsLeft > 0) return null;
      // Only the new node copies anything in.
      const stats = Object.values(await db.stats());
      if (stats.length < 2 || stats.some((x) => Number(x.repl_backfilling) !== 0)) return null;
      const bytes = stats.reduce((sum, x) => sum + Number(x.repl_backfill_bytes), 0);
      return bytes > 0 ? bytes : null;
    }, 90_000, 'the join\'s rebalance done');
    const seconds = (performance.now() - started) / 1000;
    console.log(`backfill-rate: ${copied} bytes copied in ${seconds.toFixed(2)} s at most ${rate} B/s`);
    // Each page waits for the one before it to be paid for, so only the last page is free
    // (unthrottled, the same copy takes under a second on this machine).
    const lastPage = 256 * (value.length + 16);
    assert.ok(seconds * rate >= copied - lastPage, `${copied} bytes in ${seconds.toFixed(2)} s`);
    assert.ok(copied >= keys * value.length / 4, `a share of the data moved: ${copied} bytes`);
    for (let i = 0; i < keys; i += 200) {
      const got = await db.getMany(Array.from({ length: 200 }, (_, j) => `rate:${i + j}`));
      assert.ok(got.every((v) => v !== null && v.length === value.length), `keys ${i}..${i + 199}`);
    }
  } finally {
    await db.close();
  }
}));

test.run();
