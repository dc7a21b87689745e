/**
 * `pandakv bench peers`: PandaKV side by side with its peers in one run — the SDK on a
 * 3-node cluster against ioredis Cluster on a 3-master Redis Cluster, and memcached
 * clients through the PandaKV proxy against twemproxy in front of 3 memcached. The
 * contenders alternate in rounds, so outside load lands on all of them alike; CPU time
 * per operation is read for every process, which moves far less than a rate when other
 * work shares the cores.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster as RedisCluster } from 'ioredis';
import { spawnManager, spawnNode as spawnPandakvNode, spawnProxy, type Spawned } from '../bin/spawn.js';
import { connect, type PandaClient } from '../sdk/index.js';
import { formatCount, formatLatencyUs, formatRunLine } from './histogram.js';
import { openMemcachedLoad } from './memcached-load.js';
import { parseMix, type OpMix } from './mix.js';
import { findBinary, startRedisCluster, startTwemproxy, stopServers, type PeerServer } from './peer-servers.js';
import { parsePeersArgs, PEERS_USAGE, type PeersBenchOptions } from './peers-options.js';
import { outsideCpuMeter, pickRound, quietRounds, shareOfMachine } from './outside-load.js';
import { medianByP50, procCpuMeter, selfCpuMeter, waitForOwners, type CpuMeter } from './proxy-bench.js';
import { spawnNode as spawnChild, type ChildHandle } from './processes.js';
import { emptyResults, finishRun, makeFigure, runPhase, type BenchResults, type Figure } from './report.js';
import { loadKeySpace, sdkExecutor } from './sdk-bench.js';
import { runWorkload, type OpExecutor, type WorkloadResult } from './workload.js';
import { applySchedPolicy, type SchedPolicy } from '../bin/sched-policy.js';

/** Nodes, Redis masters and memcached servers of each cluster. */
const CLUSTER_SIZE = 3;
/** Memory of each PandaKV node and each memcached, MB. */
const SERVER_MEMORY_MB = 256;

/** One way of reaching a store, and the CPU meters of every process on its path. */
export interface Contender {
  name: string;
  exec: OpExecutor;
  meters: Record<string, CpuMeter>;
}

/** One run of a contender, repeated once per round. */
interface RunSpec {
  contender: Contender;
  label: string;
  mix: OpMix;
  inflight: number;
  /** Operations per run (latency runs); 0 = `durationMs`. */
  count: number;
}

/** A run measured over every round. */
export interface PeerRun {
  label: string;
  /** The fastest round (throughput) or the median-p50 round (count-based latency runs). */
  result: WorkloadResult;
  /** CPU µs per operation of each process over every round; absent where unreadable. */
  cpuUsPerOp: Record<string, number>;
  /**
   * Per round, the share of the machine's cores that processes outside the bench used
   * meanwhile (`outside-load.ts`); NaN where unknown. Absent in results from before.
   */
  outsideShares?: number[];
  /** True when every round was disturbed by outside load (over `maxOutsideShare`): the round counted is picked from all of them. */
  isDisturbed?: boolean;
}

/** Everything the peers bench measured, as written to the results file. */
export interface PeersBenchResult {
  isContended: boolean;
  /** Which peers ran; a missing one is named with the reason. */
  skipped: string[];
  throughput: PeerRun[];
  mixes: PeerRun[];
  /** Single GETs at one in flight, direct and through each proxy. */
  single: PeerRun[];
  sdkGetRatio: number | null;
  sdkSetRatio: number | null;
  memcachedRatio: number | null;
  proxyAddedP50Us: number | null;
  twemproxyAddedP50Us: number | null;
}

/** Results of `pandakv bench peers`. */
export type PeersBenchResults = BenchResults & { peers: PeersBenchResult | null };

type Client = PandaClient<Uint8Array | string, Uint8Array>;

/**
 * The order of `count` specs in round `round` (from 0): as given in even rounds, reversed
 * in odd ones (A B B A). A contender's first seconds after another's run are slower than
 * its steady state (caches, the young generation, the scheduler's view of who runs): in
 * one order the same contender would always pay for following the same one.
 */
export function roundOrder(round: number, count: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  return round % 2 === 0 ? order : order.reverse();
}

/**
 * Run `specs` in rounds, each round running every spec once, in `roundOrder`. CPU per
 * operation covers every round of a spec. Only rounds that outside load (`outside`, CPU µs
 * the rest of the machine used) did not disturb count: timed runs keep the fastest of
 * them, counted runs the one with the median p50 (all rounds when every one was
 * disturbed). While a spec has no undisturbed round yet, up to `o.extraRounds` more rounds
 * of every spec follow.
 */
async function alternate(specs: readonly RunSpec[], o: PeersBenchOptions, outside: CpuMeter, roundCount = o.rounds): Promise<PeerRun[]> {
  const runs = specs.map((): WorkloadResult[] => []);
  const shares = specs.map((): number[] => []);
  const used = specs.map((s) => new Map<string, number | null>(Object.keys(s.contender.meters).map((n) => [n, 0])));
  const ops = specs.map(() => 0);
  const isSettled = (): boolean => shares.every((list) => !list.every((x) => x > o.maxOutsideShare));
  const planned = Math.max(1, roundCount);
  for (let i = 0; i < planned || (i < planned + o.extraRounds && !isSettled()); i++) {
    const label = i >= planned ? `extra ${i + 1 - planned}/${o.extraRounds}` : `${i + 1}/${planned}`;
    for (const k of roundOrder(i, specs.length)) {
      const s = specs[k]!;
      const names = Object.keys(s.contender.meters);
      const before = names.map((n) => s.contender.meters[n]!());
      const outsideBefore = outside();
      const r = await runWorkload(s.contender.exec, {
        label: planned > 1 || i >= planned ? `${s.label} ${label}` : s.label, mix: s.mix, keys: o.keys, keySize: o.keySize,
        valueSize: o.valueSize, inflight: s.inflight, durationMs: s.count > 0 ? 0 : o.durationMs, count: s.count,
      });
      const outsideAfter = outside();
      shares[k]!.push(outsideBefore === null || outsideAfter === null ? Number.NaN : shareOfMachine(outsideAfter - outsideBefore, r.elapsedMs));
      names.forEach((n, j) => {
        const after = s.contender.meters[n]!();
        const was = before[j]!;
        const sum = used[k]!.get(n)!;
        used[k]!.set(n, after === null || was === null || sum === null ? null : sum + after - was);
      });
      ops[k]! += r.ops;
      runs[k]!.push(r);
    }
  }
  return specs.map((s, k): PeerRun => {
    const all = runs[k]!;
    const pick = pickRound(all.map((r) => r.opsPerSec), shares[k]!, o.maxOutsideShare);
    const quiet = quietRounds(all, shares[k]!, o.maxOutsideShare);
    const picked = s.count > 0 ? medianByP50(quiet.rounds) : all[pick.index]!;
    const isDisturbed = !(s.count > 0 ? quiet.isClean : pick.isClean);
    const cpuUsPerOp: Record<string, number> = {};
    for (const [n, us] of used[k]!) if (us !== null && ops[k]! > 0) cpuUsPerOp[n] = us / ops[k]!;
    return {
      label: s.label, result: { ...picked, label: s.label, roundOpsPerSec: all.map((r) => r.opsPerSec) }, cpuUsPerOp,
      outsideShares: shares[k]!, ...(isDisturbed ? { isDisturbed: true } : {}),
    };
  });
}

/** The meters of several processes, named `<prefix>1`, `<prefix>2`, …. */
function metersOf(prefix: string, pids: readonly number[]): Record<string, CpuMeter> {
  return Object.fromEntries(pids.map((pid, i) => [`${prefix}${i + 1}`, procCpuMeter(pid)]));
}

function ratio(a: PeerRun | undefined, b: PeerRun | undefined): number | null {
  return a === undefined || b === undefined ? null : a.result.opsPerSec / b.result.opsPerSec;
}

function find(runs: readonly PeerRun[], label: string): PeerRun | undefined {
  return runs.find((r) => r.label === label);
}

async function openIoredis(seed: PeerServer, o: PeersBenchOptions): Promise<RedisCluster> {
  // Imported when used: ioredis is a devDependency, and `pandakv` must start without it.
  const { Cluster } = await import('ioredis');
  const cluster = new Cluster([{ host: '127.0.0.1', port: seed.port }], {
    enableAutoPipelining: true,
    slotsRefreshTimeout: o.opTimeoutMs,
    redisOptions: { connectTimeout: o.opTimeoutMs, commandTimeout: o.opTimeoutMs, maxRetriesPerRequest: 1 },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ioredis Cluster not ready within ${o.spawnTimeoutMs} ms`)), o.spawnTimeoutMs);
      cluster.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } catch (err) {
    cluster.disconnect();
    throw err;
  }
  return cluster;
}

function ioredisExecutor(cluster: RedisCluster): OpExecutor {
  return (op, key, value) => {
    switch (op) {
      case 'get': return cluster.getBuffer(key);
      case 'set': return cluster.set(key, Buffer.from(value.buffer, value.byteOffset, value.length));
      case 'delete': return cluster.del(key);
    }
  };
}

/** Start everything that is installed, measure it, stop every process by its pid. */
export async function runPeersBench(o: PeersBenchOptions, out: NodeJS.WritableStream): Promise<PeersBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-bench-peers-'));
  const procs: Spawned[] = [];
  const servers: PeerServer[] = [];
  const closers: Array<() => void | Promise<void>> = [];
  let busy: ChildHandle | null = null;
  const skipped: string[] = [];
  try {
    if (o.isContended) {
      busy = spawnChild({ name: 'busy loop', args: ['-e', 'for (;;) {}'] });
      out.write(`  --contend: busy loop running as pid ${busy.pid}\n`);
    }
    const client = selfCpuMeter();
    const hasSdk = o.only !== 'proxy';
    const hasProxy = o.only !== 'sdk';
    const loadOpts = { keySize: o.keySize, valueSize: o.valueSize, inflight: o.inflight };

    // PandaKV: manager, 3 nodes (memory engine), the proxy.
    const profile = o.cpuProfDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir];
    const manager = await spawnManager(['--insecure', '--no-dht', '--cfg', `file:${join(dir, 'cfg.json')}`], o.spawnTimeoutMs, profile);
    const sched = o.sched === null ? [] : ['--sched', o.sched];
    procs.push(manager);
    const nodes: Spawned[] = [];
    for (let i = 0; i < CLUSTER_SIZE; i++) {
      const node = await spawnPandakvNode(['--insecure', '--manager', manager.address, '--data-dir', join(dir, `n${i}`),
        '--memory-size', String(SERVER_MEMORY_MB), '--engine', 'memory', ...sched], o.spawnTimeoutMs, profile);
      procs.push(node);
      nodes.push(node);
    }
    const sdk: Client = await connect({ map: manager.address, timeoutMs: o.opTimeoutMs, connectTimeoutMs: o.opTimeoutMs, maxInFlightPerLane: Math.max(1024, o.inflight) });
    closers.push(() => sdk.close());
    await waitForOwners(sdk, nodes.map((n) => n.address), o.spawnTimeoutMs);
    const poll = o.idlePollUs === null ? [] : ['--idle-poll-us', String(o.idlePollUs)];
    const proxy = hasProxy ? await spawnProxy(['--insecure', '--map', manager.address, ...sched, ...poll], o.spawnTimeoutMs, profile) : null;
    if (proxy !== null) procs.push(proxy);
    if (proxy !== null && proxy.memcached === null) throw new Error('the PandaKV proxy announced no memcached port');
    if (o.cpuProfDir !== null) {
      out.write(`  --cpu-prof: profiles in ${o.cpuProfDir} when the processes stop, CPU.*.<pid>.*.cpuprofile: manager ${manager.pid}, nodes ${nodes.map((n) => n.pid).join(' ')}${proxy === null ? '' : `, proxy ${proxy.pid}`}\n`);
    }
    const nodeMeters = metersOf('node', nodes.map((n) => n.pid));
    const sdkContender: Contender = { name: 'PandaKV SDK', exec: sdkExecutor(sdk), meters: { client, ...nodeMeters } };
    await loadKeySpace(sdkContender.exec, 'load PandaKV', o.keys, loadOpts);
    let proxyContender: Contender | null = null;
    if (proxy?.memcached != null) {
      const viaProxy = await openMemcachedLoad(proxy.memcached, o.memcachedConnections, o.opTimeoutMs, o.opTimeoutMs);
      closers.push(viaProxy.close);
      proxyContender = { name: 'PandaKV proxy', exec: viaProxy.exec, meters: { client, proxy: procCpuMeter(proxy.pid), ...nodeMeters } };
    }

    // Redis Cluster + ioredis, when installed.
    let redisContender: Contender | null = null;
    const redisServer = findBinary('redis-server');
    const redisCli = findBinary('redis-cli');
    if (!hasSdk) skipped.push('Redis Cluster: --only proxy');
    else if (redisServer === null || redisCli === null) skipped.push('Redis Cluster: redis-server or redis-cli not found (bench/setup-peers.sh installs them)');
    else {
      const masters = await startRedisCluster({ server: redisServer, cli: redisCli }, dir, CLUSTER_SIZE, o.spawnTimeoutMs);
      servers.push(...masters);
      putUnder(o.peerSched, masters.map((m) => m.handle.pid));
      try {
        const cluster = await openIoredis(masters[0]!, o);
        closers.push(() => cluster.disconnect());
        redisContender = { name: 'ioredis Cluster', exec: ioredisExecutor(cluster), meters: { client, ...metersOf('redis', masters.map((m) => m.handle.pid)) } };
        await loadKeySpace(redisContender.exec, 'load Redis', o.keys, loadOpts);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
        skipped.push('Redis Cluster: the ioredis package is not installed (npm install --include=dev)');
      }
    }

    // twemproxy + 3 memcached, when installed.
    let twemContender: Contender | null = null;
    let mcDirect: Contender | null = null;
    const memcachedBin = findBinary('memcached');
    const nutcracker = findBinary('nutcracker');
    if (!hasProxy) skipped.push('twemproxy: --only sdk');
    else if (memcachedBin === null || nutcracker === null) skipped.push('twemproxy: memcached or nutcracker not found (bench/setup-peers.sh installs them)');
    else {
      const set = await startTwemproxy({ memcached: memcachedBin, nutcracker }, dir, CLUSTER_SIZE, SERVER_MEMORY_MB, o.spawnTimeoutMs);
      servers.push(...set.all);
      putUnder(o.peerSched, set.memcached.map((m) => m.handle.pid));
      const viaTwem = await openMemcachedLoad(set.proxy.address, o.memcachedConnections, o.opTimeoutMs, o.opTimeoutMs);
      closers.push(viaTwem.close);
      twemContender = { name: 'twemproxy', exec: viaTwem.exec, meters: { client, nutcracker: procCpuMeter(set.proxy.handle.pid), ...metersOf('memcached', set.memcached.map((m) => m.handle.pid)) } };
      await loadKeySpace(twemContender.exec, 'load twemproxy', o.keys, loadOpts);
      // The baseline of twemproxy's added latency: the same GETs straight to one memcached.
      const first = set.memcached[0]!;
      const direct = await openMemcachedLoad(first.address, 1, o.opTimeoutMs, o.opTimeoutMs);
      closers.push(direct.close);
      mcDirect = { name: 'memcached direct', exec: direct.exec, meters: { client, memcached1: procCpuMeter(first.handle.pid) } };
      await loadKeySpace(mcDirect.exec, 'load memcached 1', o.keys, { ...loadOpts, inflight: 1 });
    }

    const get = parseMix('get:1');
    const setMix = parseMix('set:1');
    const mix = parseMix(o.mix);
    const redis = redisContender;
    const twem = twemContender;
    const px = proxyContender;
    const sdkSide = hasSdk ? sdkContender : null;
    const warm = [sdkSide, px, redis, twem].filter((c): c is Contender => c !== null);
    if (o.warmupMs > 0) {
      for (const c of warm) await runWorkload(c.exec, { label: `${c.name} warm-up`, mix, keys: o.keys, keySize: o.keySize, valueSize: o.valueSize, inflight: o.inflight, durationMs: o.warmupMs, isQuiet: true });
    }

    const spec = (contender: Contender, label: string, m: OpMix, inflight: number, count = 0): RunSpec => ({ contender, label, mix: m, inflight, count });
    // A spec for each contender that runs (null: skipped or not installed).
    const specs = (...list: Array<[Contender | null, string, OpMix, number, number?]>): RunSpec[] =>
      list.flatMap(([c, label, m, n, count]) => (c === null ? [] : [spec(c, label, m, n, count)]));
    const throughputSpecs = specs(
      [sdkSide, 'SDK GET', get, o.inflight], [redis, 'ioredis GET', get, o.inflight],
      [sdkSide, 'SDK SET', setMix, o.inflight], [redis, 'ioredis SET', setMix, o.inflight],
      [px, 'proxy memcached', mix, o.inflight], [twem, 'twemproxy memcached', mix, o.inflight],
    );
    const mixSpecs = o.mixInflights.flatMap((n) => specs(
      [sdkSide, `SDK mix @${n}`, mix, n], [redis, `ioredis mix @${n}`, mix, n], [px, `proxy mix @${n}`, mix, n], [twem, `twemproxy mix @${n}`, mix, n],
    ));
    // The proxy's added latency is measured over the SDK direct: that run stays with --only proxy.
    const singleSpecs = specs(
      [sdkContender, 'SDK GET @1', get, 1, o.latencyCount], [px, 'proxy GET @1', get, 1, o.latencyCount],
      [mcDirect, 'memcached GET @1', get, 1, o.latencyCount], [twem, 'twemproxy GET @1', get, 1, o.latencyCount],
    );
    // What the rest of the machine uses while a contender runs: all busy CPU time less the
    // bench's own processes (this one, every server it started, the --contend loop).
    const benchPids = (): number[] => [...procs.map((p) => p.pid), ...servers.map((s) => s.handle.pid), ...(busy === null ? [] : [busy.pid])];
    const outside = outsideCpuMeter(() => benchPids().reduce((sum, pid) => sum + (procCpuMeter(pid)() ?? 0), client() ?? 0));
    const throughput = await alternate(throughputSpecs, o, outside);
    const mixes = await alternate(mixSpecs, o, outside);
    const single = await alternate(singleSpecs, o, outside, o.latencyRounds);

    const p50 = (label: string): number | null => find(single, label)?.result.latency.p50Us ?? null;
    const added = (via: string, base: string): number | null => {
      const a = p50(via);
      const b = p50(base);
      return a === null || b === null ? null : a - b;
    };
    return {
      isContended: o.isContended,
      skipped,
      throughput,
      mixes,
      single,
      sdkGetRatio: ratio(find(throughput, 'SDK GET'), find(throughput, 'ioredis GET')),
      sdkSetRatio: ratio(find(throughput, 'SDK SET'), find(throughput, 'ioredis SET')),
      memcachedRatio: ratio(find(throughput, 'proxy memcached'), find(throughput, 'twemproxy memcached')),
      proxyAddedP50Us: added('proxy GET @1', 'SDK GET @1'),
      twemproxyAddedP50Us: added('twemproxy GET @1', 'memcached GET @1'),
    };
  } finally {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch {
        // Closing a client whose server is gone: nothing left to release.
      }
    }
    await stopServers(servers);
    for (const p of procs.reverse()) await p.stop();
    await busy?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The headline figures with their targets, in the order they are printed. */
export function peersFigures(r: PeersBenchResult, o: PeersBenchOptions): Figure[] {
  const tag = r.isContended ? ' (contended)' : '';
  const figures: Figure[] = [];
  for (const run of r.throughput) figures.push(makeFigure(`peers.${run.label.replace(/\s+/g, '_')}.opsPerSec`, `${run.label}${tag}`, run.result.opsPerSec, 'ops/s', null));
  if (r.sdkGetRatio !== null) figures.push(makeFigure('peers.sdk.get.ratio', `SDK / ioredis Cluster GET${tag}`, r.sdkGetRatio, 'ratio', { comparison: '>=', value: o.targetSdkRatio }));
  if (r.sdkSetRatio !== null) figures.push(makeFigure('peers.sdk.set.ratio', `SDK / ioredis Cluster SET${tag}`, r.sdkSetRatio, 'ratio', { comparison: '>=', value: o.targetSdkRatio }));
  if (r.memcachedRatio !== null) figures.push(makeFigure('peers.memcached.ratio', `proxy / twemproxy memcached${tag}`, r.memcachedRatio, 'ratio', { comparison: '>=', value: o.targetMemcachedRatio }));
  if (r.proxyAddedP50Us !== null) {
    const target = r.twemproxyAddedP50Us === null ? null : { comparison: '<=' as const, value: r.twemproxyAddedP50Us };
    figures.push(makeFigure('peers.proxy.addedP50Us', `proxy added p50 @1${tag}`, r.proxyAddedP50Us, 'µs', target));
  }
  return figures;
}

function runLine(run: PeerRun, maxOutsideShare: number): string {
  const r = run.result;
  const errors = r.errors > 0 ? `   ${r.errors} errors (${r.firstError ?? '?'})` : '';
  const rates = r.roundOpsPerSec !== undefined && r.roundOpsPerSec.length > 1 ? `   rounds ${r.roundOpsPerSec.map(formatCount).join(' / ')}` : '';
  return `  ${formatRunLine(run.label.padEnd(20), r.opsPerSec, r.latency)}${errors}${rates}${outsideNote(run, maxOutsideShare)}\n`;
}

/**
 * `   outside load 31% / 1%` when processes outside the bench took more than
 * `maxOutsideShare` of the machine in some round, and a warning when in every one.
 */
export function outsideNote(run: PeerRun, maxOutsideShare: number): string {
  const shares = run.outsideShares ?? [];
  if (!shares.some((x) => x > maxOutsideShare)) return '';
  const list = shares.map((x) => (Number.isNaN(x) ? '?' : `${Math.round(x * 100)}%`)).join(' / ');
  return `   outside load ${list}${run.isDisturbed === true ? ' (every round disturbed: not comparable)' : ''}`;
}

/** `client 10.2  node1 3.1  …  total 19.6` µs per operation. */
export function cpuLine(run: PeerRun): string {
  const entries = Object.entries(run.cpuUsPerOp);
  if (entries.length === 0) return '      CPU µs/op: n/a\n';
  const total = entries.reduce((s, [, us]) => s + us, 0);
  return `      CPU µs/op: ${entries.map(([n, us]) => `${n} ${us.toFixed(1)}`).join('  ')}  total ${total.toFixed(1)}\n`;
}

/** Run the peers bench as a phase: print it, add its figures, record a failure instead of throwing. */
export async function runPeersPhase(o: PeersBenchOptions, results: PeersBenchResults, out: NodeJS.WritableStream): Promise<void> {
  const { jsonFile: _file, ...config } = o;
  results.config.peers = config;
  await runPhase('peers', results, out, async () => {
    const r = await runPeersBench(o, out);
    results.peers = r;
    for (const s of r.skipped) out.write(`  skipped: ${s}\n`);
    out.write(`  ${o.inflight} in flight (GET, SET; memcached ${o.mix}):\n`);
    for (const run of r.throughput) out.write(runLine(run, o.maxOutsideShare) + cpuLine(run));
    out.write(`  ${o.mix} at ${o.mixInflights.join(' and ')} in flight:\n`);
    for (const run of r.mixes) out.write(runLine(run, o.maxOutsideShare) + cpuLine(run));
    out.write(`  single GETs, 1 in flight (${o.latencyCount} per run, median p50 of ${o.latencyRounds} alternating runs):\n`);
    for (const run of r.single) out.write(runLine(run, o.maxOutsideShare));
    const us = (v: number | null): string => (v === null ? 'n/a' : formatLatencyUs(v));
    out.write(`  added p50: PandaKV proxy ${us(r.proxyAddedP50Us)} (over the SDK direct), twemproxy ${us(r.twemproxyAddedP50Us)} (over memcached direct)\n`);
    return peersFigures(r, o);
  });
}

/** `pandakv bench peers`: the peers bench alone, written to the results file like the suite. */
export async function runPeersCli(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const o = parsePeersArgs(argv);
  if (o === 'help') {
    out.write(PEERS_USAGE);
    return 0;
  }
  const results: PeersBenchResults = { ...emptyResults(o.jsonFile), peers: null };
  const { machine } = results;
  out.write(`pandakv bench peers on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}\n`);
  out.write(`${CLUSTER_SIZE} nodes / masters / memcached each, ${o.keys} keys of ${o.keySize} B, ${o.valueSize}-byte values, `
    + `best undisturbed of ${o.rounds} × ${o.durationMs / 1000} s per contender, alternating${o.isContended ? ', one core kept busy' : ''}`
    + `${o.sched === null ? '' : `, PandaKV --sched ${o.sched}`}${o.idlePollUs === null ? '' : `, proxy --idle-poll-us ${o.idlePollUs}`}${o.peerSched === null ? '' : `, redis-server and memcached under --peer-sched ${o.peerSched}`}\n\n`);
  await runPeersPhase(o, results, out);
  return finishRun(results, o.jsonFile, out);
}

/** `--peer-sched`: put the peers' data servers under `policy` (bin/sched-policy.ts). @throws when it cannot */
function putUnder(policy: SchedPolicy | null, pids: readonly number[]): void {
  if (policy === null) return;
  for (const pid of pids) {
    const warning = applySchedPolicy(policy, pid);
    if (warning !== null) throw new Error(`--peer-sched: ${warning}`);
  }
}
