/**
 * `pandakv bench store`: the two embedded stores the disk engine could sit on, measured
 * side by side the way the engine would use them: puts in group commits that are on disk
 * before they count (lmdb: one transaction per group, waited for until flushed;
 * rocksdb-native: one write batch per group, then a flush of the memtable, as the binding
 * exposes no synced WAL write), and point gets of random keys (lmdb: synchronous reads;
 * rocksdb-native: asynchronous read batches).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { numberArg, parseCommandLine } from '../bin/cli-util.js';
import { open as openLmdb } from 'lmdb';
import RocksDB from 'rocksdb-native';
import { formatCount } from './histogram.js';

export interface StoreBenchOptions {
  /** Keys written and then read. @default 200000 */
  keys: number;
  /** Puts per group commit. @default 1024 */
  groupPuts: number;
  /** Keys per rocksdb read batch. @default 256 */
  readBatch: number;
  /** @default 100 */
  valueSize: number;
}

export const STORE_BENCH_DEFAULTS: Readonly<StoreBenchOptions> = Object.freeze({ keys: 200_000, groupPuts: 1024, readBatch: 256, valueSize: 100 });

const USAGE = `pandakv bench store [--keys N] [--group-puts N] [--read-batch N] [--value-size BYTES]
  lmdb vs rocksdb-native: fsync'd group-commit puts and point gets, in a temp dir.
`;

export interface StoreFigures {
  store: string;
  putsPerSec: number;
  getsPerSec: number;
  /** Gets that did not return the value written. */
  wrong: number;
}

function keyOf(i: number): Buffer {
  return Buffer.from(`key:${i.toString(36).padStart(12, '0')}`, 'latin1');
}

/** A permutation of 0..n-1, the same every run. */
function shuffled(n: number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  let seed = 0x9e3779b9;
  for (let i = n - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const j = seed % (i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

export async function benchLmdb(dir: string, o: StoreBenchOptions): Promise<StoreFigures> {
  const db = openLmdb({ path: join(dir, 'lmdb'), encoding: 'binary', keyEncoding: 'binary', separateFlushed: true });
  const value = Buffer.alloc(o.valueSize, 7);
  const t0 = performance.now();
  for (let i = 0; i < o.keys; i += o.groupPuts) {
    const end = Math.min(o.keys, i + o.groupPuts);
    const done = db.transaction(() => {
      for (let k = i; k < end; k++) db.put(keyOf(k), value);
    }) as Promise<unknown> & { flushed?: Promise<unknown> };
    await done;
    await (done.flushed ?? db.flushed);
  }
  const putsPerSec = o.keys / ((performance.now() - t0) / 1000);
  const order = shuffled(o.keys);
  let wrong = 0;
  const t1 = performance.now();
  for (let i = 0; i < o.keys; i++) {
    const v = db.getBinary(keyOf(order[i]!));
    if (v === undefined || v.length !== o.valueSize) wrong++;
  }
  const getsPerSec = o.keys / ((performance.now() - t1) / 1000);
  await db.close();
  return { store: 'lmdb', putsPerSec, getsPerSec, wrong };
}

export async function benchRocks(dir: string, o: StoreBenchOptions): Promise<StoreFigures> {
  const db = new RocksDB(join(dir, 'rocks'));
  await db.ready();
  const value = Buffer.alloc(o.valueSize, 7);
  const t0 = performance.now();
  for (let i = 0; i < o.keys; i += o.groupPuts) {
    const end = Math.min(o.keys, i + o.groupPuts);
    const w = db.write();
    for (let k = i; k < end; k++) w.tryPut(keyOf(k), value);
    await w.flush();
    w.destroy();
    await db.flush();
  }
  const putsPerSec = o.keys / ((performance.now() - t0) / 1000);
  const order = shuffled(o.keys);
  let wrong = 0;
  const t1 = performance.now();
  for (let i = 0; i < o.keys; i += o.readBatch) {
    const r = db.read();
    const pending: Array<Promise<Buffer | null>> = [];
    for (let k = i; k < Math.min(o.keys, i + o.readBatch); k++) pending.push(r.get(keyOf(order[k]!)));
    r.tryFlush();
    for (const v of await Promise.all(pending)) if (v === null || v.length !== o.valueSize) wrong++;
    r.destroy();
  }
  const getsPerSec = o.keys / ((performance.now() - t1) / 1000);
  await db.close();
  return { store: 'rocksdb-native', putsPerSec, getsPerSec, wrong };
}

/** Both stores, one after the other, each in a fresh temp dir. */
export async function runStoreBench(o: StoreBenchOptions, out: NodeJS.WritableStream): Promise<StoreFigures[]> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-store-bench-'));
  try {
    const figures: StoreFigures[] = [];
    out.write(`${o.keys} keys, ${o.valueSize}-byte values, ${o.groupPuts} puts per group commit\n`);
    for (const run of [benchLmdb, benchRocks]) {
      const f = await run(dir, o);
      figures.push(f);
      out.write(`  ${f.store.padEnd(15)} puts ${formatCount(f.putsPerSec)}/s   gets ${formatCount(f.getsPerSec)}/s${f.wrong > 0 ? `   ${f.wrong} WRONG` : ''}\n`);
    }
    return figures;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runStoreCli(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseCommandLine(argv, {
    keys: { type: 'string' }, 'group-puts': { type: 'string' }, 'read-batch': { type: 'string' }, 'value-size': { type: 'string' }, help: { type: 'boolean' },
  });
  if (values.help === true) {
    out.write(USAGE);
    return 0;
  }
  const o: StoreBenchOptions = { ...STORE_BENCH_DEFAULTS };
  const positive = (n: number): boolean => Number.isInteger(n) && n > 0;
  o.keys = numberArg(values, 'keys', positive) ?? o.keys;
  o.groupPuts = numberArg(values, 'group-puts', positive) ?? o.groupPuts;
  o.readBatch = numberArg(values, 'read-batch', positive) ?? o.readBatch;
  o.valueSize = numberArg(values, 'value-size', (n) => Number.isInteger(n) && n >= 0) ?? o.valueSize;
  const figures = await runStoreBench(o, out);
  return figures.some((f) => f.wrong > 0) ? 1 : 0;
}
