import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_PATH } from '../../bin/spawn.js';
import { withCluster } from '../helpers/cluster.js';
import { poll, withDeadline } from '../helpers/deadline.js';
import { connect, type PandaClient } from '../../sdk/index.js';
import { openCfg } from '../../cluster/manager/cfg/open-cfg.js';
import { UserStore } from '../../cluster/manager/users.js';
import { writeCredentials, type Role } from '../../shared/auth/index.js';

const test = suite('integration - pandakv backup and restore: refusals, usage errors, secure clusters');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], deadlineMs = 60_000): Promise<Run> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<Run>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  return withDeadline(done, deadlineMs, `pandakv ${args.slice(0, 2).join(' ')}`).finally(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}

/** Every node placed and on the peer plane, no move under way. */
async function settled(db: PandaClient, manager: string, nodes: number): Promise<void> {
  await poll(async () => {
    const map = db.map;
    if (map === null || map.nodes.filter((n) => n.state === 'active').length < nodes) return null;
    const p = await (await fetch(`${manager}/api/rebalance`, { headers: {} })).json().catch(() => ({ isDone: true, moves: { isMoving: false } })) as { isDone: boolean; moves: { isMoving: boolean } };
    if (p.isDone === false || p.moves?.isMoving === true) return null;
    const stats = await db.stats();
    return Object.keys(stats).length >= nodes && Object.values(stats).every((s) => s.replicating === 1 && s.repl_backfilling === 0) ? true : null;
  }, 90_000, 'a settled cluster on the peer plane');
}

/** Items held by every node of the cluster together. */
async function itemsIn(db: PandaClient): Promise<number> {
  const stats = await db.stats();
  return Object.values(stats).reduce((n, s) => n + Number(s.items), 0);
}

test('usage errors exit 2 with one line; --help exits 0', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-backup-usage-'));
  try {
    await writeFile(join(dir, 'something'), 'x');
    const cases: Array<[string[], RegExp]> = [
      [['backup'], /--out DIR is required/],
      [['backup', '--out', dir], /is not empty; pass --force/],
      [['backup', '--out', join(dir, 'new'), '--frobnicate'], /unknown switch --frobnicate/],
      [['backup', '--out', join(dir, 'new'), '--units-per-pass', '0'], /--units-per-pass: invalid value "0"/],
      [['backup', '--out', join(dir, 'new'), '--manager', 'ftp://x'], /--manager: "ftp:\/\/x" must be http/],
      [['backup', '--out', join(dir, 'new'), 'extra'], /unexpected argument "extra"/],
      [['restore'], /--from DIR is required/],
      [['restore', '--from', dir, '--durability', 'always'], /--durability must be none, majority, persist, persistMajority/],
      [['restore', '--from', dir, '--concurrency', 'lots'], /--concurrency: invalid value "lots"/],
      [['restore', '--from', dir, '--manager-key', 'abc'], /--manager-key must be 64 hex digits/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.is(r.stderr.trim().split('\n').length, 1, args.join(' '));
    }
    for (const command of ['backup', 'restore']) {
      const r = await runCli([command, '--help']);
      assert.is(r.code, 0);
      assert.match(r.stdout, new RegExp(`Usage: pandakv ${command}`));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('corrupted, truncated, edited and foreign backup directories are refused before anything is written (backed up from a disk-engine node)', () => withCluster({
  nodes: 1, hasManagerDht: true, engine: 'disk', deadlineMs: 180_000,
}, async ({ manager }) => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-backup-bad-'));
  const db = await connect({ map: manager.address, timeoutMs: 10_000 });
  try {
    await settled(db, manager.address, 1);
    await Promise.all(Array.from({ length: 500 }, (_, i) => db.set(`r:${i}`, `value ${i}`, { flags: i })));
    const good = join(dir, 'good');
    const b = await runCli(['backup', '--manager', manager.address, '--out', good]);
    assert.is(b.code, 0, b.stderr);
    // The same directory again: refused without --force, replaced with it.
    const again = await runCli(['backup', '--manager', manager.address, '--out', good]);
    assert.is(again.code, 2);
    const forced = await runCli(['backup', '--manager', manager.address, '--out', good, '--force']);
    assert.is(forced.code, 0, forced.stderr);

    const variant = async (name: string, spoil: (d: string) => Promise<void>): Promise<string> => {
      const d = join(dir, name);
      await cp(good, d, { recursive: true });
      await spoil(d);
      return d;
    };
    const data = 'data-00000.pkvb';
    const manifestOf = async (d: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(join(d, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    const cases: Array<[string, string, RegExp]> = [
      ['foreign', await (async () => { const d = join(dir, 'foreign'); await mkdir(d); await writeFile(join(d, 'notes.txt'), 'hello'); return d; })(), /holds no manifest\.json/],
      ['missing', join(dir, 'does-not-exist'), /holds no manifest\.json/],
      ['data file truncated', await variant('truncated', async (d) => truncate(join(d, data), (await stat(join(d, data))).size - 7)), /is \d+ bytes, the manifest says \d+ \(truncated/],
      ['a byte flipped', await variant('flipped', async (d) => {
        const bytes = await readFile(join(d, data));
        bytes[bytes.length - 3] ^= 0x40;
        await writeFile(join(d, data), bytes);
      }), /fails its SHA-256 check/],
      ['data file missing', await variant('no-data', (d) => unlink(join(d, data))), /data-00000\.pkvb is missing/],
      ['manifest cut short', await variant('cut-manifest', async (d) => truncate(join(d, 'manifest.json'), 100)), /not valid JSON/],
      ['another format version', await variant('v2', async (d) => writeFile(join(d, 'manifest.json'), JSON.stringify({ ...await manifestOf(d), version: 2 }))), /format version 2/],
      ['another format', await variant('other', async (d) => writeFile(join(d, 'manifest.json'), JSON.stringify({ format: 'tarball' }))), /not a PandaKV backup manifest/],
      ['item count edited', await variant('edited', async (d) => writeFile(join(d, 'manifest.json'), JSON.stringify({ ...await manifestOf(d), items: 499 }))), /totals differ/],
      ['a unit dropped', await variant('gap', async (d) => {
        const m = await manifestOf(d);
        (m.units as unknown[]).splice(3, 1);
        await writeFile(join(d, 'manifest.json'), JSON.stringify(m));
      }), /leaves a gap|totals differ/],
    ];
    const verified = await runCli(['restore', '--from', good, '--verify-only']);
    assert.is(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /verified: \d+ units, 500 items/);
    assert.is((await runCli(['restore', '--from', cases[2]![1], '--verify-only'])).code, 1);
    await withCluster({ nodes: 1, deadlineMs: 120_000 }, async (target) => {
      const t = await connect({ map: target.manager.address, timeoutMs: 10_000 });
      try {
        await poll(async () => (t.map !== null && t.map.nodes.some((n) => n.state === 'active') ? true : null), 30_000, 'the target placed');
        for (const [what, d, message] of cases) {
          const r = await runCli(['restore', '--manager', target.manager.address, '--from', d]);
          assert.is(r.code, 1, `${what}: ${r.stderr}`);
          assert.match(r.stderr, /refused, nothing was written/, what);
          assert.match(r.stderr, /KV_ERR_BACKUP_INVALID/, what);
          assert.match(r.stderr, message, what);
        }
        assert.is(await itemsIn(t), 0, 'nothing was written by a refused restore');
        process.stdout.write(`  [${cases.length} spoiled backups refused; the target still holds 0 items]\n`);
        const ok = await runCli(['restore', '--manager', target.manager.address, '--from', good]);
        assert.is(ok.code, 0, ok.stderr);
        assert.is(await itemsIn(t), 500);
        const it = await t.getItem('r:42');
        assert.is(Buffer.from(it!.value).toString(), 'value 42');
        assert.is(it!.flags, 42);
      } finally {
        await t.close();
      }
    });
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}));

/** Principals of the secure cluster: `cluster` for the nodes, `ops` (admin) and `app` (read/write). */
const PRINCIPALS: Array<{ name: string; roles: Role[] }> = [
  { name: 'cluster', roles: ['admin'] },
  { name: 'ops', roles: ['admin'] },
  { name: 'app', roles: ['read', 'write', 'scan'] },
];

test('a secure cluster: an admin principal backs up and restores; a principal without admin is refused (FORBIDDEN)', () => withCluster({
  nodes: 2, hasManagerDht: true, isSecure: true, deadlineMs: 180_000,
  setup: async (cfgUrl, dir) => {
    const cfg = await openCfg(cfgUrl);
    try {
      const users = new UserStore(cfg);
      for (const p of PRINCIPALS) writeCredentials(join(dir, `${p.name}.json`), (await users.add(p.name, p.roles)).credentials);
    } finally {
      await cfg.close();
    }
  },
  nodeArgsFor: (dir) => ['--credentials', join(dir, 'cluster.json')],
}, async ({ manager, dir }) => {
  const db = await connect({ map: manager.address, timeoutMs: 10_000, credentials: join(dir, 'ops.json') });
  try {
    await settled(db, manager.address, 2);
    await Promise.all(Array.from({ length: 300 }, (_, i) => db.set(`s:${i}`, `v${i}`, { flags: 7 })));
    const out = join(dir, 'b');
    const denied = await runCli(['backup', '--manager', manager.address, '--out', join(dir, 'denied'), '--credentials', join(dir, 'app.json')]);
    assert.is(denied.code, 1);
    assert.match(denied.stderr, /admin/);
    const anonymous = await runCli(['backup', '--manager', manager.address, '--out', join(dir, 'anon')]);
    assert.is(anonymous.code, 1);
    const r = await runCli(['backup', '--manager', manager.address, '--out', out, '--credentials', join(dir, 'ops.json')]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /300 items/);
    for (let i = 0; i < 300; i++) await db.delete(`s:${i}`);
    // A principal that may write restores (the restore only writes).
    const restored = await runCli(['restore', '--manager', manager.address, '--from', out, '--credentials', join(dir, 'app.json')]);
    assert.is(restored.code, 0, restored.stderr);
    let bad = 0;
    for (let i = 0; i < 300; i++) {
      const it = await db.getItem(`s:${i}`);
      if (it === null || Buffer.from(it.value).toString() !== `v${i}` || it.flags !== 7) bad++;
    }
    process.stdout.write(`  [secure: non-admin backup refused (${denied.stderr.trim().slice(0, 120)}); 300 keys restored, ${bad} wrong]\n`);
    assert.is(bad, 0);
  } finally {
    await db.close();
  }
}));

test.run();
