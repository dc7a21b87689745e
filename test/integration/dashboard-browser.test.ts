import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { connect, type PandaClient } from '../../sdk/index.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';
import { openPage, shoot, withBrowser } from '../helpers/browser.js';
import { openCfg } from '../../cluster/manager/cfg/open-cfg.js';
import { UserStore } from '../../cluster/manager/users.js';
import { writeCredentials } from '../../shared/auth/index.js';
import { spawnManager } from '../../bin/spawn.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Locator, Page } from 'playwright-core';
import type { FeedRebalance } from '../../cluster/manager/ui/feed-protocol.js';
import { METRICS } from '../../cluster/manager/ui/metric-names.js';
import { unitOf } from '../../shared/cluster-map.js';
import { bucketOf } from '../../shared/keystream.js';

const test = suite('integration - dashboard in a real browser');

const WEB = { name: 'web', password: 'correct horse battery staple' };
const WATCHER = { name: 'watcher', password: 'only looking' };

/** Principals of the secure cluster: nodes and the writer use `cluster`, the page logs in as `web`. */
async function setup(cfgUrl: string, dir: string): Promise<void> {
  const cfg = await openCfg(cfgUrl);
  try {
    const users = new UserStore(cfg);
    writeCredentials(join(dir, 'cluster.json'), (await users.add('cluster', ['admin'])).credentials);
    await users.add(WEB.name, ['admin'], WEB.password);
    await users.add(WATCHER.name, ['monitor'], WATCHER.password);
  } finally {
    await cfg.close();
  }
}

async function logIn(page: Page, who: { name: string; password: string }): Promise<void> {
  await page.locator('input[name=principal]').fill(who.name);
  await page.locator('input[name=password]').fill(who.password);
  await page.locator('.login button[type=submit]').click();
  await page.locator('[data-test=connection]', { hasText: 'live' }).waitFor();
}

async function attr(page: Page, selector: string, name: string): Promise<string | null> {
  return page.locator(selector).first().getAttribute(name);
}

/** The admin API's rebalance progress, asked with the page's own token. */
async function rebalanceApi(page: Page): Promise<FeedRebalance> {
  return await page.evaluate(`(async () => {
    const token = sessionStorage.getItem('pandakv.dashboard.token');
    const res = await fetch('/api/rebalance', { headers: { authorization: 'Bearer ' + token } });
    return res.json();
  })()`) as FeedRebalance;
}

/** Confirm the dialog an action opened. */
async function confirm(page: Page): Promise<void> {
  await page.locator('[data-test=confirm]').click();
}

test('log in, see the live cluster, follow a key, plan a what-if, stop and resume a rebalance, watch a failover', () => withCluster({
  nodes: 3, isSecure: true, hasDht: true, deadlineMs: 240_000, setup,
  // Small batches, and nodes that copy in at most 16 KiB/s: with the megabyte written
  // below, the fourth node's rebalance lasts some 15–20 s however fast the machine, long
  // enough to follow a unit in motion and to stop it from the page.
  managerArgs: ['--redundancy', '2', '--failover-after-ms', '2000', '--max-moves', '8', '--moves-per-node', '8'],
  nodeArgsFor: (dir) => ['--credentials', join(dir, 'cluster.json'), '--backfill-rate', '16'],
}, async ({ manager, nodes, dir, addNode }) => withBrowser(async (browser) => {
  const { page, errors } = await openPage(browser, `${manager.address}/`);
  let db: PandaClient | null = null;
  let writing = true;
  // The length of every value written to the followed key: the page must show it.
  let followedBytes = 1000;
  let writer: Promise<void> = Promise.resolve();
  try {
    // `/` redirects to `/ui`, which asks for a login on a secure manager.
    assert.ok(page.url().endsWith('/ui'), page.url());
    await page.locator('.login').waitFor();
    await shoot(page.locator('.login'), 'login');

    // A wrong password is refused; the right one opens the feed.
    await page.locator('input[name=principal]').fill(WEB.name);
    await page.locator('input[name=password]').fill('wrong');
    await page.locator('.login button[type=submit]').click();
    await page.locator('.login .error', { hasText: 'Wrong name or password' }).waitFor();
    await logIn(page, WEB);

    // Three live nodes, and a full map: every unit has an active copy.
    await poll(async () => (await page.locator('[data-test=node-card][data-live=true][data-state=active]').count()) === 3 ? true : null, 60_000, '3 live node cards');
    await poll(async () => {
      const units = await attr(page, '[data-test=map-canvas]', 'data-units');
      const active = await attr(page, '[data-test=map-canvas]', 'data-active-total');
      const n = await attr(page, '[data-test=map-canvas]', 'data-nodes');
      return units !== null && units === active && n === '3' ? true : null;
    }, 60_000, 'a full map of 3 nodes');

    // Follow a key while a workload writes it: its chain, and its seqno rising.
    db = await connect({ map: manager.address, credentials: join(dir, 'cluster.json') });
    await poll(async () => {
      const map = db!.map;
      return map !== null && map.runChains.every((c) => map.chains[c]!.length >= 2) ? true : null;
    }, 60_000, 'two copies of every unit');
    const client = db;
    writer = (async () => {
      let i = 0;
      while (writing) {
        await Promise.all([client.set('user:42', String(i % 10).repeat(followedBytes)), client.set(`load:${i % 500}`, 'x'.repeat(100))]).catch(() => undefined);
        i++;
      }
    })();
    // Replicas on the map: a second copy of every unit.
    await poll(async () => {
      const units = await attr(page, '[data-test=map-canvas]', 'data-units');
      return units !== null && units === await attr(page, '[data-test=map-canvas]', 'data-replica-total') ? true : null;
    }, 30_000, 'a replica of every unit on the map');
    await page.locator('[data-test=follow-key]').fill('user:42');
    await page.locator('[data-test=follow-go]').click();
    const route = db.route('user:42');
    assert.is(await page.locator('[data-test=follow-bucket]').textContent(), String(route.bucket));
    await poll(async () => (await page.locator('[data-test=follow-chain] tbody tr').count()) >= 2 ? true : null, 20_000, 'a chain of two copies');
    const seqnoOf = async (): Promise<number | null> => {
      const t = await page.locator('[data-test=follow-chain] tbody tr').first().locator('[data-test=seqno]').textContent();
      return t === null || !/^\d+$/.test(t) ? null : Number(t);
    };
    const first = await poll(seqnoOf, 20_000, 'a seqno for the active copy');
    await poll(async () => ((await seqnoOf()) ?? 0) > first ? true : null, 20_000, 'the seqno rising while writes run');
    // Each copy's value size, as its node measured it: what was written, then the new
    // length once the value is rewritten with another one.
    const sizesShown = async (): Promise<string[]> => page.locator('[data-test=follow-chain] tbody tr [data-test=value-bytes]').allTextContents();
    const allCopiesShow = (bytes: number) => async (): Promise<true | null> => {
      const shown = await sizesShown();
      return shown.length >= 2 && shown.every((t) => t === `${bytes.toLocaleString('en-US')} B`) ? true : null;
    };
    await poll(allCopiesShow(1000), 30_000, 'every copy showing the 1,000-byte value');
    assert.is(await attr(page, '[data-test=follow-chain] tbody tr [data-test=value-bytes]', 'data-bytes'), '1000');
    followedBytes = 37;
    await poll(allCopiesShow(37), 30_000, 'every copy showing the rewritten 37-byte value');
    await shoot(page.locator('#follow'), 'follow');
    await shoot(page.locator('#map'), 'map');
    await poll(async () => (await page.locator('[data-test=ops]').first().textContent()) !== '–' ? true : null, 20_000, 'ops/s on a node card');
    await poll(async () => (await page.locator('[data-test=items]').allTextContents()).every((t) => /^[1-9][\d,]*$/.test(t)) ? true : null, 20_000, 'items on every card');
    await shoot(page.locator('#nodes'), 'nodes');
    // A chart per figure, a series per node.
    for (const figure of ['requests', 'p99', 'p50']) assert.is(await page.locator(`[data-test=chart-${figure}] .u-legend .u-series`).count(), 3, figure);
    // The same figures, under the names the page links to, on the manager's /metrics.
    const metrics = await (await fetch(`${manager.address}/metrics`)).text();
    assert.match(metrics, /^pandakv_node_requests_total\{node="[^"]+"\} [1-9]\d*$/m);
    assert.match(metrics, /^pandakv_node_request_p99_seconds\{node="[^"]+"\} [\d.e-]+$/m);
    assert.match(metrics, /^pandakv_manager_node_is_live\{node="[^"]+"\} 1$/m);
    assert.match(metrics, /^pandakv_node_is_fenced\{node="[^"]+"\} 0$/m);
    assert.is(await page.locator('[data-test=fenced]').first().textContent(), 'no');
    // Every figure the manager exports is there under the name the page links to, and every
    // link of the page lands on its entry in the catalogue.
    for (const m of Object.values(METRICS)) if (m.isOnMetrics) assert.match(metrics, new RegExp(`^# HELP ${m.name} `, 'm'), m.name);
    const hrefs = new Set(await page.locator('a.metric').evaluateAll((links) => links.map((a) => a.getAttribute('href') ?? '')));
    assert.ok(hrefs.size >= 15, `${hrefs.size} metrics linked`);
    for (const href of hrefs) assert.is(await page.locator(href).count(), 1, href);

    // What-if: add a node to the live map; the planner lists the moves.
    await page.locator('[data-test=whatif-live]').check();
    assert.match((await page.locator('[data-test=whatif-start]').textContent()) ?? '', /^start: 3 nodes/);
    await page.locator('[data-test=whatif-add]').fill('1');
    await page.locator('[data-test=whatif-run]').click();
    await page.locator('[data-test=whatif-result]').waitFor();
    const moves = Number((await page.locator('[data-test=whatif-moves]').textContent())!.replace(/,/g, ''));
    assert.ok(moves > 0, `moves listed: ${moves}`);
    assert.ok(await page.locator('[data-test=whatif-move-list] tbody tr').count() > 0);
    await shoot(page.locator('#whatif'), 'what-if');

    // A fourth node joins: its rebalance runs in small batches. Stop it from the page
    // while units are left, see it hold, then resume it to the end.
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => client.set(`bulk:${i + j}`, 'b'.repeat(1000))));
    }
    await addNode();
    await page.locator('[data-test=rebalance-state]', { hasText: 'running' }).waitFor({ timeout: 60_000 });
    // Units in motion are on the map, each with its phase.
    // Read in one go in the page: a batch's moves last only until it switches.
    // Follow a key of a unit in motion: the page shows from, to and phase. Done in one go
    // in the page, from the map it shows: a batch's moves last only until it switches.
    const map = db.map!;
    const keyOfUnit: Record<number, string> = {};
    for (let i = 0, found = 0; found < 2 ** map.unitBits && i < 200_000; i++) {
      const unit = unitOf(map, bucketOf(`mv:${i}`, map.bits));
      if (keyOfUnit[unit] === undefined) {
        keyOfUnit[unit] = `mv:${i}`;
        found++;
      }
    }
    const moving = await poll(async () => page.evaluate(`(async () => {
      const keys = ${JSON.stringify(keyOfUnit)};
      const row = document.querySelector('[data-test=moves] tbody tr');
      if (row === null) return null;
      const input = document.querySelector('[data-test=follow-key]');
      input.value = keys[Number(row.cells[0].textContent)];
      input.dispatchEvent(new Event('input', { bubbles: true }));
      await new Promise((r) => requestAnimationFrame(r));
      document.querySelector('[data-test=follow-go]').click();
      await new Promise((r) => requestAnimationFrame(r));
      const move = document.querySelector('[data-test=follow-move]').textContent;
      return move === 'none' ? null : row.textContent + ' / ' + move;
    })()`) as Promise<string | null>, 30_000, 'a followed key in motion');
    assert.match(moving, /(backfill|catchup|switch) \/ \S+ → \S+ \((backfill|catchup|switch)\)$/);
    await page.locator('[data-test=rebalance-stop]').click();
    await shoot(page.locator('.modal'), 'confirm');
    await confirm(page);
    await page.locator('[data-test=rebalance-state]', { hasText: 'stopped' }).waitFor();
    // The batch under way finishes; then nothing moves while units are left.
    const held = await poll(async () => {
      const r = await rebalanceApi(page);
      return r.moves.isStopped && !r.moves.isMoving ? r : null;
    }, 60_000, 'the current batch done');
    assert.ok(held.moves.unitsLeft > 0, `stopped with units left: ${held.moves.unitsLeft}`);
    await poll(async () => Number((await page.locator('[data-test=units-left]').textContent())!.replace(/,/g, '')) > 0 ? true : null, 10_000, 'units left on the page');
    assert.match((await page.locator('[data-test=bytes-left]').textContent()) ?? '', /^≈ \d/, 'bytes left estimated');
    await shoot(page.locator('#rebalance'), 'rebalance-stopped');
    assert.is((await rebalanceApi(page)).moves.unitsMoved, held.moves.unitsMoved, 'no unit moved while stopped');
    await page.locator('[data-test=rebalance-start]').click();
    await confirm(page);
    await poll(async () => {
      const r = await rebalanceApi(page);
      return !r.moves.isStopped && r.moves.unitsLeft === 0 && !r.moves.isMoving && r.isDone ? true : null;
    }, 120_000, 'the resumed rebalance done');
    await page.locator('[data-test=rebalance-state]', { hasText: 'idle' }).waitFor();
    await page.locator('[data-test=timeline] li[data-event=rebalance-stop]').first().waitFor();
    await page.locator('[data-test=timeline] li[data-event=rebalance-resume]').first().waitFor();
    await shoot(page.locator('#map'), 'map-four-nodes');
    // The charts, with the test's load behind them (taken while nothing moves: a list of
    // moves appearing above would shift the page under the screenshot).
    await shoot(page.locator('#charts'), 'charts');
    for (const name of ['leader-elected', 'node-join', 'node-add', 'epoch-change', 'rebalance-start', 'rebalance-finish']) {
      await page.locator(`[data-test=timeline] li[data-event=${name}]`).first().waitFor({ timeout: 10_000 });
    }

    // SIGKILL a node: the timeline shows the failover and the map changes.
    const epochBefore = Number(await attr(page, '[data-test=map-canvas]', 'data-epoch'));
    const victim = nodes[3]!;
    const victimId = await page.locator('[data-test=node-card]').evaluateAll((cards, address) => {
      const card = cards.find((c) => c.querySelector('.addr')?.textContent === address);
      return card?.getAttribute('data-node') ?? null;
    }, victim.address);
    assert.ok(victimId !== null, 'the victim has a card');
    await victim.stop('SIGKILL');
    await page.locator(`[data-test=node-card][data-node="${victimId}"][data-state=failed]`).waitFor({ timeout: 60_000 });
    await poll(async () => Number(await attr(page, '[data-test=map-canvas]', 'data-epoch')) > epochBefore ? true : null, 30_000, 'a newer epoch on the map');
    await page.locator('[data-test=timeline] li[data-event=failover]').first().waitFor({ timeout: 30_000 });
    await shoot(page.locator('#timeline'), 'timeline');
    await shoot(page.locator('#map'), 'map-after-failover');
    // The one refused login above is the only failed request.
    assert.equal(errors.filter((e) => !/status of 401/.test(e)), []);
  } finally {
    writing = false;
    await writer;
    await db?.close();
    await page.close();
  }
})));

test('a monitor watches but cannot act, nor see value sizes; a credentials file logs in too', () => withCluster({
  nodes: 1, isSecure: true, deadlineMs: 120_000, setup,
  nodeArgsFor: (dir) => ['--credentials', join(dir, 'cluster.json')],
}, async ({ manager, dir }) => withBrowser(async (browser) => {
  const { page, errors } = await openPage(browser, `${manager.address}/ui`);
  let admin: Page | null = null;
  const db = await connect({ map: manager.address, credentials: join(dir, 'cluster.json') });
  try {
    await logIn(page, WATCHER);
    await page.locator('[data-test=node-card]').first().waitFor();
    assert.is(await page.locator('[data-test=rebalance-stop]').count(), 0, 'no actions for a monitor');
    assert.is(await page.locator('.node-actions').count(), 0);
    // The admin API refuses the monitor's token for a change, whatever the page shows.
    // Page code as text: the test is compiled without the DOM's types.
    const status = await page.evaluate(`(async () => {
      const token = sessionStorage.getItem('pandakv.dashboard.token');
      const res = await fetch('/api/rebalance/stop', { method: 'POST', headers: { authorization: 'Bearer ' + token } });
      return res.status;
    })()`) as number;
    assert.is(status, 403);

    // A value size tells whether a key exists: a monitor following a key sees none, while
    // an admin's page following the same key (another tab, a credentials file) does.
    await db.set('secret:1', 'x'.repeat(321));
    const follow = async (p: Page): Promise<void> => {
      await p.locator('[data-test=follow-key]').fill('secret:1');
      await p.locator('[data-test=follow-go]').click();
    };
    const sizeOn = async (p: Page): Promise<string> => (await p.locator('[data-test=follow-chain] tbody tr [data-test=value-bytes]').first().textContent()) ?? '';
    await follow(page);
    await page.locator('[data-test=sizes-hidden]').waitFor();
    const second = (await openPage(browser, `${manager.address}/ui`));
    admin = second.page;
    await admin.locator('input[name=credentials]').setInputFiles(join(dir, 'cluster.json'));
    await admin.locator('[data-test=connection]', { hasText: 'live' }).waitFor();
    await follow(admin);
    await poll(async () => (await sizeOn(admin!)) === '321 B' ? true : null, 30_000, 'the admin page showing the size');
    const tickAt = async (): Promise<number> => Number(await page.locator('[data-test=connection]').getAttribute('data-tick-at'));
    const seenAt = await tickAt();
    await poll(async () => (await tickAt()) > seenAt + 1500 ? true : null, 30_000, 'two more ticks on the monitor page');
    assert.is(await sizeOn(page), '–', 'no size for a monitor');
    assert.equal(second.errors, []);

    // Log out; in again with the credentials file: an admin, with actions and the size.
    await page.locator('header.top .who button').click();
    await page.locator('.login').waitFor();
    await page.locator('input[name=credentials]').setInputFiles(join(dir, 'cluster.json'));
    await page.locator('[data-test=connection]', { hasText: 'live' }).waitFor();
    assert.match((await page.locator('header.top .who').textContent()) ?? '', /^cluster \(admin\)/);
    await page.locator('[data-test=rebalance-stop]').waitFor();
    await poll(async () => (await sizeOn(page)) === '321 B' ? true : null, 30_000, 'the size once an admin');
    assert.equal(errors.filter((e) => !/status of 403/.test(e)), []);
  } finally {
    await db.close();
    await admin?.close();
    await page.close();
  }
})));

test('the what-if on a synthetic cluster fails, removes, re-weights, re-zones and changes copies, with the planner\'s warnings', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-dash-'));
  const manager = await spawnManager(['--cfg', `file:${join(dir, 'cfg.json')}`, '--insecure']);
  try {
    await withBrowser(async (browser) => {
      const { page, errors } = await openPage(browser, `${manager.address}/ui`);
      try {
        // No cluster behind this manager: the what-if starts from a synthetic one.
        assert.ok(await page.locator('[data-test=whatif-synthetic]').isChecked());
        for (const [k, v] of [['nodes', '6'], ['zones', '0'], ['bits', '12'], ['redundancy', '2']] as const) await page.locator(`[data-test=whatif-syn-${k}]`).fill(v);
        await page.locator('[data-test=whatif-build]').click();
        assert.match((await page.locator('[data-test=whatif-start]').textContent()) ?? '', /^start: 6 nodes, 2\^12 buckets/);
        await page.locator('#whatif details summary').first().click();
        const row = (id: string): Locator => page.locator(`#whatif tr[data-node="${id}"]`);
        await row('node-0').locator('[data-test=whatif-fail]').check();
        await row('node-1').locator('[data-test=whatif-remove]').check();
        await row('node-2').locator('[data-test=whatif-weight]').fill('3');
        for (const [id, zone] of [['node-2', 'a'], ['node-3', 'a'], ['node-4', 'b'], ['node-5', 'b']]) await row(id!).locator('[data-test=whatif-zone]').fill(zone!);
        await page.locator('[data-test=whatif-add]').fill('0');
        await page.locator('[data-test=whatif-copies]').fill('3');
        await page.locator('[data-test=whatif-run]').click();
        await page.locator('[data-test=whatif-result]').waitFor();
        assert.ok(Number(await page.locator('[data-test=whatif-promoted]').textContent()) > 0, 'the failed node\'s units promoted');
        const after = async (id: string): Promise<number> => Number(await page.locator(`[data-test=whatif-node][data-node="${id}"]`).getAttribute('data-active-after'));
        assert.is(await after('node-0'), 0, 'failed');
        assert.is(await after('node-1'), 0, 'removed');
        assert.ok(await after('node-2') > 2 * await after('node-3'), 'weight 3 holds more');
        assert.ok(await page.locator('[data-test=whatif-warnings] li').count() > 0, 'three copies in two zones: a warning');
        assert.ok(Number((await page.locator('[data-test=whatif-moves]').textContent())!.replace(/,/g, '')) > 0);
        assert.equal(errors, []);
      } finally {
        await page.close();
      }
    });
  } finally {
    await manager.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test('a synthetic map of 100 nodes and 2^20 buckets renders and stays responsive', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-dash-'));
  const manager = await spawnManager(['--cfg', `file:${join(dir, 'cfg.json')}`, '--insecure']);
  try {
    await withBrowser(async (browser) => {
      const { page, errors } = await openPage(browser, `${manager.address}/ui?synthetic=100x20`);
      try {
        const t = await poll(async () => page.evaluate(() => {
          const x = (globalThis as unknown as { pandakvTimings: Record<string, number | null> }).pandakvTimings;
          const isMissing = (v: number | null | undefined): boolean => v === undefined || v === null;
          return isMissing(x.firstRenderMs) || isMissing(x.drawMs) ? null : { ...x };
        }), 120_000, 'the first render');
        assert.is(await attr(page, '[data-test=map-canvas]', 'data-nodes'), '100');
        assert.is(await attr(page, '[data-test=map-canvas]', 'data-units'), await attr(page, '[data-test=map-canvas]', 'data-active-total'));
        // Responsiveness: follow a key and time until the map is redrawn with it marked.
        const followMs = await page.evaluate(`(async () => {
          const input = document.querySelector('[data-test=follow-key]');
          const t0 = performance.now();
          input.value = 'user:42';
          input.dispatchEvent(new Event('input', { bubbles: true }));
          await new Promise((r) => requestAnimationFrame(r));
          document.querySelector('[data-test=follow-go]').click();
          while (pandakvTimings.drawnFollow === null) await new Promise((r) => requestAnimationFrame(r));
          return performance.now() - t0;
        })()`) as number;
        // A what-if on the big map (add 1 node) also runs in the page.
        await page.locator('[data-test=whatif-run]').click();
        await page.locator('[data-test=whatif-result]').waitFor({ timeout: 120_000 });
        const planText = await page.locator('[data-test=whatif-result] p').first().textContent();
        process.stdout.write(`  dashboard, 100 nodes x 2^20 buckets: planner ${t.planMs?.toFixed(0)} ms, grid ${t.gridMs?.toFixed(1)} ms, `
          + `draw ${t.drawMs?.toFixed(1)} ms, first render ${t.firstRenderMs?.toFixed(0)} ms, follow-a-key redraw ${followMs.toFixed(0)} ms; what-if: ${planText?.replace(/\s+/g, ' ').trim()}\n`);
        await shoot(page.locator('#map'), 'map-synthetic-100');
        assert.equal(errors, []);
      } finally {
        await page.close();
      }
    });
  } finally {
    await manager.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
