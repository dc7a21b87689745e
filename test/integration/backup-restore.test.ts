import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_PATH } from '../../bin/spawn.js';
import { withCluster } from '../helpers/cluster.js';
import { poll, withDeadline } from '../helpers/deadline.js';
import { connect, type PandaClient } from '../../sdk/index.js';
import type { Manifest } from '../../shared/backup/backup-format.js';

const test = suite('integration - pandakv backup and restore');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI to its end; `onLine` sees each stdout line as it comes. */
function runCli(args: string[], deadlineMs: number, onChild?: (child: ChildProcess, lines: string[]) => void): Promise<Run> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const lines: string[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    lines.splice(0, lines.length, ...stdout.split('\n'));
  });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  onChild?.(child, lines);
  const done = new Promise<Run>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  return withDeadline(done, deadlineMs, `pandakv ${args.slice(0, 2).join(' ')}`).finally(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}

/** Every node placed and on the peer plane (so it keeps unit history), no move under way. */
async function settled(db: PandaClient, manager: string, nodes: number): Promise<void> {
  await poll(async () => {
    const map = db.map;
    if (map === null || map.nodes.filter((n) => n.state === 'active').length < nodes) return null;
    const p = await (await fetch(`${manager}/api/rebalance`)).json() as { isDone: boolean; moves: { isMoving: boolean } };
    if (!p.isDone || p.moves.isMoving) return null;
    const stats = await db.stats();
    return Object.keys(stats).length >= nodes && Object.values(stats).every((s) => s.replicating === 1 && s.repl_backfilling === 0) ? true : null;
  }, 90_000, 'a settled cluster on the peer plane');
}

/** Write `count` keys `${prefix}${i}` = `v${i}` with flags i % 7 (every 10th with a TTL), `window` at a time. */
async function load(db: PandaClient, prefix: string, count: number, window = 2000): Promise<void> {
  for (let at = 0; at < count; at += window) {
    const batch: Array<Promise<unknown>> = [];
    for (let i = at; i < Math.min(count, at + window); i++) batch.push(db.set(`${prefix}${i}`, `v${i}`, { flags: i % 7, ...(i % 10 === 0 ? { ttl: 3600 } : {}) }));
    await Promise.all(batch);
  }
}

/** Keys of `${prefix}0..count` that are missing or differ in value or flags. */
async function mismatches(db: PandaClient, prefix: string, count: number, window = 2000): Promise<number> {
  let bad = 0;
  for (let at = 0; at < count; at += window) {
    const batch: Array<Promise<void>> = [];
    for (let i = at; i < Math.min(count, at + window); i++) {
      batch.push(db.getItem(`${prefix}${i}`).then((it) => {
        if (it === null || Buffer.from(it.value).toString() !== `v${i}` || it.flags !== i % 7) bad++;
      }));
    }
    await Promise.all(batch);
  }
  return bad;
}

const KEYS = 100_000;

test('100 k keys backed up while writers run, restored into a fresh cluster of another size and bucket count: every key acknowledged before the backup is back with its value and flags', () => withCluster({
  nodes: 3, hasManagerDht: true, deadlineMs: 240_000,
}, async ({ manager }) => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-backup-'));
  const db = await connect({ map: manager.address, timeoutMs: 10_000 });
  try {
    await settled(db, manager.address, 3);
    const loadStarted = Date.now();
    await load(db, 'k:', KEYS);
    const loadMs = Date.now() - loadStarted;
    // Short-lived keys: the restore keeps their expiry time, so they are gone from the target once it passed.
    // (6 s: most likely past by the restore, which skips them; 20 s: most likely written with it.)
    const ttlEndsAt = Date.now() + 20_000;
    await Promise.all(Array.from({ length: 100 }, (_, i) => db.set(`t:${i}`, 'short', { ttl: i % 2 === 0 ? 6 : 20 })));
    // Writers run for the whole backup: new keys, and overwrites of keys of their own.
    let isWriting = true;
    let acked = 0;
    const writers = [0, 1, 2, 3, 4, 5, 6, 7].map((w) => (async () => {
      for (let i = 0; isWriting; i++) {
        await db.set(`w${w}:${i % 5000}`, `x${i}`).then(() => { acked++; }, () => undefined);
      }
    })());
    const out = join(dir, 'b');
    let r: Run;
    try {
      r = await runCli(['backup', '--manager', manager.address, '--out', out], 120_000);
    } finally {
      isWriting = false;
      await Promise.all(writers);
    }
    assert.is(r.code, 0, r.stderr);
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as Manifest;
    assert.ok(manifest.items >= KEYS, `${manifest.items} items in the backup`);
    assert.is(manifest.units.length, 2 ** manifest.map.unitBits);
    process.stdout.write(`  [load ${KEYS} keys in ${loadMs} ms; writers acknowledged ${acked} writes during the backup]\n  ${r.stdout.trim().split('\n').slice(-2).join('\n  ')}\n`);

    // A fresh cluster with another node count and another bucket count.
    await withCluster({ nodes: 2, managerArgs: ['--buckets', '2^20'], deadlineMs: 180_000 }, async (target) => {
      const t = await connect({ map: target.manager.address, timeoutMs: 10_000 });
      try {
        await poll(async () => (t.map !== null && t.map.nodes.filter((n) => n.state === 'active').length === 2 ? true : null), 30_000, 'the target placed');
        const restored = await runCli(['restore', '--manager', target.manager.address, '--from', out], 150_000);
        assert.is(restored.code, 0, restored.stderr);
        const counts = /restore: (\d+) items written, (\d+) skipped as expired, of (\d+)/.exec(restored.stdout);
        assert.ok(counts !== null, restored.stdout);
        assert.is(Number(counts![1]) + Number(counts![2]), manifest.items);
        const bad = await mismatches(t, 'k:', KEYS);
        // Restored with their expiry time, not forever: absent once it passed (never later than the deadline).
        const shortLived = Array.from({ length: 100 }, (_, i) => `t:${i}`);
        const presentAfterRestore = (await t.getMany(shortLived)).filter((v) => v !== null).length;
        await poll(async () => (Date.now() > ttlEndsAt + 1000 && (await t.getMany(shortLived)).every((v) => v === null) ? true : null), 40_000, 'the short-lived keys expired on the target');
        process.stdout.write(`  [short-lived keys: ${counts![2]} skipped as expired, ${presentAfterRestore} present after the restore, all gone once their expiry passed]\n`);
        process.stdout.write(`  ${restored.stdout.trim().split('\n').slice(-1)[0]}\n  [checked ${KEYS} keys on the target: ${bad} missing or different]\n`);
        assert.is(bad, 0);
      } finally {
        await t.close();
      }
    });
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}));

test('units that move while the backup runs (a node joins) are read again from their new active; the restore has every key', () => withCluster({
  nodes: 2, hasManagerDht: true, deadlineMs: 240_000,
}, async ({ manager, addNode }) => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-backup-'));
  const db = await connect({ map: manager.address, timeoutMs: 10_000 });
  try {
    await settled(db, manager.address, 2);
    const COUNT = 20_000;
    await load(db, 'm:', COUNT);
    const startEpoch = db.map!.epoch;
    const out = join(dir, 'b');
    let child: ChildProcess | null = null;
    let lines: string[] = [];
    // Slow passes, so the backup is still running when the backup process is paused.
    const backup = runCli(['backup', '--manager', manager.address, '--out', out, '--units-per-pass', '4', '--pace-ms', '30'], 180_000, (c, l) => { child = c; lines = l; });
    await poll(async () => (lines.some((l) => /^backing up: [1-9]\d*\//.test(l)) ? true : null), 60_000, 'the backup under way');
    // Paused mid-way: a node joins and takes its share of the units meanwhile.
    (child as ChildProcess | null)!.kill('SIGSTOP');
    let joined = '';
    try {
      const n = await addNode();
      await settled(db, manager.address, 3);
      joined = db.map!.nodes.find((x) => x.address === n.address)!.id;
    } finally {
      (child as ChildProcess | null)!.kill('SIGCONT');
    }
    const r = await backup;
    assert.is(r.code, 0, r.stderr);
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as Manifest;
    const fromJoined = manifest.units.filter((u) => u.node === joined).length;
    const atLater = manifest.units.filter((u) => u.epoch > startEpoch).length;
    process.stdout.write(`  [moved mid-backup: ${fromJoined} units read from the joined node, ${atLater} at a later epoch than the start (${startEpoch} → ${manifest.epochEnd})]\n  ${r.stdout.trim().split('\n').slice(-2).join('\n  ')}\n`);
    assert.ok(fromJoined > 0, 'some units were read from the node that joined');
    assert.ok(manifest.epochEnd > startEpoch);
    assert.is(manifest.items, COUNT);
    await withCluster({ nodes: 1, deadlineMs: 120_000 }, async (target) => {
      const t = await connect({ map: target.manager.address, timeoutMs: 10_000 });
      try {
        await poll(async () => (t.map !== null && t.map.nodes.some((n) => n.state === 'active') ? true : null), 30_000, 'the target placed');
        const restored = await runCli(['restore', '--manager', target.manager.address, '--from', out], 120_000);
        assert.is(restored.code, 0, restored.stderr);
        const bad = await mismatches(t, 'm:', COUNT);
        process.stdout.write(`  [checked ${COUNT} keys after the restore: ${bad} missing or different]\n`);
        assert.is(bad, 0);
      } finally {
        await t.close();
      }
    });
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}));

test.run();
