/**
 * A client on the far side of a network partition (run inside a network namespace by
 * test/integration/partition.test.ts): it follows the map while it can, then keeps the
 * last one, and writes and reads through whatever node that map names. Prints one JSON
 * line per finished operation until SIGTERM.
 *
 * Usage: node partition-client.js MAP_URL WRITE_KEYS(comma list) READ_KEYS(comma list)
 */
import { connect } from '../../sdk/index.js';

async function main(): Promise<void> {
  const [mapUrl, writeList, readList] = process.argv.slice(2);
  if (mapUrl === undefined || writeList === undefined || readList === undefined) throw new Error('usage: MAP_URL WRITE_KEYS READ_KEYS');
  const writeKeys = writeList.split(',');
  const readKeys = readList.split(',');
  const db = await connect({ map: mapUrl, timeoutMs: 1000, connectTimeoutMs: 500 });
  let isRunning = true;
  process.once('SIGTERM', () => { isRunning = false; });
  const out = (o: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
  out({ t: 'ready' });
  for (let i = 0; isRunning; i++) {
    const key = writeKeys[i % writeKeys.length]!;
    const durability = i % 2 === 0 ? 'none' : 'majority';
    const value = `ns:${i}`;
    const readKey = readKeys[i % readKeys.length]!;
    const startedAt = Date.now();
    const [w, r] = await Promise.all([
      db.set(key, value, { durability }).then(() => true, () => false),
      db.get(readKey).then((v) => (v === null ? null : Buffer.from(v).toString()), () => undefined),
    ]);
    out({ t: 'set', key, value, durability, ok: w, startedAt, at: Date.now() });
    out({ t: 'get', key: readKey, value: r ?? null, ok: r !== undefined, startedAt, at: Date.now() });
  }
  db.destroy();
}

main().catch((err: unknown) => {
  process.stderr.write(`partition client: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
