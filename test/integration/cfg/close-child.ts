/**
 * Child process for the "close releases everything" tests: `close-child URL` opens the
 * store, uses every kind of resource (watch, kept-alive lease, leased key, campaign and a
 * waiting campaign), closes the store and then must exit on its own: any handle left open
 * would keep it alive and the parent's deadline fails the test.
 */
import { openCfg } from '../../../cluster/manager/cfg/open-cfg.js';

async function main(): Promise<void> {
  const url = process.argv[2];
  if (url === undefined) throw new Error('usage: close-child URL');
  const cfg = await openCfg(url);
  const { rev } = await cfg.list('');
  const watch = cfg.watch('', rev);
  const seen = new Promise<void>((resolve) => watch.once('event', () => resolve()));
  const lease = await cfg.grantLease(5000);
  lease.startKeepAlive(1000);
  await lease.keepAlive();
  await cfg.put('live/me', Buffer.from('up'), { lease });
  await seen;
  const leadership = await cfg.campaign('planner', 'me', lease);
  const other = await cfg.grantLease(5000);
  const waiting = cfg.campaign('planner', 'other', other).then(() => 'led', (err: Error & { code?: string }) => err.code);
  await cfg.cas('map', Buffer.from('m'), 0, { fence: leadership.fence });
  await cfg.close();
  process.stdout.write(`closed; waiting campaign: ${await waiting}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`close-child: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
