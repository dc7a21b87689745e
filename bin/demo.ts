import { Presets, SingleBar } from 'cli-progress';
import type { PandaClient } from '../sdk/index.js';

/** The demo workload of `pandakv up`: write, read back, count, route, scan, stats. */
export async function runDemo(db: PandaClient, keys: number): Promise<void> {
  const bar = new SingleBar({ format: 'demo      {bar} {value}/{total} ops  {rate} ops/s', hideCursor: true, stream: process.stdout }, Presets.shades_classic);
  const total = keys * 2;
  bar.start(total, 0, { rate: 0 });
  const started = Date.now();
  let done = 0;
  const report = (): void => bar.update(done, { rate: Math.round(done / Math.max(0.001, (Date.now() - started) / 1000)) });
  const key = (i: number): string => `demo:${String(i).padStart(8, '0')}`;
  const batch = 512;
  for (let i = 0; i < keys; i += batch) {
    const n = Math.min(batch, keys - i);
    await Promise.all(Array.from({ length: n }, (_, j) => db.set(key(i + j), `value-${i + j}`)));
    done += n;
    report();
  }
  let matched = 0;
  for (let i = 0; i < keys; i += batch) {
    const n = Math.min(batch, keys - i);
    const values = await db.getMany(Array.from({ length: n }, (_, j) => key(i + j)));
    values.forEach((v, j) => { if (v !== null && Buffer.from(v).toString() === `value-${i + j}`) matched++; });
    done += n;
    report();
  }
  bar.stop();
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(`wrote ${keys} keys and read back ${matched}/${keys} intact in ${seconds.toFixed(2)} s (${Math.round(total / seconds)} ops/s)\n`);
  const counter = await db.incr('demo:counter', 1n, { initial: 1n });
  process.stdout.write(`counter   demo:counter = ${counter}\n`);
  const route = db.route(key(42));
  process.stdout.write(`route     ${key(42)} → bucket ${route.bucket} of 2^${db.map!.bits}, unit ${route.unit}, node ${route.chain[0]} (epoch ${route.epoch})\n`);
  process.stdout.write('scan      first 3 keys from "demo:":');
  for await (const e of db.scan({ start: 'demo:', limit: 3 })) process.stdout.write(` ${e.key}=${Buffer.from(e.value).toString()}`);
  process.stdout.write('\n');
  const stats = await db.stats();
  for (const [addr, s] of Object.entries(stats)) {
    process.stdout.write(`stats     ${addr}: ${s.items} items, ${s.bytes} bytes accounted, ${Math.round(Number(s.rss_bytes) / 1048576)} MiB RSS\n`);
  }
}
