/**
 * Memory and speed check of the memory engine: loads N items of 16-byte keys and
 * 100-byte values in random key order, prints the marginal RSS per item against the raw
 * 116 bytes, then in-process get/set rates.
 *
 * Usage: node --expose-gc dist/cluster/node/engine/measure-memory.js [items=1000000]
 */
import { Buffer } from 'node:buffer';
import { MemoryEngine } from './memory-engine.js';

const KEY_BYTES = 16;
const VALUE_BYTES = 100;
const RAW_BYTES = KEY_BYTES + VALUE_BYTES;

const collect = (globalThis as { gc?: () => void }).gc;
if (collect === undefined) {
  console.error('run with node --expose-gc');
  process.exit(1);
}
const gc: () => void = collect;

const items = Number(process.argv[2] ?? 1_000_000);
const keyBuf = Buffer.alloc(KEY_BYTES);
keyBuf.write('key:', 'latin1');

/** A flat 16-byte binary key: "key:" + 12 hex digits of a bijective scramble of i. */
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

function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

function rate(ops: number, startMs: number): string {
  return `${((ops / (performance.now() - startMs)) * 1000 / 1e6).toFixed(2)} M/s`;
}

const engine = new MemoryEngine({ memorySizeMb: 8192 });
const value = new Uint8Array(VALUE_BYTES).fill(0x61);
const rssCold = settledRss();

// Bring the runtime to steady state first: the young generation grows to its working
// size under any allocation-heavy load; that is a fixed cost, not a per-item one.
let sink = 0;
for (let i = 0; i < items; i++) if (engine.get(keyOf(i)) === null) sink++;
const rssBefore = settledRss();

let t0 = performance.now();
for (let i = 0; i < items; i++) {
  value[0] = i & 0xff;
  value[1] = (i >>> 8) & 0xff;
  engine.set(keyOf(i), value, 0, 0);
}
const loadRate = rate(items, t0);
const rssAfter = settledRss();

const perItem = (rssAfter - rssBefore) / items;
const perItemCold = (rssAfter - rssCold) / items;
const s = engine.stats();
const mem = process.memoryUsage();
console.log(`items ${engine.size}, node ${process.version}, ${items} × (${KEY_BYTES} B key + ${VALUE_BYTES} B value)`);
console.log(`rss before ${mb(rssBefore)} MiB (cold ${mb(rssCold)}), after ${mb(rssAfter)} MiB`);
console.log(`marginal rss ${perItem.toFixed(1)} B/item = ${(perItem / RAW_BYTES).toFixed(2)} × raw`
  + ` (from cold start ${(perItemCold / RAW_BYTES).toFixed(2)} ×)`);
console.log(`accounted ${(s.bytes / items).toFixed(1)} B/item; slab ${mb(s.slabBytes)} MiB in ${s.slabPages} pages;`
  + ` heap used ${mb(mem.heapUsed)} MiB, heap total ${mb(mem.heapTotal)} MiB, array buffers ${mb(mem.arrayBuffers)} MiB`);

const probes: string[] = [];
for (let i = 0; i < 1 << 16; i++) probes.push(keyOf(Math.floor(Math.random() * items)));
const mask = probes.length - 1;
const rounds = 3_000_000;
for (let i = 0; i < 200_000; i++) if (engine.get(probes[i & mask]!) !== null) sink++;
t0 = performance.now();
for (let i = 0; i < rounds; i++) if (engine.get(probes[i & mask]!) !== null) sink++;
console.log(`load (new keys) ${loadRate}`);
console.log(`get (hit) ${rate(rounds, t0)}`);
t0 = performance.now();
for (let i = 0; i < rounds; i++) engine.set(probes[i & mask]!, value, 0, 0);
console.log(`set (overwrite) ${rate(rounds, t0)}`);
t0 = performance.now();
for (let i = 0; i < rounds; i++) if (engine.get(`miss:${i & mask}`) === null) sink++;
console.log(`get (miss) ${rate(rounds, t0)}`);
if (sink === 0) console.log('');
