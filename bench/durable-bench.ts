/**
 * `pandakv bench durable`: the disk engine against the memory engine and against Redis with
 * its append-only file, in the same run, at 64 requests in flight:
 *
 * - one node per engine: SET with durability none, persist and persistMajority (on one
 *   node persistMajority is persist), GET of a hot key space (in the read cache) and of a
 *   cold one (five times the disk node's read cache);
 * - 3 nodes, redundancy 2, per engine: SET none, majority, persist, persistMajority;
 * - `redis-server --appendonly yes --appendfsync always` and `everysec` (ioredis with
 *   auto-pipelining), when redis-server and ioredis are installed;
 * - the time a disk node holding N items takes from start to its first answer.
 *
 * The machine is shared, so every contender runs at once and the timed runs alternate
 * (`rounds` slices of `seconds / rounds` each): a burst of load elsewhere hits every
 * series alike, and the ratios hold better than the rates. Each series also reports the
 * server's CPU time per operation (from /proc), which load elsewhere disturbs far less.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { numberArg, parseCommandLine } from '../bin/cli-util.js';
import { spawnNode, type Spawned } from '../bin/spawn.js';
import { connect, type Durability, type PandaClient } from '../sdk/index.js';
import { measureDiskFloor } from './disk-floor.js';
import { formatCount } from './histogram.js';
import { redisAofMissing, startRedisAof, type RedisAof } from './redis-aof.js';
import { connectRepl, startReplCluster, waitReplicated, type Client, type ReplCluster } from './repl-cluster.js';
import { emptyResults, finishRun, makeFigure, runPhase, type Figure } from './report.js';

export interface DurableBenchOptions {
  /** Timed seconds per series, split over `rounds`. @default 3 */
  seconds: number;
  /** Slices each series is split into, alternating with the other series. @default 3 */
  rounds: number;
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
  /** Run the 3-node, redundancy 2 series. @default true */
  hasCluster: boolean;
  /** Results file. @default 'bench-results.json' */
  jsonFile: string;
}

export const DURABLE_BENCH_DEFAULTS: Readonly<DurableBenchOptions> = Object.freeze({
  seconds: 3, rounds: 3, inflight: 64, keys: 20_000, valueSize: 100, coldCacheMb: 8, restartItems: 1_000_000, hasCluster: true,
  jsonFile: 'bench-results.json',
});

const USAGE = `pandakv bench durable [--seconds S] [--rounds N] [--inflight N] [--keys N] [--value-size B]
                      [--cold-cache-mb MB] [--restart-items N] [--no-cluster] [--json FILE]
  disk engine vs memory engine vs Redis AOF (always, everysec), in one run:
  one node: SET none/persist/persistMajority, GET hot/cold; 3 nodes r = 2: SET none/majority/
  persist/persistMajority; restart time of a disk node holding --restart-items items.
`;

const SPAWN_TIMEOUT_MS = 60_000;

/** One timed series, accumulated over its slices. */
interface Series {
  name: string;
  /** Runs one operation; `i` counts up. */
  op: (i: number) => Promise<unknown>;
  /** Server processes whose CPU time is charged to this series. */
  pids: number[];
  ops: number;
  ms: number;
  cpuMs: number;
  errors: number;
  firstError: string | null;
}

function series(name: string, pids: number[], op: (i: number) => Promise<unknown>): Series {
  return { name, op, pids, ops: 0, ms: 0, cpuMs: 0, errors: 0, firstError: null };
}

const rateOf = (s: Series): number => (s.ms > 0 ? (s.ops * 1000) / s.ms : 0);
const cpuUsPerOp = (s: Series): number => (s.ops > 0 ? (s.cpuMs * 1000) / s.ops : Number.NaN);

/** CPU time (user + system) of process `pid` so far, ms; NaN where /proc is not there. */
function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

const cpuOfAll = (pids: readonly number[]): number => pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);

/** `inflight` workers each with one request out for `ms`; the slice's figures are added to `s`. */
async function runSlice(s: Series, ms: number, inflight: number): Promise<void> {
  const until = performance.now() + ms;
  let next = 0;
  const cpu0 = cpuOfAll(s.pids);
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      try {
        await s.op(next++);
        s.ops++;
      } catch (err) {
        s.errors++;
        s.firstError ??= (err as { code?: string }).code ?? String(err);
        if (s.errors > 1000) return;
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  s.ms += performance.now() - t0;
  s.cpuMs += cpuOfAll(s.pids) - cpu0;
}

/** Every series `rounds` times in turn, `seconds / rounds` each. */
async function alternate(list: readonly Series[], o: DurableBenchOptions): Promise<void> {
  const sliceMs = (o.seconds * 1000) / o.rounds;
  for (let r = 0; r < o.rounds; r++) for (const s of list) await runSlice(s, sliceMs, o.inflight);
}

/** Write keys `${prefix}:0..n-1` with `inflight` writers. */
async function load(set: (key: string) => Promise<unknown>, n: number, inflight: number, prefix: string): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) await set(`${prefix}:${i}`);
  };
  await Promise.all(Array.from({ length: inflight }, worker));
}

/** A random key of `k:0..n-1` per call (a fixed LCG, so every run reads alike). */
function randomKeys(n: number, prefix: string): () => string {
  let seed = 12345;
  return () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return `${prefix}:${seed % n}`;
  };
}

interface NodeHandle {
  node: Spawned;
  db: PandaClient;
}

/** Everything started for the run, stopped by pid in reverse order. */
class Started {
  private readonly closers: Array<() => Promise<unknown>> = [];

  add(close: () => Promise<unknown>): void {
    this.closers.push(close);
  }

  async node(args: string[]): Promise<NodeHandle> {
    const node = await spawnNode(['--insecure', ...args], SPAWN_TIMEOUT_MS);
    this.add(() => node.stop('SIGKILL'));
    const db = await connect({ nodes: [node.address], timeoutMs: 10_000 });
    this.add(() => db.close());
    return { node, db };
  }

  async cluster(nodeArgs: string[]): Promise<{ cluster: ReplCluster; db: Client }> {
    const cluster = await startReplCluster({ nodes: 3, managerArgs: [], nodeMemoryMb: 256, spawnTimeoutMs: SPAWN_TIMEOUT_MS, nodeArgs });
    this.add(() => cluster.close());
    const db = await connectRepl(cluster.manager.address, { inflight: 64, timeoutMs: 10_000 });
    this.add(() => db.close());
    await waitReplicated(db, 3, 120_000);
    return { cluster, db };
  }

  async redis(dir: string, fsync: 'always' | 'everysec'): Promise<RedisAof> {
    const r = await startRedisAof(dir, fsync, SPAWN_TIMEOUT_MS);
    this.add(() => r.close());
    return r;
  }

  async closeAll(): Promise<void> {
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
    this.closers.length = 0;
  }
}

function line(s: Series, base: Array<[string, Series | null]>): string {
  const ratios = base.filter(([, b]) => b !== null).map(([label, b]) => `${(rateOf(s) / rateOf(b!)).toFixed(2)}× ${label}`);
  const cpu = cpuUsPerOp(s);
  return `  ${s.name.padEnd(34)} ${`${formatCount(rateOf(s))}/s`.padStart(11)}   server CPU ${Number.isFinite(cpu) ? `${cpu.toFixed(1)} µs/op` : 'n/a'}`
    + `${ratios.length > 0 ? `   ${ratios.join('   ')}` : ''}${s.errors > 0 ? `   ${s.errors} errors (${s.firstError ?? '?'})` : ''}\n`;
}

interface OneNodeResult {
  memSet: Series;
  diskSet: Series;
  diskPersist: Series;
  diskPersistMajority: Series;
  memGetHot: Series;
  diskGetHot: Series;
  memGetCold: Series;
  diskGetCold: Series;
  redisAlways: Series | null;
  redisEverysec: Series | null;
}

/** One node per engine (and the Redis servers), all up at once, the series alternating. */
async function oneNode(o: DurableBenchOptions, dir: string, started: Started, redisSkip: string | null, out: NodeJS.WritableStream): Promise<OneNodeResult> {
  const value = new Uint8Array(o.valueSize).fill(120);
  const big = new Uint8Array(1024).fill(121);
  const coldKeys = Math.ceil((5 * o.coldCacheMb * 1024 * 1024) / 1024);
  const mem = await started.node(['--engine', 'memory', '--memory-size', '512']);
  const disk = await started.node(['--data-dir', join(dir, 'disk-hot'), '--memory-size', '512']);
  const memCold = await started.node(['--engine', 'memory', '--memory-size', String(Math.max(64, 8 * o.coldCacheMb))]);
  const diskCold = await started.node(['--data-dir', join(dir, 'disk-cold'), '--memory-size', String(o.coldCacheMb)]);
  const always = redisSkip === null ? await started.redis(dir, 'always') : null;
  const everysec = redisSkip === null ? await started.redis(dir, 'everysec') : null;
  for (const h of [mem, disk]) await load((k) => h.db.set(k, value), o.keys, o.inflight, 'k');
  for (const h of [memCold, diskCold]) await load((k) => h.db.set(k, big), coldKeys, o.inflight, 'c');
  for (const r of [always, everysec]) if (r !== null) await load((k) => r.client.set(k, Buffer.from(value)), o.keys, o.inflight, 'k');
  const setWith = (h: NodeHandle, durability: Durability) => (i: number) => h.db.set(`k:${i % o.keys}`, value, { durability });
  const redisSet = (r: RedisAof) => (i: number) => r.client.set(`k:${i % o.keys}`, Buffer.from(value));
  const pid = (h: NodeHandle): number[] => [h.node.pid];
  const hot = randomKeys(o.keys, 'k');
  const cold = randomKeys(coldKeys, 'c');
  const r: OneNodeResult = {
    memSet: series('memory SET none', pid(mem), setWith(mem, 'none')),
    diskSet: series('disk SET none', pid(disk), setWith(disk, 'none')),
    diskPersist: series('disk SET persist', pid(disk), setWith(disk, 'persist')),
    diskPersistMajority: series('disk SET persistMajority', pid(disk), setWith(disk, 'persistMajority')),
    memGetHot: series('memory GET hot', pid(mem), () => mem.db.get(hot())),
    diskGetHot: series('disk GET hot (in cache)', pid(disk), () => disk.db.get(hot())),
    memGetCold: series(`memory GET (${coldKeys} × 1 KiB)`, pid(memCold), () => memCold.db.get(cold())),
    diskGetCold: series(`disk GET cold (5 × ${o.coldCacheMb} MiB cache)`, pid(diskCold), () => diskCold.db.get(cold())),
    redisAlways: always === null ? null : series('Redis SET appendfsync always', [always.handle.pid], redisSet(always)),
    redisEverysec: everysec === null ? null : series('Redis SET appendfsync everysec', [everysec.handle.pid], redisSet(everysec)),
  };
  const sets = [r.memSet, r.diskSet, r.diskPersist, r.diskPersistMajority, r.redisAlways, r.redisEverysec].filter((s): s is Series => s !== null);
  await alternate(sets, o);
  await alternate([r.memGetHot, r.diskGetHot], o);
  await alternate([r.memGetCold, r.diskGetCold], o);
  const vs: Array<[string, Series | null]> = [['memory', r.memSet], ['Redis always', r.redisAlways], ['Redis everysec', r.redisEverysec]];
  out.write(`one node per engine, ${o.inflight} in flight, ${o.valueSize}-byte values, ${o.rounds} alternating slices per series\n`);
  for (const s of [r.memSet, r.diskSet, r.diskPersist, r.diskPersistMajority]) out.write(line(s, s === r.memSet ? [] : vs));
  for (const s of [r.redisAlways, r.redisEverysec]) if (s !== null) out.write(line(s, []));
  out.write(line(r.memGetHot, []));
  out.write(line(r.diskGetHot, [['memory', r.memGetHot]]));
  out.write(line(r.memGetCold, []));
  out.write(line(r.diskGetCold, [['memory', r.memGetCold]]));
  if (redisSkip !== null) out.write(`  no Redis comparison in this run: ${redisSkip}\n`);
  return r;
}

interface ClusterResult {
  memSet: Series;
  memMajority: Series;
  diskSet: Series;
  diskMajority: Series;
  diskPersist: Series;
  diskPersistMajority: Series;
}

/** 3 nodes, redundancy 2, per engine; both clusters up at once, the series alternating. */
async function threeNodes(o: DurableBenchOptions, started: Started, redisAlways: Series | null, out: NodeJS.WritableStream): Promise<ClusterResult> {
  const value = new Uint8Array(o.valueSize).fill(122);
  const mem = await started.cluster(['--engine', 'memory']);
  const disk = await started.cluster(['--engine', 'disk']);
  for (const c of [mem, disk]) await load((k) => c.db.set(k, value), o.keys, o.inflight, 'k');
  const pids = (c: { cluster: ReplCluster }): number[] => c.cluster.nodes.map((n) => n.pid);
  const setWith = (c: { db: Client }, durability: Durability) => (i: number) => c.db.set(`k:${i % o.keys}`, value, { durability });
  const r: ClusterResult = {
    memSet: series('memory SET none', pids(mem), setWith(mem, 'none')),
    memMajority: series('memory SET majority', pids(mem), setWith(mem, 'majority')),
    diskSet: series('disk SET none', pids(disk), setWith(disk, 'none')),
    diskMajority: series('disk SET majority', pids(disk), setWith(disk, 'majority')),
    diskPersist: series('disk SET persist', pids(disk), setWith(disk, 'persist')),
    diskPersistMajority: series('disk SET persistMajority', pids(disk), setWith(disk, 'persistMajority')),
  };
  await alternate([r.memSet, r.memMajority, r.diskSet, r.diskMajority, r.diskPersist, r.diskPersistMajority], o);
  out.write(`3 nodes per engine, redundancy 2 (server CPU: the three nodes together)\n`);
  out.write(line(r.memSet, []));
  out.write(line(r.memMajority, [['memory none', r.memSet]]));
  out.write(line(r.diskSet, [['memory none', r.memSet]]));
  out.write(line(r.diskMajority, [['memory majority', r.memMajority]]));
  out.write(line(r.diskPersist, [['memory none', r.memSet], ['one Redis always (above)', redisAlways]]));
  out.write(line(r.diskPersistMajority, [['memory majority', r.memMajority], ['one Redis always (above)', redisAlways]]));
  return r;
}

/** Start a disk node on `dataDir` holding `restartItems` items, SIGKILL it, and time a restart to its first answer. */
async function timeRestart(o: DurableBenchOptions, dir: string, out: NodeJS.WritableStream): Promise<number> {
  const dataDir = join(dir, 'restart');
  const value = new Uint8Array(o.valueSize).fill(123);
  const first = new Started();
  try {
    const { node, db } = await first.node(['--data-dir', dataDir, '--memory-size', '64']);
    await load((k) => db.set(k, value), o.restartItems, o.inflight * 4, 'r');
    await db.set('r:last', value, { durability: 'persist' });
    await node.stop('SIGKILL');
  } finally {
    await first.closeAll();
  }
  const second = new Started();
  try {
    const t0 = performance.now();
    const { db } = await second.node(['--data-dir', dataDir, '--memory-size', '64']);
    const item = await db.get(`r:${o.restartItems - 1}`);
    const ms = performance.now() - t0;
    if (item === null) throw new Error('the restarted node lost the last loaded item');
    out.write(`restart of a disk node holding ${o.restartItems} items (after SIGKILL) to its first answer: ${ms.toFixed(0)} ms\n`);
    return ms;
  } finally {
    await second.closeAll();
  }
}

const ratio = (a: Series, b: Series): number => rateOf(a) / rateOf(b);

export async function runDurableBench(o: DurableBenchOptions, out: NodeJS.WritableStream): Promise<Figure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-durable-bench-'));
  const started = new Started();
  try {
    const redisSkip = await redisAofMissing();
    const one = await oneNode(o, dir, started, redisSkip, out);
    await started.closeAll();
    // With nothing else running: what this disk charges each design per durable round.
    const floor = await measureDiskFloor(join(dir, 'floor'));
    out.write(`disk floor (median of 200): 8 KiB append + fdatasync ${floor.appendSyncUs.toFixed(0)} µs (an AOF round); `
      + `lmdb commit of one put ${floor.lmdbCommitUs.toFixed(0)} µs (two syncs), ${(floor.lmdbCommitUs / floor.appendSyncUs).toFixed(2)}×\n`);
    const three = o.hasCluster ? await threeNodes(o, started, one.redisAlways, out) : null;
    await started.closeAll();
    const restartMs = await timeRestart(o, dir, out);
    const figures: Figure[] = [
      makeFigure('durable.setNone.vsMemory', 'disk SET none / memory', ratio(one.diskSet, one.memSet), 'ratio', null),
      makeFigure('durable.setPersist.vsMemory', 'disk SET persist / memory', ratio(one.diskPersist, one.memSet), 'ratio', null),
    ];
    if (one.redisAlways !== null && one.redisEverysec !== null) {
      figures.push(
        makeFigure('durable.setPersist.vsRedisAlways', 'disk persist / Redis always', ratio(one.diskPersist, one.redisAlways), 'ratio', { comparison: '>=', value: 1 }),
        makeFigure('durable.setPersistMajority.vsRedisAlways', 'disk persistMaj / Redis always', ratio(one.diskPersistMajority, one.redisAlways), 'ratio', null),
        makeFigure('durable.setNone.vsRedisEverysec', 'disk SET none / Redis everysec', ratio(one.diskSet, one.redisEverysec), 'ratio', null),
        makeFigure('durable.redisAlways.opsPerSec', 'Redis SET always', rateOf(one.redisAlways), 'ops/s', null),
      );
    } else {
      // Without Redis here: the figure the brief measured on this machine.
      figures.push(makeFigure('durable.setPersist.opsPerSec', 'disk persist (Redis ~46 k/s)', rateOf(one.diskPersist), 'ops/s', { comparison: '>=', value: 46_000 }));
    }
    figures.push(
      makeFigure('durable.floor.lmdbCommitUs', 'floor: lmdb commit, 1 put', floor.lmdbCommitUs, 'µs', null),
      makeFigure('durable.floor.appendSyncUs', 'floor: 8 KiB append + fdatasync', floor.appendSyncUs, 'µs', null),
      makeFigure('durable.getHot.vsMemory', 'disk GET hot / memory', ratio(one.diskGetHot, one.memGetHot), 'ratio', { comparison: '>=', value: 0.8 }),
      makeFigure('durable.getCold.vsMemory', 'disk GET cold (5×) / memory', ratio(one.diskGetCold, one.memGetCold), 'ratio', null),
    );
    if (three !== null) {
      figures.push(
        makeFigure('durable.cluster.setNone.vsMemory', '3n r2: disk none / memory', ratio(three.diskSet, three.memSet), 'ratio', null),
        makeFigure('durable.cluster.setMajority.vsMemory', '3n r2: disk majority / memory', ratio(three.diskMajority, three.memMajority), 'ratio', null),
        makeFigure('durable.cluster.setPersist.vsMemory', '3n r2: persist / memory none', ratio(three.diskPersist, three.memSet), 'ratio', null),
        makeFigure('durable.cluster.setPersistMajority.vsMemory', '3n r2: persistMaj / mem major', ratio(three.diskPersistMajority, three.memMajority), 'ratio', null),
      );
    }
    figures.push(makeFigure('durable.restartMs', `restart, ${formatCount(o.restartItems)} items`, restartMs, 'ms', { comparison: '<=', value: 5000 }));
    return figures;
  } finally {
    await started.closeAll();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runDurableCli(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseCommandLine(argv, {
    seconds: { type: 'string' }, rounds: { type: 'string' }, inflight: { type: 'string' }, keys: { type: 'string' }, 'value-size': { type: 'string' },
    'cold-cache-mb': { type: 'string' }, 'restart-items': { type: 'string' }, 'no-cluster': { type: 'boolean' }, json: { type: 'string' }, help: { type: 'boolean' },
  });
  if (values.help === true) {
    out.write(USAGE);
    return 0;
  }
  const positive = (n: number): boolean => Number.isFinite(n) && n > 0;
  const count = (n: number): boolean => Number.isInteger(n) && n > 0;
  const o: DurableBenchOptions = { ...DURABLE_BENCH_DEFAULTS };
  o.seconds = numberArg(values, 'seconds', positive) ?? o.seconds;
  o.rounds = numberArg(values, 'rounds', count) ?? o.rounds;
  o.inflight = numberArg(values, 'inflight', count) ?? o.inflight;
  o.keys = numberArg(values, 'keys', count) ?? o.keys;
  o.valueSize = numberArg(values, 'value-size', (n) => Number.isInteger(n) && n >= 0) ?? o.valueSize;
  o.coldCacheMb = numberArg(values, 'cold-cache-mb', positive) ?? o.coldCacheMb;
  o.restartItems = numberArg(values, 'restart-items', count) ?? o.restartItems;
  if (values['no-cluster'] === true) o.hasCluster = false;
  if (typeof values.json === 'string') o.jsonFile = values.json;
  const results = emptyResults(o.jsonFile);
  out.write(`pandakv bench durable on ${results.machine.cpus} × ${results.machine.cpuModel}, Node ${results.machine.node}\n`);
  await runPhase('durable', results, out, () => runDurableBench(o, out));
  return finishRun(results, o.jsonFile, out);
}
