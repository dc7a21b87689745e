/**
 * Memory and speed check of the memory engine: loads N items of 16-byte keys and
 * 100-byte values in random key order, prints the marginal RSS per item against the raw
 * 116 bytes, then in-process get/set rates.
 *
 * Usage: node --expose-gc dist/cluster/node/engine/measure-memory.js [items=1000000]
 */
import { Buffer } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import { MemoryEngine } from './memory-engine.js';

const KEY_BYTES = 16;
const VALUE_BYTES = 100;
const RAW_BYTES = KEY_BYTES + VALUE_BYTES;
// V8 shrinks a grown young generation only after some seconds without allocation.
const IDLE_POLL_MS = 1000;
const IDLE_MAX_MS = 30_000;
const PROBE_KEYS = 1 << 16;
const ROUNDS = 2_000_000;

const collect = (globalThis as { gc?: () => void }).gc;
if (collect === undefined) {
  console.error('run with node --expose-gc');
  process.exit(1);
}
const gc: () => void = collect;

const items = Number(process.argv[2] ?? 1_000_000);
const keyBuf = Buffer.alloc(KEY_BYTES);
keyBuf.write('key:', 'latin1');

/** A flat 16-byte binary key: "key:" + 12 hex digits, distinct for every i < 2^32. */
function keyOf(i: number): string {
  const x = Math.imul(i, 0x9e3779b1) >>> 0;
  keyBuf.write(x.toString(16).padStart(8, '0'), 4, 'latin1');
  keyBuf.write((i & 0xffff).toString(16).padStart(4, '0'), 12, 'latin1');
  return keyBuf.toString('latin1');
}

function settledRss(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().rss;
}

function youngBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

function ratio(bytes: number): string {
  const perItem = bytes / items;
  return `${perItem.toFixed(1)} B/item = ${(perItem / RAW_BYTES).toFixed(2)} × raw`;
}

/** Runs `fn` `count` times; ops/s by wall clock and by this process's CPU time. */
function measure(count: number, fn: (i: number) => void): string {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) fn(i);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return `${(count / wallMs / 1000).toFixed(2)} M/s wall, ${(count / cpuMs / 1000).toFixed(2)} M/s per CPU-second`;
}

async function main(): Promise<void> {
  const engine = new MemoryEngine({ memorySizeMb: 8192 });
  const value = new Uint8Array(VALUE_BYTES).fill(0x61);
  const rssBefore = settledRss();
  const youngBefore = youngBytes();

  const load = measure(items, (i) => {
    value[0] = i & 0xff;
    engine.set(keyOf(i), value, 0, 0);
  });
  const rssLoaded = settledRss();
  const youngGrowth = youngBytes() - youngBefore;
  let idleMs = 0;
  while (idleMs < IDLE_MAX_MS && youngBytes() > youngBefore + youngGrowth / 4) {
    await sleep(IDLE_POLL_MS);
    idleMs += IDLE_POLL_MS;
  }
  const rssIdle = settledRss();

  const s = engine.stats();
  const mem = process.memoryUsage();
  console.log(`${engine.size} items of ${KEY_BYTES} B key + ${VALUE_BYTES} B value; node ${process.version}`);
  console.log(`rss before ${mb(rssBefore)} MiB, after load ${mb(rssLoaded)} MiB,`
    + ` after ${idleMs / 1000} s idle ${mb(rssIdle)} MiB`);
  console.log(`marginal rss right after load: ${ratio(rssLoaded - rssBefore)}`
    + ` (of which ${mb(youngGrowth)} MiB is V8's young generation, grown by the load)`);
  console.log(`marginal rss once idle:        ${ratio(rssIdle - rssBefore)} (young generation shrunk back)`);
  console.log(`accounted ${(s.bytes / items).toFixed(1)} B/item; slabs ${mb(s.slabBytes)} MiB in ${s.slabPages} pages;`
    + ` array buffers ${mb(mem.arrayBuffers)} MiB; JS heap used ${mb(mem.heapUsed)} MiB`);

  const probes: string[] = [];
  for (let i = 0; i < PROBE_KEYS; i++) probes.push(keyOf(Math.floor(Math.random() * items)));
  const misses: string[] = [];
  for (let i = 0; i < PROBE_KEYS; i++) misses.push(keyOf(items + i));
  const mask = PROBE_KEYS - 1;
  let found = 0;
  measure(ROUNDS / 10, (i) => {
    if (engine.get(probes[i & mask]!) !== null) found++;
  });
  console.log(`set, new keys (load):  ${load}`);
  console.log(`get, hit:              ${measure(ROUNDS, (i) => {
    if (engine.get(probes[i & mask]!) !== null) found++;
  })}`);
  console.log(`get, miss:             ${measure(ROUNDS, (i) => {
    if (engine.get(misses[i & mask]!) !== null) found++;
  })}`);
  console.log(`set, overwrite:        ${measure(ROUNDS, (i) => {
    engine.set(probes[i & mask]!, value, 0, 0);
  })}`);
  if (found === 0) throw new Error('no key was found');
}

await main();
