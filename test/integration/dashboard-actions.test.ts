import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { withCluster } from '../helpers/cluster.js';
import { poll, withDeadline } from '../helpers/deadline.js';
import { openPage, shoot, withBrowser } from '../helpers/browser.js';
import type { Page } from 'playwright-core';

const test = suite('integration - dashboard actions, node events and npm start in a real browser');

interface Status {
  map: { epoch: number; bits: number } | null;
  settings: { redundancy: number } | null;
  nodes: Array<{ id: string; address: string; state: string }>;
}

async function status(address: string): Promise<Status> {
  return await (await fetch(`${address}/api/status`)).json() as Status;
}

/**
 * Click an action, check its confirmation names it, then cancel, or confirm and wait for
 * the page to report the admin API's answer (an error fails the test with its text).
 */
async function act(page: Page, button: string, title: RegExp, answer: 'confirm' | 'cancel'): Promise<void> {
  const outcome = page.locator('[data-test=action-outcome]');
  const seqOf = async (): Promise<number> => (await outcome.count() === 0 ? 0 : Number(await outcome.getAttribute('data-seq')));
  const before = await seqOf();
  await page.locator(button).click();
  const modal = page.locator('.modal');
  await modal.waitFor();
  const heading = (await modal.locator('h3').textContent()) ?? '';
  assert.match(heading, title);
  await page.locator(`[data-test=${answer}]`).click();
  await modal.waitFor({ state: 'detached' });
  if (answer === 'cancel') return;
  const text = await poll(async () => (await seqOf() > before ? await outcome.textContent() : null), 180_000, `the answer to "${heading}"`);
  assert.match(text ?? '', /: done$/, text ?? '');
}

/** Wait until no move runs. */
async function idle(page: Page): Promise<void> {
  await page.locator('[data-test=rebalance-state]', { hasText: 'idle' }).waitFor({ timeout: 120_000 });
}

const card = (id: string, state: string): string => `[data-test=node-card][data-node="${id}"][data-state=${state}]`;

// Without auto-add, nodes wait as `joining` (and come back so after a failover) until an
// operator adds them: every state change below is the page's doing.
test('every action asks first: cancel changes nothing; confirmed, each one reaches the cluster', () => withCluster({
  nodes: 3, hasManagerDht: true, deadlineMs: 300_000, managerArgs: ['--failover-after-ms', '2000', '--redundancy', '1', '--no-auto-add'],
}, async ({ manager }) => withBrowser(async (browser) => {
  const { page, errors } = await openPage(browser, `${manager.address}/ui`);
  try {
    await poll(async () => (await page.locator('[data-test=node-card][data-live=true][data-state=joining]').count()) === 3 ? true : null, 60_000, '3 live joining nodes');
    const [a, b, c] = (await status(manager.address)).nodes.map((n) => n.id).sort();
    await act(page, `[data-node="${a}"] [data-test=add]`, /^Add /, 'cancel');
    assert.is(await page.locator(card(a!, 'joining')).count(), 1, 'cancel changed nothing');
    for (const id of [a, b, c]) {
      await act(page, `[data-node="${id}"] [data-test=add]`, /^Add /, 'confirm');
      await page.locator(card(id!, 'active')).waitFor({ timeout: 60_000 });
    }
    await idle(page);

    // Set redundancy: cancelled, nothing changes; confirmed, the cluster keeps two copies.
    await page.locator('[data-test=redundancy]').fill('2');
    await act(page, '[data-test=set-redundancy]', /^Set redundancy to 2\?$/, 'cancel');
    assert.is((await status(manager.address)).settings?.redundancy ?? 1, 1, 'cancel changed nothing');
    await act(page, '[data-test=set-redundancy]', /^Set redundancy to 2\?$/, 'confirm');
    assert.is((await status(manager.address)).settings?.redundancy, 2);
    await idle(page);

    // Split: every bucket in two, same owners.
    const bits = (await status(manager.address)).map!.bits;
    await act(page, '[data-test=split]', /^Split buckets\?$/, 'confirm');
    await poll(async () => (await status(manager.address)).map!.bits === bits + 1 ? true : null, 30_000, 'one more bucket bit');
    await idle(page);

    // Graceful failover of a node, then add it back; hard failover, add back.
    const failedAgain = async (id: string): Promise<void> => {
      await page.locator('[data-test=timeline] li[data-event=node-fail]', { hasText: `node=${id}` }).first().waitFor({ timeout: 60_000 });
      await page.locator(`[data-test=node-card][data-node="${id}"]:not([data-state=active])`).waitFor({ timeout: 60_000 });
    };
    await act(page, `[data-node="${a}"] [data-test=graceful-failover]`, /^Graceful failover /, 'confirm');
    await failedAgain(a!);
    await act(page, `[data-node="${a}"] [data-test=add]`, /^Add /, 'confirm');
    await page.locator(card(a!, 'active')).waitFor({ timeout: 60_000 });
    await idle(page);
    await act(page, `[data-node="${b}"] [data-test=failover]`, /^Hard failover /, 'cancel');
    assert.is(await page.locator(card(b!, 'active')).count(), 1, 'cancel changed nothing');
    await act(page, `[data-node="${b}"] [data-test=failover]`, /^Hard failover /, 'confirm');
    await failedAgain(b!);
    await act(page, `[data-node="${b}"] [data-test=add]`, /^Add /, 'confirm');
    await page.locator(card(b!, 'active')).waitFor({ timeout: 60_000 });
    await idle(page);

    // Remove: the node drains, then leaves the map and the page.
    await act(page, `[data-node="${c}"] [data-test=remove]`, /^Remove /, 'confirm');
    await page.locator(`[data-test=node-card][data-node="${c}"]`).waitFor({ state: 'detached', timeout: 120_000 });
    assert.equal((await status(manager.address)).nodes.map((n) => n.id).sort(), [a, b]);

    // Start a rebalance: nothing left to move.
    await act(page, '[data-test=rebalance-start]', /^Start rebalance\?$/, 'confirm');
    for (const name of ['node-fail', 'node-add', 'node-remove', 'failover']) await page.locator(`[data-test=timeline] li[data-event=${name}]`).first().waitFor();
    assert.equal(errors, []);
  } finally {
    await page.close();
  }
})));

test("a paused node's fence and unfence reach the timeline, relayed with its heartbeats; the timeline filters", () => withCluster({
  nodes: 3, hasManagerDht: true, deadlineMs: 180_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '2000'],
}, async ({ manager, nodes }) => withBrowser(async (browser) => {
  const { page, errors } = await openPage(browser, `${manager.address}/ui`);
  try {
    await poll(async () => (await page.locator('[data-test=node-card][data-live=true][data-state=active]').count()) === 3 ? true : null, 60_000, '3 live nodes');
    const victim = nodes[0]!;
    const id = (await status(manager.address)).nodes.find((n) => n.address === victim.address)!.id;
    const victimCard = page.locator(`[data-test=node-card][data-node="${id}"]`);
    const fencedOf = async (): Promise<string | null> => await victimCard.locator('[data-test=fenced]').getAttribute('data-fenced');
    assert.is(await fencedOf(), 'no', 'serving before the pause');
    assert.is(await victimCard.locator('[data-test=fenced-at]').textContent(), 'never');
    process.kill(victim.pid, 'SIGSTOP');
    try {
      // While it is paused the page knows what the manager knows: the node's lease ran out
      // (so it stopped serving), the manager failed it. The node itself has not noticed.
      await page.locator(`[data-test=node-card][data-node="${id}"][data-live=false]`).waitFor({ timeout: 60_000 });
      assert.is(await fencedOf(), 'lease');
      assert.is(await victimCard.locator('[data-test=fenced]').textContent(), 'yes (lease ran out)');
      assert.is(await victimCard.locator('[data-test=fenced-badge]').count(), 1);
      await page.locator('[data-test=timeline] li[data-event=node-fail]', { hasText: `node=${id}` }).first().waitFor({ timeout: 60_000 });
      await page.locator(`[data-test=node-card][data-node="${id}"][data-state=failed]`).waitFor({ timeout: 60_000 });
      assert.is(await page.locator('[data-test=timeline] li[data-event=fence]', { hasText: `node=${id}` }).count(), 0, 'no fence relayed while paused');
    } finally {
      process.kill(victim.pid, 'SIGCONT');
    }
    const fence = page.locator('[data-test=timeline] li[data-event=fence]', { hasText: `node=${id}` });
    await fence.first().waitFor({ timeout: 60_000 });
    await page.locator('[data-test=timeline] li[data-event=unfence]', { hasText: `node=${id}` }).first().waitFor({ timeout: 60_000 });
    // Once each, though resent until acknowledged.
    assert.is(await fence.count(), 1);
    // Its first heartbeat after the pause said it was fenced: the card keeps when.
    await poll(async () => ((await victimCard.locator('[data-test=fenced-at]').getAttribute('data-at')) ?? '') !== '' ? true : null, 60_000, 'the node reported its fence');
    await poll(async () => (await fencedOf() === 'no' && await victimCard.getAttribute('data-live') === 'true' ? true : null), 60_000, 'live and serving again');
    await shoot(victimCard, 'node-fenced-after');
    // The same event in the manager's log (GET /api/events).
    const events = await (await fetch(`${manager.address}/api/events?limit=500`)).json() as { events: Array<{ name: string; fields: Record<string, unknown> }> };
    assert.ok(events.events.some((e) => e.name === 'fence' && e.fields.node === id), 'fence in the manager event log');

    // Filter by name, then by text.
    await page.locator('[data-test=timeline-name]').selectOption('fence');
    const names = await page.locator('[data-test=timeline] li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-event')));
    assert.equal([...new Set(names)], ['fence']);
    await page.locator('[data-test=timeline-name]').selectOption('');
    await page.locator('[data-test=timeline-text]').fill(id);
    const shown = await page.locator('[data-test=timeline] li').allTextContents();
    assert.ok(shown.length >= 2 && shown.every((t) => t.includes(id)), `${shown.length} events of the node`);
    await shoot(page.locator('#timeline'), 'timeline-fence');
    assert.equal(errors, []);
  } finally {
    await page.close();
  }
})));

test('npm start (pandakv up) prints the dashboard URL and a login; the page shows its live cluster', async () => {
  const cli = fileURLToPath(new URL('../../bin/pandakv.js', import.meta.url));
  const up = spawn(process.execPath, [cli, 'up', '--nodes', '2', '--keys', '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(up, 'exit');
  const lines: string[] = [];
  try {
    const login = await withDeadline(new Promise<{ url: string; name: string; password: string }>((resolve, reject) => {
      let found: { url: string; name: string; password: string } | null = null;
      createInterface({ input: up.stdout! }).on('line', (line) => {
        lines.push(line);
        const m = /^dashboard +(http:\/\/\S+\/ui) +\(log in as (\S+) \/ ([0-9a-f]+)\)$/.exec(line);
        if (m !== null) found = { url: m[1]!, name: m[2]!, password: m[3]! };
        if (line.startsWith('Cluster is up') && found !== null) resolve(found);
      });
      up.once('exit', (code) => reject(new Error(`pandakv up exited ${code}:\n${lines.join('\n')}`)));
    }), 120_000, 'pandakv up ready');
    await withBrowser(async (browser) => {
      const { page, errors } = await openPage(browser, login.url);
      try {
        await page.locator('input[name=principal]').fill(login.name);
        await page.locator('input[name=password]').fill(login.password);
        await page.locator('.login button[type=submit]').click();
        await page.locator('[data-test=connection]', { hasText: 'live' }).waitFor({ timeout: 60_000 });
        await poll(async () => (await page.locator('[data-test=node-card][data-live=true][data-state=active]').count()) === 2 ? true : null, 60_000, '2 live nodes');
        const canvas = page.locator('[data-test=map-canvas]');
        await poll(async () => {
          const units = await canvas.getAttribute('data-units');
          return units !== null && units === await canvas.getAttribute('data-active-total') && await canvas.getAttribute('data-nodes') === '2' ? true : null;
        }, 30_000, 'a full map of the 2 nodes');
        assert.equal(errors, []);
      } finally {
        await page.close();
      }
    });
  } finally {
    if (up.exitCode === null && up.signalCode === null) up.kill('SIGTERM');
    await withDeadline(exited, 30_000, 'up exits').catch(() => up.kill('SIGKILL'));
  }
});

test.run();
