// Write a few keys and read a key range back in order with an async iterator.
// Usage: node dist/examples/scan.js MAP_URL [CREDENTIALS_FILE]   (npm start prints both)
import { connect, jsonCodec } from 'pandakv';

const [map, credentials] = process.argv.slice(2);
if (map === undefined) {
  console.error('usage: scan MAP_URL [CREDENTIALS_FILE]   (npm start prints both)');
  process.exit(2);
}

// A key prefix keeps this example's keys apart from everything else in the cluster.
const db = await connect({ map, credentials: credentials ?? null, valueCodec: jsonCodec, keyPrefix: 'example:' });
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
