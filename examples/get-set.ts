// Store, read, update with cas, count and delete through the SDK.
// Usage: node dist/examples/get-set.js MAP_URL [CREDENTIALS_FILE]
//   MAP_URL: the manager's map service, as `npm start` prints it (ws://127.0.0.1:PORT/map)
//   CREDENTIALS_FILE: a principal's credentials (npm start writes dev.credentials.json);
//   leave it out for a cluster started with --insecure.
import { connect, KvError } from 'pandakv';

const [map, credentials] = process.argv.slice(2);
if (map === undefined) {
  console.error('usage: get-set MAP_URL [CREDENTIALS_FILE]   (npm start prints both)');
  process.exit(2);
}

const db = await connect({ map, credentials: credentials ?? null });
try {
  await db.set('greeting', 'hello, world', { ttl: 60 });
  const value = await db.get('greeting');
  console.log('greeting =', Buffer.from(value!).toString());

  // Optimistic update: only write if nobody changed the item since we read it.
  const item = await db.getItem('greeting');
  await db.set('greeting', 'hello again', { cas: item!.cas });
  try {
    await db.set('greeting', 'lost update', { cas: item!.cas });
  } catch (err) {
    if (err instanceof KvError && err.code === 'KV_ERR_EXISTS') console.log('stale cas refused');
    else throw err;
  }

  const visits = await db.incr('visits', 1n, { initial: 1n });
  console.log('visits =', visits.toString());

  const where = db.route('greeting');
  console.log(`greeting lives in bucket ${where.bucket} on ${where.chain[0]}`);

  console.log('deleted:', await db.delete('greeting'));
} finally {
  await db.close();
}
