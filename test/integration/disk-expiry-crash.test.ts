import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from '../helpers/suite.js';
import { connect, type PandaClient } from '../../sdk/index.js';
import { spawnNode, type Spawned } from '../../bin/spawn.js';
import { poll, withDeadline } from '../helpers/deadline.js';

const test = suite('integration - disk engine, SIGKILL during expiry reclaim');

/** Live keys: `LIVE` × ~330 bytes, six times the 1 MiB read cache. */
const LIVE = 20_000;
/** Keys written with a 2 s TTL, reclaimed by the background pass. */
const SHORT = 40_000;
const SWEEP_MS = 250;

const liveValue = (i: number): string => `live-${i}-${'z'.repeat(300)}`;
const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString());

async function withDiskNode<T>(dataDir: string, body: (node: Spawned, db: PandaClient) => Promise<T>): Promise<T> {
  const node = await spawnNode(['--insecure', '--data-dir', dataDir, '--memory-size', '1', '--expiry-sweep-ms', String(SWEEP_MS)], 20_000);
  const db = await connect({ nodes: [node.address], timeoutMs: 10_000 });
  try {
    return await body(node, db);
  } finally {
    await db.close();
    await node.stop('SIGKILL');
  }
}

async function writeAll(n: number, write: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    for (let i = next++; i < n; i = next++) await write(i);
  }));
}

test('SIGKILL while the background pass reclaims expired items: restarts clean, no live item lost, no expired one back, the pass completes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-expiry-crash-'));
  try {
    await withDeadline((async () => {
      let atKill = 0;
      await withDiskNode(dir, async (node, db) => {
        // Expiring keys interleave in key order with the live ones, so the pass's deletions
        // and the live items share pages. Written last, with a 2 s TTL: they expire while
        // the node is idle, staggered over a second or so, so reclaiming is under way for a
        // while and the kill lands in the middle of it (the line printed says so).
        await writeAll(LIVE, (i) => db.set(`k:${i}`, liveValue(i), { ttl: i % 2 === 0 ? 0 : 3600 }));
        await writeAll(SHORT, (i) => db.set(`k:${i}:x`, 'short-lived', { ttl: 2 }));
        // Every write so far on disk before the kill: only the reclaim is in flight then.
        await db.set('k:persisted', 'p', { durability: 'persist' });
        const stats = await poll(async () => {
          const s = (await db.stats())[node.address]!;
          return Number(s.expired) > 0 ? s : null;
        }, 60_000, 'the background pass reclaiming', 5);
        await node.stop('SIGKILL');
        atKill = Number(stats.expired);
      });
      await withDiskNode(dir, async (node, db) => {
        let lost = 0;
        let back = 0;
        for (let i = 0; i < LIVE; i++) if (text(await db.get(`k:${i}`)) !== liveValue(i)) lost++;
        for (let i = 0; i < SHORT; i += 7) if ((await db.get(`k:${i}:x`)) !== null) back++;
        // The pass after the restart reclaims what the killed one did not reach.
        const s = await poll(async () => {
          const st = (await db.stats())[node.address]!;
          return Number(st.items) === LIVE + 1 ? st : null;
        }, 60_000, 'every expired item reclaimed after the restart');
        const cacheBytes = Number(s.cache_bytes);
        process.stdout.write(`    (${SHORT} expiring + ${LIVE} live keys, killed with ${atKill} reclaimed${atKill < SHORT ? ' (mid-pass)' : ''}; after restart: ${lost} live lost, ${back} expired back, ${String(s.items)} items, read cache ${cacheBytes} B)\n`);
        assert.is(lost, 0);
        assert.is(back, 0);
        assert.ok(cacheBytes <= 1024 * 1024, `read cache within its 1 MiB budget: ${cacheBytes}`);
      });
    })(), 240_000, 'test body');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
