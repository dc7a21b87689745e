/**
 * `pandakv bench durable`: the disk engine against the memory engine in the same run, one
 * node each, through the SDK at 64 requests in flight: SET with durability none and
 * persist, GET of a hot key space (in the read cache) and of a cold one (five times the
 * read cache), and the time a disk node with N items takes from start to its first
 * answer. Each disk figure is printed with its ratio to the memory engine's. Redis with
 * appendfsync is compared only when `redis-server` and `ioredis` are installed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { numberArg, parseCommandLine } from '../bin/cli-util.js';
import { spawnNode, type Spawned } from '../bin/spawn.js';
import { connect, type Durability, type PandaClient } from '../sdk/index.js';
import { formatCount } from './histogram.js';
import { emptyResults, finishRun, makeFigure, runPhase, type Figure } from './report.js';

export interface DurableBenchOptions {
  /** Length of each timed run, seconds. @default 3 */
  seconds: number;
  /** Requests outstanding. @default 64 */
  inflight: number;
  /** Keys of the hot runs. @default 20000 */
  keys: number;
  /** @default 100 */
  valueSize: number;
  /** Read cache of the cold run, MiB; the cold data set is five times it. @default 8 */
  coldCacheMb: number;
  /** Items loaded before the restart is timed. @default 1000000 */
  restartItems: number;
  /** Results file. @default 'bench-results.json' */
  jsonFile: string;
}

export const DURABLE_BENCH_DEFAULTS: Readonly<DurableBenchOptions> = Object.freeze({
  seconds: 3, inflight: 64, keys: 20_000, valueSize: 100, coldCacheMb: 8, restartItems: 1_000_000, jsonFile: 'bench-results.json',
});

const USAGE = `pandakv bench durable [--seconds S] [--inflight N] [--keys N] [--value-size B] [--cold-cache-mb MB] [--restart-items N] [--json FILE]
  disk engine vs memory engine, one node each: SET none/persist, GET hot/cold, restart time.
`;

interface Rate {
  opsPerSec: number;
  errors: number;
  firstError: string | null;
}

/** `inflight` workers each with one request out, for `seconds`. */
async function closedLoop(seconds: number, inflight: number, op: (i: number) => Promise<unknown>): Promise<Rate> {
  const until = performance.now() + seconds * 1000;
  let ops = 0;
  let errors = 0;
  let firstError: string | null = null;
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      try {
        await op(next++);
        ops++;
      } catch (err) {
        errors++;
        firstError ??= (err as { code?: string }).code ?? String(err);
        if (errors > 1000) return;
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return { opsPerSec: ops / ((performance.now() - t0) / 1000), errors, firstError };
}

/** Write keys 0..n-1 with `inflight` writers. */
async function load(db: PandaClient, n: number, inflight: number, value: Uint8Array, prefix = 'k'): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) await db.set(`${prefix}:${i}`, value);
  };
  await Promise.all(Array.from({ length: inflight }, worker));
}

async function withNode<T>(args: string[], body: (node: Spawned, db: PandaClient) => Promise<T>): Promise<T> {
  const node = await spawnNode(['--insecure', ...args], 60_000);
  const db = await connect({ nodes: [node.address], timeoutMs: 10_000 });
  try {
    return await body(node, db);
  } finally {
    await db.close();
    await node.stop('SIGKILL');
  }
}

interface EngineRun {
  setNone: Rate;
  setPersist: Rate | null;
  getHot: Rate;
  getCold: Rate;
}

async function runEngine(kind: 'memory' | 'disk', o: DurableBenchOptions, dir: string, out: NodeJS.WritableStream): Promise<EngineRun> {
  const value = new Uint8Array(o.valueSize).fill(120);
  const dataArgs = (name: string): string[] => (kind === 'disk' ? ['--data-dir', join(dir, `${kind}-${name}`)] : ['--engine', 'memory']);
  const setWith = (db: PandaClient, durability: Durability) => (i: number) => db.set(`k:${i % o.keys}`, value, { durability });
  const hot = await withNode([...dataArgs('hot'), '--memory-size', '512'], async (_node, db) => {
    await load(db, o.keys, o.inflight, value);
    const setNone = await closedLoop(o.seconds, o.inflight, setWith(db, 'none'));
    const setPersist = kind === 'disk' ? await closedLoop(o.seconds, o.inflight, setWith(db, 'persist')) : null;
    let seed = 12345;
    const getHot = await closedLoop(o.seconds, o.inflight, () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return db.get(`k:${seed % o.keys}`);
    });
    return { setNone, setPersist, getHot };
  });
  // Cold: 1 KiB values, five times the disk node's read cache.
  const big = new Uint8Array(1024).fill(121);
  const coldKeys = Math.ceil((5 * o.coldCacheMb * 1024 * 1024) / 1024);
  const memoryMb = kind === 'disk' ? o.coldCacheMb : Math.max(64, 8 * o.coldCacheMb);
  const getCold = await withNode([...dataArgs('cold'), '--memory-size', String(memoryMb)], async (_node, db) => {
    await load(db, coldKeys, o.inflight, big, 'c');
    let seed = 777;
    return closedLoop(o.seconds, o.inflight, () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return db.get(`c:${seed % coldKeys}`);
    });
  });
  out.write(`  ${kind.padEnd(6)} SET none ${formatCount(hot.setNone.opsPerSec)}/s`
    + `${hot.setPersist === null ? '' : `   SET persist ${formatCount(hot.setPersist.opsPerSec)}/s`}`
    + `   GET hot ${formatCount(hot.getHot.opsPerSec)}/s   GET cold (${coldKeys} × 1 KiB) ${formatCount(getCold.opsPerSec)}/s\n`);
  return { ...hot, getCold };
}

/** Start a disk node on `dataDir` and time it to its first answer. */
async function timeRestart(o: DurableBenchOptions, dir: string, out: NodeJS.WritableStream): Promise<number> {
  const dataDir = join(dir, 'restart');
  const value = new Uint8Array(o.valueSize).fill(122);
  await withNode(['--data-dir', dataDir, '--memory-size', '64'], async (node, db) => {
    await load(db, o.restartItems, o.inflight * 4, value, 'r');
    await db.set('r:last', value, { durability: 'persist' });
    await node.stop('SIGKILL');
  });
  const t0 = performance.now();
  return withNode(['--data-dir', dataDir, '--memory-size', '64'], async (_node, db) => {
    const item = await db.get(`r:${o.restartItems - 1}`);
    const ms = performance.now() - t0;
    if (item === null) throw new Error('restarted node lost the last loaded item');
    out.write(`  restart of a disk node holding ${o.restartItems} items (after SIGKILL) to its first answer: ${ms.toFixed(0)} ms\n`);
    return ms;
  });
}

function hasRedis(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function runDurableBench(o: DurableBenchOptions, out: NodeJS.WritableStream): Promise<Figure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-durable-bench-'));
  try {
    out.write(`one node per engine, ${o.inflight} in flight, ${o.seconds} s per run, ${o.valueSize}-byte values\n`);
    const mem = await runEngine('memory', o, dir, out);
    const disk = await runEngine('disk', o, dir, out);
    const restartMs = await timeRestart(o, dir, out);
    const ratio = (a: number, b: number): number => a / b;
    const figures = [
      makeFigure('durable.setNone.ratio', 'disk SET none / memory SET', ratio(disk.setNone.opsPerSec, mem.setNone.opsPerSec), 'ratio', null),
      makeFigure('durable.setPersist.opsPerSec', 'disk SET persist', disk.setPersist?.opsPerSec ?? 0, 'ops/s', { comparison: '>=', value: 46_000 }),
      makeFigure('durable.setPersist.ratio', 'disk SET persist / memory SET', ratio(disk.setPersist?.opsPerSec ?? 0, mem.setNone.opsPerSec), 'ratio', null),
      makeFigure('durable.getHot.ratio', 'disk GET hot / memory GET', ratio(disk.getHot.opsPerSec, mem.getHot.opsPerSec), 'ratio', { comparison: '>=', value: 0.8 }),
      makeFigure('durable.getCold.ratio', 'disk GET cold (5× cache) / memory GET', ratio(disk.getCold.opsPerSec, mem.getCold.opsPerSec), 'ratio', null),
      makeFigure('durable.restartMs', `restart with ${o.restartItems} items`, restartMs, 'ms', { comparison: '<=', value: 5000 }),
    ];
    for (const r of [disk.setNone, disk.setPersist, disk.getHot, disk.getCold]) {
      if (r !== null && r.errors > 0) out.write(`  ${r.errors} errors (${r.firstError ?? '?'})\n`);
    }
    if (!hasRedis()) out.write('  redis-server not installed: no Redis appendfsync comparison in this run (the brief quotes ~46 k SET/s with appendfsync always)\n');
    return figures;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runDurableCli(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseCommandLine(argv, {
    seconds: { type: 'string' }, inflight: { type: 'string' }, keys: { type: 'string' }, 'value-size': { type: 'string' },
    'cold-cache-mb': { type: 'string' }, 'restart-items': { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean' },
  });
  if (values.help === true) {
    out.write(USAGE);
    return 0;
  }
  const positive = (n: number): boolean => Number.isFinite(n) && n > 0;
  const o: DurableBenchOptions = { ...DURABLE_BENCH_DEFAULTS };
  o.seconds = numberArg(values, 'seconds', positive) ?? o.seconds;
  o.inflight = numberArg(values, 'inflight', (n) => Number.isInteger(n) && n > 0) ?? o.inflight;
  o.keys = numberArg(values, 'keys', (n) => Number.isInteger(n) && n > 0) ?? o.keys;
  o.valueSize = numberArg(values, 'value-size', (n) => Number.isInteger(n) && n >= 0) ?? o.valueSize;
  o.coldCacheMb = numberArg(values, 'cold-cache-mb', positive) ?? o.coldCacheMb;
  o.restartItems = numberArg(values, 'restart-items', (n) => Number.isInteger(n) && n > 0) ?? o.restartItems;
  if (typeof values.json === 'string') o.jsonFile = values.json;
  const results = emptyResults(o.jsonFile);
  out.write(`pandakv bench durable on ${results.machine.cpus} × ${results.machine.cpuModel}, Node ${results.machine.node}\n`);
  await runPhase('durable', results, out, () => runDurableBench(o, out));
  return finishRun(results, o.jsonFile, out);
}
