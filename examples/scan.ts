// Write a few keys and read a key range back in order with an async iterator.
// Usage: node dist/examples/scan.js ws://127.0.0.1:PORT [more node addresses…]
import { connect, jsonCodec } from 'pandakv';

const nodes = process.argv.slice(2);
if (nodes.length === 0) {
  console.error('usage: scan ws://HOST:PORT [...]');
  process.exit(2);
}

const db = await connect({ nodes, valueCodec: jsonCodec });
try {
  const cities = ['Oslo', 'Lima', 'Pune', 'Kyiv', 'Nice', 'Bern'];
  await Promise.all(cities.map((name, i) => db.set(`city:${name.toLowerCase()}`, { name, rank: i })));

  // Keys come back in byte order across every node, page by page.
  for await (const entry of db.scan({ start: 'city:', end: 'city;', pageSize: 2 })) {
    const doc = entry.value as { name: string; rank: number };
    console.log(entry.key, '→', doc.name, doc.rank);
  }

  // A bounded scan that can be resumed after the last key it returned.
  const page = db.scan({ start: 'city:', end: 'city;', limit: 3 });
  let last: Uint8Array | null = null;
  for await (const entry of page) last = entry.keyBytes;
  console.log('first page ended at', Buffer.from(last!).toString());
} finally {
  await db.close();
}
