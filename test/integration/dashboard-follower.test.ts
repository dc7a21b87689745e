import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnManager, spawnNode, type Spawned } from '../../bin/spawn.js';
import { connect } from '../../sdk/index.js';
import { withEtcd } from '../helpers/etcd.js';
import { poll, withDeadline } from '../helpers/deadline.js';
import { openPage, shoot, withBrowser } from '../helpers/browser.js';

const test = suite("integration - dashboard on a follower manager: follow a key points to the leader's page");

async function isLeader(m: Spawned): Promise<boolean> {
  const res = await fetch(`${m.address}/api/status`, { signal: AbortSignal.timeout(5000) });
  return ((await res.json()) as { isLeader: boolean }).isLeader;
}

// Nodes heartbeat to the leading manager only, so a follower has no seqnos or value sizes.
// Its page says so where they would be, with a link to the leader's dashboard (the map lists
// the managers, the leader first); there the same key shows its seqno rising.
test("a follower's page sends a followed key to the leader's dashboard, where its seqno rises", () => withEtcd(async (etcd) => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-dash-follower-'));
  const procs: Spawned[] = [];
  try {
    const args = ['--insecure', '--cfg', etcd.url, '--leader-lease-ms', '2000'];
    procs.push(await spawnManager(args));
    procs.push(await spawnManager(args));
    const leader = await poll(async () => {
      for (const m of procs) if (await isLeader(m).catch(() => false)) return m;
      return null;
    }, 30_000, 'a leader');
    const follower = procs.find((m) => m !== leader)!;
    procs.push(await spawnNode(['--insecure', '--manager', leader.address, '--data-dir', join(dir, 'n1'), '--engine', 'memory']));
    const db = await connect({ map: leader.address, timeoutMs: 3000 });
    try {
      await withBrowser(async (browser) => {
        const { page, errors } = await openPage(browser, `${follower.address}/ui`);
        try {
          await page.locator('[data-test=node-card][data-live=true][data-state=active]').waitFor({ timeout: 60_000 });
          await db.set('user:7', 'x');
          await page.locator('[data-test=follow-key]').fill('user:7');
          await page.locator('[data-test=follow-go]').click();
          const note = page.locator('[data-test=follow-at-leader]');
          await note.waitFor({ timeout: 30_000 });
          assert.match((await note.textContent()) ?? '', /only the leading manager/);
          const link = page.locator('[data-test=leader-link]');
          // The map lists the managers, the leader first: the link names the leader's page.
          await link.waitFor({ timeout: 60_000 });
          assert.is(await link.getAttribute('href'), `${leader.address}/ui`);
          const cells = await page.locator('[data-test=follow-chain] [data-test=seqno]').allTextContents();
          assert.ok(cells.length >= 1 && cells.every((t) => t === 'at the leader'), cells.join(','));
          await shoot(page.locator('#follow'), 'follow-on-follower');

          // Follow the link: the leader's page has what the follower lacks.
          await link.click();
          await page.waitForURL(`${leader.address}/ui`);
          await page.locator('[data-test=node-card][data-live=true]').waitFor({ timeout: 60_000 });
          await page.locator('[data-test=follow-key]').fill('user:7');
          await page.locator('[data-test=follow-go]').click();
          assert.is(await page.locator('[data-test=follow-at-leader]').count(), 0);
          const seqnoCell = page.locator('[data-test=follow-chain] tr').nth(1).locator('[data-test=seqno]');
          const seqno = async (): Promise<number | null> => {
            const t = (await seqnoCell.textContent()) ?? '';
            return /^\d+$/.test(t) ? Number(t) : null;
          };
          const first = await poll(seqno, 60_000, 'a seqno on the leader');
          let n = 0;
          await poll(async () => {
            await db.set('user:7', `v${n++}`);
            const now = await seqno();
            return now !== null && now > first ? true : null;
          }, 60_000, 'the seqno rising', 200);
          assert.equal(errors, []);
        } finally {
          await page.close();
        }
      });
    } finally {
      await db.close();
    }
  } finally {
    for (const p of procs.reverse()) await withDeadline(p.stop('SIGTERM'), 20_000, 'stop').catch(() => p.stop('SIGKILL'));
    await rm(dir, { recursive: true, force: true });
  }
}, { bodyTimeoutMs: 180_000 }));

test.run();
