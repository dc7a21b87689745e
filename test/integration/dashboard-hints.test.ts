import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { connect, type PandaClient } from '../../sdk/index.js';
import { bucketOf } from '../../shared/keystream.js';
import { chainOf } from '../../shared/cluster-map.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';
import { openPage, shoot, withBrowser } from '../helpers/browser.js';

const test = suite('integration - dashboard: a hint replay reaches the timeline');

interface ApiEvent {
  name: string;
  fields: Record<string, unknown>;
}

async function replicated(db: PandaClient): Promise<void> {
  await poll(async () => {
    const map = db.map;
    if (map === null || map.nodes.filter((n) => n.state === 'active').length < 3) return null;
    if (!map.runChains.every((c) => map.chains[c]!.length >= 2)) return null;
    await db.set('probe', 'x', { durability: 'majority', timeoutMs: 1000 });
    const stats = await db.stats();
    return Object.values(stats).every((s) => s.repl_backfilling === 0) ? true : null;
  }, 60_000, 'a replicated cluster');
}

// A replica paused for less than the failover time: its active's link to it times out,
// what it could not deliver goes to the third node as hints, and that node replays them
// once the replica runs again. The replay happens on the node; it relays the event with
// its heartbeats, and the page shows it.
test('a paused replica: hints held (cards), then replayed: hint-replay in /api/events and on the timeline', () => withCluster({
  // The failover time stays well above the pause (about 4 s for the link to drop and one
  // heartbeat, failover / 5 = 6 s, for the cards to show the hints), so the replica is
  // neither failed over nor fenced meanwhile; at 90 s the cards took 18 s heartbeats.
  nodes: 3, hasManagerDht: true, deadlineMs: 240_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '30000'],
  // Links to the paused replica drop after 4 s instead of 20: hints start sooner.
  nodeArgs: ['--peer-idle-timeout-ms', '4000'],
}, async ({ manager, nodes }) => withBrowser(async (browser) => {
  const { page, errors } = await openPage(browser, `${manager.address}/ui`);
  const db = await connect({ map: manager.address, timeoutMs: 3000 });
  const t0 = performance.now();
  const at = (): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  try {
    await poll(async () => (await page.locator('[data-test=node-card][data-live=true][data-state=active]').count()) === 3 ? true : null, 60_000, '3 live nodes');
    await replicated(db);
    process.stdout.write(`    (replicated at ${at()})\n`);
    const map = db.map!;
    const victim = nodes[1]!;
    const v = map.nodes.findIndex((n) => n.address === victim.address);
    assert.ok(v >= 0);
    // Keys whose replica is the victim.
    const keys: string[] = [];
    for (let i = 0; keys.length < 200; i++) {
      const chain = chainOf(map, bucketOf(`h:${i}`, map.bits));
      if (chain.length === 2 && chain[1] === v) keys.push(`h:${i}`);
    }
    const heldOnCards = async (): Promise<number> => {
      const texts = await page.locator('[data-test=node-card] [data-test=hints]').allTextContents();
      return texts.reduce((sum, t) => sum + (Number(t.replace(/[^0-9]/g, '')) || 0), 0);
    };
    process.kill(victim.pid, 'SIGSTOP');
    try {
      // The active hands off once its link to the paused replica times out (--peer-idle-timeout-ms).
      let i = 0;
      const held = await poll(async () => {
        await db.set(keys[i++ % keys.length]!, `hinted-${i}`);
        const n = await heldOnCards();
        return n > 0 ? n : null;
      }, 120_000, 'hints pending on a card', 250);
      process.stdout.write(`    (${held} hints pending on the cards while the replica is paused, at ${at()})\n`);
      assert.is(await page.locator('[data-test=timeline] li[data-event=hint-replay]').count(), 0, 'no replay yet');
    } finally {
      process.kill(victim.pid, 'SIGCONT');
    }
    const replay = page.locator('[data-test=timeline] li[data-event=hint-replay]');
    await replay.first().waitFor({ timeout: 90_000 });
    process.stdout.write(`    (hint-replay on the timeline at ${at()})\n`);
    const text = (await replay.first().textContent()) ?? '';
    assert.match(text, /delivered=\d+/);
    const events = await (await fetch(`${manager.address}/api/events?limit=500`)).json() as { events: ApiEvent[] };
    const relayed = events.events.filter((e) => e.name === 'hint-replay');
    assert.ok(relayed.length >= 1, 'hint-replay in the manager event log');
    // Relayed by a node other than the paused one (the fallback that held the hints).
    const victimId = map.nodes[v]!.id;
    assert.ok(relayed.every((e) => typeof e.fields.node === 'string' && e.fields.node !== victimId), JSON.stringify(relayed));
    assert.ok(relayed.reduce((sum, e) => sum + Number(e.fields.delivered ?? 0), 0) >= 1);
    await poll(async () => (await heldOnCards()) === 0 ? true : null, 60_000, 'no hints pending on the cards');
    process.stdout.write(`    (no hints pending on the cards at ${at()})\n`);
    await page.locator('[data-test=timeline-name]').selectOption('hint-replay');
    await shoot(page.locator('#timeline'), 'timeline-hint-replay');
    assert.equal(errors, []);
  } finally {
    await db.close();
    await page.close();
  }
})));

test.run();
