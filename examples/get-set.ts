// Store, read, update with cas, count and delete through the SDK.
// Usage: node dist/examples/get-set.js ws://127.0.0.1:PORT [more node addresses…]
import { connect, KvError } from 'pandakv';

const nodes = process.argv.slice(2);
if (nodes.length === 0) {
  console.error('usage: get-set ws://HOST:PORT [...]');
  process.exit(2);
}

const db = await connect({ nodes });
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
