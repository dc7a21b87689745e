/**
 * `pandakv bench proxy`: what the proxy costs. A real manager, two nodes and a proxy on
 * loopback; one workload run three ways — the SDK routing directly, the SDK sending
 * everything through the proxy, and memcached text through the proxy — plus latency at
 * one request in flight, judged against one loopback round trip.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { numberArg, parseCommandLine, UsageError } from '../bin/cli-util.js';
import { spawnManager, spawnNode, spawnProxy, type Spawned } from '../bin/spawn.js';
import { connect, type ClusterMap, type PandaClient } from '../sdk/index.js';
import { formatCount, formatLatencyUs, formatRunLine } from './histogram.js';
import { openMemcachedLoad } from './memcached-load.js';
import { parseMix } from './mix.js';
import { BENCH_DEFAULTS } from './options.js';
import { emptyResults, finishRun, makeFigure, runPhase, type BenchResults, type Figure } from './report.js';
import { loadKeySpace, sdkExecutor } from './sdk-bench.js';
import { makeKey, runWorkload, type OpExecutor, type WorkloadOptions, type WorkloadResult } from './workload.js';
import { addedP50Us, measureHops, type HopResult } from './hop-floor.js';
import { distPath, startReady, type ChildHandle } from './processes.js';

/** Options of `pandakv bench proxy`. */
export interface ProxyBenchOptions {
  /** Key space. @default 10000 */
  keys: number;
  /** @default 16 */
  keySize: number;
  /** @default 100 */
  valueSize: number;
  /** Workload of the throughput runs. @default 'get:90,set:10' */
  mix: string;
  /** Requests outstanding in the throughput runs. @default 64 */
  inflight: number;
  /** memcached connections the `inflight` requests are spread over. @default 4 */
  memcachedConnections: number;
  /** Length of each timed throughput run, ms. @default 3000 */
  durationMs: number;
  /** Untimed run before each path, ms. @default 1000 */
  warmupMs: number;
  /**
   * Timed rounds per path, alternating between the paths; the fastest counts. Also the
   * number of one-in-flight runs per path, whose median p50 counts. @default 3
   */
  rounds: number;
  /** Operations of each one-in-flight latency run. @default 3000 */
  latencyCount: number;
  /** The proxy's `--idle-poll-us`; null leaves the proxy's default. @default null */
  proxyIdlePollUs: number | null;
  /** Pass mark: throughput through the proxy (SDK) ÷ direct, at least. @default 0.6 */
  targetRatio: number;
  /** Deadline of each operation, ms. @default 5000 */
  opTimeoutMs: number;
  /** Deadline for each process to report ready, ms. @default 15000 */
  spawnTimeoutMs: number;
  /** Deadline for the map to place both nodes, ms. @default 20000 */
  mapTimeoutMs: number;
  /** Results file. @default 'bench-results.json' */
  jsonFile: string;
}

export const PROXY_BENCH_DEFAULTS: Readonly<ProxyBenchOptions> = Object.freeze({
  keys: 10_000,
  keySize: 16,
  valueSize: 100,
  mix: 'get:90,set:10',
  inflight: 64,
  memcachedConnections: 4,
  durationMs: 3000,
  warmupMs: 1000,
  rounds: 3,
  latencyCount: 3000,
  proxyIdlePollUs: null,
  targetRatio: 0.6,
  opTimeoutMs: 5000,
  spawnTimeoutMs: 15_000,
  mapTimeoutMs: 20_000,
  jsonFile: BENCH_DEFAULTS.jsonFile,
});

/** What `--quick` changes. */
export const PROXY_QUICK_OVERRIDES: Readonly<Partial<ProxyBenchOptions>> = Object.freeze({ durationMs: 1000, warmupMs: 300, rounds: 1, latencyCount: 500 });

export const PROXY_USAGE = `Usage: pandakv bench proxy [switches]

Starts a manager, two nodes and a proxy on 127.0.0.1 and runs one workload three ways:
the SDK routing directly, the SDK through the proxy, memcached text through the proxy.
Targets: through the proxy ≥ 0.6× direct throughput; added p50 at one request in
flight ≤ one loopback round trip.

  --keys N             key space (default 10000)
  --mix LIST           workload (default get:90,set:10)
  --inflight N         requests outstanding (default 64)
  --connections N      memcached connections (default 4)
  --duration S         seconds per timed run (default 3)
  --rounds N           timed runs per path, alternating between paths; the fastest
                       counts; as many runs at 1 in flight, the median p50 counts (default 3)
  --idle-poll-us N     the proxy's --idle-poll-us (default: the proxy's own)
  --json FILE          results file (default bench-results.json)
  --quick              1 round of 1 s per path
  --help               print this text
`;

/** One path measured: throughput at `inflight` and latency at one in flight. */
export interface ProxyPathResult {
  throughput: WorkloadResult;
  /** Null for memcached (its latency is not part of a target). */
  single: WorkloadResult | null;
  /**
   * CPU time per operation over every timed round, µs, for each process measured (the
   * bench client, the proxy, the nodes together); absent where it cannot be read. Unlike
   * a rate, it hardly moves when other work shares the machine.
   */
  cpuUsPerOp?: Record<string, number>;
}

/** Reads the CPU time (user + system) a process has used so far, µs; null when unknown. */
export type CpuMeter = () => number | null;

// /proc/<pid>/stat counts utime and stime in clock ticks: 100 per second on Linux.
const TICKS_PER_SECOND = 100;

/** CPU meter of another process, from /proc (Linux); null elsewhere or once it exited. */
export function procCpuMeter(pid: number): CpuMeter {
  return () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      // The command name may hold spaces and parentheses: count fields after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
    } catch {
      return null;
    }
  };
}

/** CPU meter of this process. */
export function selfCpuMeter(): CpuMeter {
  return () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
}

/** Sum of several meters; null when any of them is. */
function sumMeters(meters: readonly CpuMeter[]): CpuMeter {
  return () => {
    let total = 0;
    for (const m of meters) {
      const v = m();
      if (v === null) return null;
      total += v;
    }
    return total;
  };
}

/** Everything the proxy bench measured, as written to the results file. */
export interface ProxyBenchResult {
  direct: ProxyPathResult;
  proxySdk: ProxyPathResult;
  memcached: ProxyPathResult;
  /** One single-frame GET directly to its owner, one in flight. */
  roundTrip: WorkloadResult;
  /** proxySdk ÷ direct ops/s. */
  sdkRatio: number;
  /** memcached ÷ direct ops/s. */
  memcachedRatio: number;
  /** p50 through the proxy − p50 direct, both at one in flight, µs. */
  addedP50Us: number;
  roundTripP50Us: number;
  targetRatio: number;
  isPass: boolean;
  /**
   * Single GETs to one node, one in flight, from a bare client: direct, through a TCP
   * relay (a process that only copies bytes: the floor of any extra hop), through a
   * WebSocket relay (the same with `ws` framing both ways), through the proxy. Reported,
   * not judged. Null when it could not be measured.
   */
  hop?: HopResult | null;
}

/** Results of `pandakv bench proxy`. */
export type ProxyBenchResults = BenchResults & { proxy: ProxyBenchResult | null };

const SWITCHES = {
  keys: { type: 'string' }, mix: { type: 'string' }, inflight: { type: 'string' }, connections: { type: 'string' },
  duration: { type: 'string' }, rounds: { type: 'string' }, 'idle-poll-us': { type: 'string' }, json: { type: 'string' }, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

/** Parse `pandakv bench proxy` arguments. @throws UsageError */
export function parseProxyArgs(argv: string[]): ProxyBenchOptions | 'help' {
  const { values, positionals } = parseCommandLine(argv, SWITCHES);
  if (values.help === true) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const o: ProxyBenchOptions = { ...PROXY_BENCH_DEFAULTS, ...(values.quick === true ? PROXY_QUICK_OVERRIDES : {}) };
  const isCount = (max: number) => (n: number): boolean => Number.isSafeInteger(n) && n >= 1 && n <= max;
  o.keys = numberArg(values, 'keys', isCount(10_000_000)) ?? o.keys;
  o.inflight = numberArg(values, 'inflight', isCount(65_536)) ?? o.inflight;
  o.memcachedConnections = numberArg(values, 'connections', isCount(1024)) ?? o.memcachedConnections;
  o.rounds = numberArg(values, 'rounds', isCount(100)) ?? o.rounds;
  o.proxyIdlePollUs = numberArg(values, 'idle-poll-us', (n) => Number.isInteger(n) && n >= 0 && n <= 1_000_000) ?? o.proxyIdlePollUs;
  const seconds = numberArg(values, 'duration', (n) => Number.isFinite(n) && n > 0 && n <= 3600);
  if (seconds !== undefined) o.durationMs = seconds * 1000;
  if (typeof values.mix === 'string') {
    const mix = parseMix(values.mix);
    if (mix.weights.some((w) => w.op === 'delete')) throw new UsageError('--mix: the proxy bench runs get and set only');
    o.mix = values.mix;
  }
  if (values.json !== undefined) {
    const file = String(values.json).trim();
    if (file === '') throw new UsageError('--json: expected a file name');
    o.jsonFile = file;
  }
  if (o.memcachedConnections > o.inflight) o.memcachedConnections = o.inflight;
  return o;
}

/** Addresses of the nodes that are the active owner of at least one bucket run. */
export function ownerAddresses(map: ClusterMap): Set<string> {
  const owners = new Set<string>();
  for (const chain of map.runChains) {
    const head = map.chains[chain]?.[0];
    const node = head === undefined ? undefined : map.nodes[head];
    if (node !== undefined && node.state === 'active') owners.add(node.address);
  }
  return owners;
}

/** Ratios and verdict from the three paths and the round trip. */
export function judgeProxy(direct: ProxyPathResult, proxySdk: ProxyPathResult, memcached: ProxyPathResult, roundTrip: WorkloadResult, targetRatio: number): ProxyBenchResult {
  const sdkRatio = proxySdk.throughput.opsPerSec / direct.throughput.opsPerSec;
  const memcachedRatio = memcached.throughput.opsPerSec / direct.throughput.opsPerSec;
  const addedP50Us = (proxySdk.single?.latency.p50Us ?? Number.NaN) - (direct.single?.latency.p50Us ?? Number.NaN);
  const roundTripP50Us = roundTrip.latency.p50Us;
  const isPass = sdkRatio >= targetRatio && addedP50Us <= roundTripP50Us;
  return { direct, proxySdk, memcached, roundTrip, sdkRatio, memcachedRatio, addedP50Us, roundTripP50Us, targetRatio, isPass };
}

/** The figures of a proxy run, in the order they are printed. */
export function proxyFigures(r: ProxyBenchResult): Figure[] {
  return [
    makeFigure('proxy.direct.opsPerSec', 'SDK direct (2 nodes)', r.direct.throughput.opsPerSec, 'ops/s', null),
    makeFigure('proxy.sdk.opsPerSec', 'SDK through the proxy', r.proxySdk.throughput.opsPerSec, 'ops/s', null),
    makeFigure('proxy.sdk.ratio', 'SDK via proxy / direct', r.sdkRatio, 'ratio', { comparison: '>=', value: r.targetRatio }),
    makeFigure('proxy.memcached.opsPerSec', 'memcached through the proxy', r.memcached.throughput.opsPerSec, 'ops/s', null),
    makeFigure('proxy.memcached.ratio', 'memcached via proxy / direct', r.memcachedRatio, 'ratio', null),
    // Figures have no latency unit: the added p50 is carried as a share of one round trip.
    makeFigure('proxy.addedP50.roundTrips', 'added p50 / loopback round trip', r.addedP50Us / r.roundTripP50Us, 'ratio', { comparison: '<=', value: 1 }),
    ...(r.hop == null ? [] : r.hop.paths.slice(1).map((p, i) => makeFigure(
      `proxy.hop.${p.name}.roundTrips`, `hop, ${p.label}: added / direct`,
      addedP50Us(r.hop!, i + 1) / r.hop!.paths[0]!.latency.p50Us, 'ratio', null,
    ))),
  ];
}

type Client = PandaClient<Uint8Array | string, Uint8Array>;

/** Wait until the client's map names every one of `addresses` as the active owner of some bucket run. */
export async function waitForOwners(client: Client, addresses: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const map = client.map;
    if (map !== null) {
      const owners = ownerAddresses(map);
      if (addresses.every((a) => owners.has(a))) return;
    }
    if (performance.now() > deadline) {
      const seen = map === null ? 'no map' : `owners ${[...ownerAddresses(map)].join(', ') || 'none'}`;
      throw new Error(`the map did not place ${addresses.join(', ')} within ${timeoutMs} ms (${seen})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function clientOptions(o: ProxyBenchOptions): { timeoutMs: number; connectTimeoutMs: number; maxInFlightPerLane: number } {
  return { timeoutMs: o.opTimeoutMs, connectTimeoutMs: o.opTimeoutMs, maxInFlightPerLane: Math.max(1024, o.inflight) };
}

/** One way of reaching the cluster, and the CPU meters read around its timed rounds. */
interface PathSpec {
  label: string;
  exec: OpExecutor;
  /** Also measured at one in flight. */
  isSingleMeasured: boolean;
  meters: Record<string, CpuMeter>;
}

/** The run whose p50 is the median of `runs` (the lower middle for an even count). */
export function medianByP50(runs: readonly WorkloadResult[]): WorkloadResult {
  const sorted = [...runs].sort((a, b) => a.latency.p50Us - b.latency.p50Us);
  return sorted[(sorted.length - 1) >> 1]!;
}

/**
 * Measure the paths side by side. Each warms up; then the timed rounds alternate between
 * the paths (round 1 of each, then round 2 of each, …), so a burst of outside load lands
 * on all of them instead of on one, and the fastest round of each path counts. CPU per
 * operation covers every timed round of a path. Then the one-in-flight runs, alternating
 * the same way with the round trip, `rounds` runs each; the run with the median p50 counts.
 */
async function measurePaths(paths: readonly PathSpec[], roundTripExec: OpExecutor, o: ProxyBenchOptions): Promise<{ results: ProxyPathResult[]; roundTrip: WorkloadResult }> {
  const base: Omit<WorkloadOptions, 'label' | 'durationMs'> = { mix: parseMix(o.mix), keys: o.keys, keySize: o.keySize, valueSize: o.valueSize, inflight: o.inflight };
  if (o.warmupMs > 0) for (const p of paths) await runWorkload(p.exec, { ...base, label: `${p.label} warm-up`, durationMs: o.warmupMs, isQuiet: true });
  const rounds = Math.max(1, o.rounds);
  const runs = paths.map((): WorkloadResult[] => []);
  const used = paths.map((p) => new Map<string, number | null>(Object.keys(p.meters).map((n) => [n, 0])));
  const ops = paths.map(() => 0);
  for (let i = 0; i < rounds; i++) {
    for (let k = 0; k < paths.length; k++) {
      const p = paths[k]!;
      const names = Object.keys(p.meters);
      const before = names.map((n) => p.meters[n]!());
      const r = await runWorkload(p.exec, { ...base, label: rounds > 1 ? `${p.label} ${i + 1}/${rounds}` : p.label, durationMs: o.durationMs });
      names.forEach((n, j) => {
        const after = p.meters[n]!();
        const was = before[j]!;
        const sum = used[k]!.get(n)!;
        used[k]!.set(n, after === null || was === null || sum === null ? null : sum + after - was);
      });
      ops[k]! += r.ops + r.errors;
      runs[k]!.push(r);
    }
  }
  const single = paths.map((): WorkloadResult[] => []);
  const trips: WorkloadResult[] = [];
  for (let i = 0; i < rounds; i++) {
    for (let k = 0; k < paths.length; k++) {
      const p = paths[k]!;
      if (p.isSingleMeasured) single[k]!.push(await runWorkload(p.exec, { ...base, inflight: 1, label: `${p.label} @1`, durationMs: 0, count: o.latencyCount }));
    }
    // One frame, one answer, straight to the owner: the loopback round trip of the target.
    trips.push(await runWorkload(roundTripExec, {
      label: 'round trip @1', mix: parseMix('get:1'), keys: 1, keySize: o.keySize, valueSize: o.valueSize, inflight: 1, durationMs: 0, count: o.latencyCount,
    }));
  }
  const results = paths.map((p, k): ProxyPathResult => {
    const best = runs[k]!.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a));
    const cpuUsPerOp: Record<string, number> = {};
    for (const [n, us] of used[k]!) if (us !== null && ops[k]! > 0) cpuUsPerOp[n] = us / ops[k]!;
    return {
      throughput: { ...best, label: p.label, roundOpsPerSec: runs[k]!.map((r) => r.opsPerSec) },
      single: p.isSingleMeasured ? medianByP50(single[k]!) : null,
      cpuUsPerOp,
    };
  });
  return { results, roundTrip: medianByP50(trips) };
}

/** Start the cluster and the proxy, measure the three paths, stop every process by its pid. */
export async function runProxyBench(o: ProxyBenchOptions): Promise<ProxyBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-bench-proxy-'));
  const procs: Spawned[] = [];
  const clients: Client[] = [];
  let closeMemcached: (() => void) | null = null;
  try {
    const manager = await spawnManager(['--insecure', '--no-dht', '--cfg', `file:${join(dir, 'cfg.json')}`], o.spawnTimeoutMs);
    procs.push(manager);
    const nodes: Spawned[] = [];
    for (let i = 0; i < 2; i++) {
      const node = await spawnNode(['--insecure', '--manager', manager.address, '--data-dir', join(dir, `n${i}`), '--memory-size', '256'], o.spawnTimeoutMs);
      procs.push(node);
      nodes.push(node);
    }
    const direct: Client = await connect({ map: manager.address, ...clientOptions(o) });
    clients.push(direct);
    await waitForOwners(direct, nodes.map((n) => n.address), o.mapTimeoutMs);
    const poll = o.proxyIdlePollUs === null ? [] : ['--idle-poll-us', String(o.proxyIdlePollUs)];
    const proxy = await spawnProxy(['--insecure', '--map', manager.address, ...poll], o.spawnTimeoutMs);
    procs.push(proxy);
    if (proxy.memcached === null) throw new Error('the proxy announced no memcached port');

    const client = selfCpuMeter();
    const proxyCpu = procCpuMeter(proxy.pid);
    const nodesCpu = sumMeters(nodes.map((n) => procCpuMeter(n.pid)));
    const directExec = sdkExecutor(direct);
    await loadKeySpace(directExec, 'load', o.keys, { keySize: o.keySize, valueSize: o.valueSize, inflight: o.inflight });
    const thin: Client = await connect({ nodes: [proxy.address], ...clientOptions(o) });
    clients.push(thin);
    const mc = await openMemcachedLoad(proxy.memcached, o.memcachedConnections, o.opTimeoutMs, o.opTimeoutMs);
    closeMemcached = mc.close;
    const { results, roundTrip } = await measurePaths([
      { label: 'direct', exec: directExec, isSingleMeasured: true, meters: { client, nodes: nodesCpu } },
      { label: 'via proxy', exec: sdkExecutor(thin), isSingleMeasured: true, meters: { client, proxy: proxyCpu, nodes: nodesCpu } },
      { label: 'memcached', exec: mc.exec, isSingleMeasured: false, meters: { client, proxy: proxyCpu, nodes: nodesCpu } },
    ], directExec, o);
    const [directResult, proxyResult, memcachedResult] = results as [ProxyPathResult, ProxyPathResult, ProxyPathResult];
    const hop = await measureHopFloor(direct, proxy.address, o);
    return { ...judgeProxy(directResult, proxyResult, memcachedResult, roundTrip, o.targetRatio), hop };
  } finally {
    closeMemcached?.();
    for (const c of clients) await c.close();
    for (const p of procs.reverse()) await p.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The hop comparison: keys the first owner holds, a TCP relay and a WebSocket relay in
 * front of that node, and single GETs direct, through each relay and through the proxy
 * (see `measureHops`).
 */
async function measureHopFloor(direct: Client, proxyAddress: string, o: ProxyBenchOptions): Promise<HopResult> {
  const map = direct.map;
  if (map === null) throw new Error('no map for the hop comparison');
  const keys: string[] = [];
  let node: string | null = null;
  for (let i = 0; i < o.keys && keys.length < 1000; i++) {
    const key = makeKey(i, o.keySize);
    const owner = direct.route(key).chain[0] ?? null;
    node ??= owner;
    if (owner === node) keys.push(key);
  }
  if (node === null) throw new Error('no owner for the hop comparison');
  const relays: ChildHandle[] = [];
  try {
    const addresses: string[] = [];
    for (const kind of ['tcp', 'ws'] as const) {
      const started = await startReady({
        name: `${kind} relay`, args: [distPath('./relays.js'), kind, node], pattern: /relay listening on (\S+)/, timeoutMs: o.spawnTimeoutMs,
      });
      relays.push(started.handle);
      addresses.push(started.match[1]!);
    }
    return await measureHops([
      { name: 'direct', label: 'direct', address: node },
      { name: 'tcpRelay', label: 'TCP relay', address: addresses[0]! },
      { name: 'wsRelay', label: 'WS relay', address: addresses[1]! },
      { name: 'proxy', label: 'proxy', address: proxyAddress },
    ], { keys, epoch: map.epoch, count: o.latencyCount, block: 250, warm: 10, connectTimeoutMs: o.opTimeoutMs });
  } finally {
    for (const relay of relays) await relay.stop();
  }
}

function runLine(r: WorkloadResult): string {
  const errors = r.errors > 0 ? `   ${r.errors} errors (${r.firstError ?? '?'})` : '';
  const rates = r.roundOpsPerSec !== undefined && r.roundOpsPerSec.length > 1 ? `   rounds ${r.roundOpsPerSec.map(formatCount).join(' / ')}` : '';
  return `  ${formatRunLine(r.label, r.opsPerSec, r.latency)}${errors}${rates}\n`;
}

function cpuLine(p: ProxyPathResult): string {
  const parts = Object.entries(p.cpuUsPerOp ?? {}).map(([name, us]) => `${name} ${us.toFixed(1)} µs`);
  return `  ${p.throughput.label.padEnd(16)} ${parts.length > 0 ? parts.join('   ') : 'n/a'}\n`;
}

/** Run the proxy bench as a phase: print it, add its figures, record a failure instead of throwing. */
export async function runProxyPhase(o: ProxyBenchOptions, results: ProxyBenchResults, out: NodeJS.WritableStream): Promise<void> {
  const { jsonFile: _file, ...config } = o;
  results.config.proxy = config;
  await runPhase('proxy', results, out, async () => {
    const r = await runProxyBench(o);
    results.proxy = r;
    const ms = formatLatencyUs;
    out.write(`  ${o.inflight} in flight (${o.mix}):\n`);
    for (const p of [r.direct, r.proxySdk, r.memcached]) out.write(runLine(p.throughput));
    out.write('  CPU per operation at that load:\n');
    for (const p of [r.direct, r.proxySdk, r.memcached]) out.write(cpuLine(p));
    out.write('  1 in flight:\n');
    for (const s of [r.direct.single, r.proxySdk.single, r.roundTrip]) if (s !== null) out.write(runLine(s));
    out.write(`  through the proxy ${(r.sdkRatio).toFixed(2)}× direct (SDK), ${(r.memcachedRatio).toFixed(2)}× (memcached); target ≥ ${r.targetRatio}×: ${r.sdkRatio >= r.targetRatio ? 'PASS' : 'MISS'}\n`);
    const isLatencyPass = r.addedP50Us <= r.roundTripP50Us;
    out.write(`  added p50 at 1 in flight ${ms(r.addedP50Us)}, one loopback round trip ${ms(r.roundTripP50Us)}: ${isLatencyPass ? 'PASS' : 'MISS'}\n`);
    if (r.hop != null) {
      const direct = r.hop.paths[0]!.latency.p50Us;
      out.write(`  one hop, single GETs to one node from a bare client, blocks alternating (${r.hop.count} per path):\n`);
      r.hop.paths.forEach((p, k) => {
        const addedUs = addedP50Us(r.hop!, k);
        const added = k === 0 ? '' : `   added ${ms(addedUs)} = ${(addedUs / direct).toFixed(2)}× the direct p50`;
        out.write(`  ${p.label.padEnd(16)} p50 ${ms(p.latency.p50Us)}   p99 ${ms(p.latency.p99Us)}${added}\n`);
      });
    }
    return proxyFigures(r);
  });
}

/** `pandakv bench proxy`: the proxy bench alone, written to the results file like the suite. */
export async function runProxyCli(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const o = parseProxyArgs(argv);
  if (o === 'help') {
    out.write(PROXY_USAGE);
    return 0;
  }
  const results: ProxyBenchResults = { ...emptyResults(o.jsonFile), proxy: null };
  const { machine } = results;
  out.write(`pandakv bench proxy on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}\n`);
  out.write(`manager + 2 nodes + proxy, ${o.keys} keys of ${o.keySize} B, ${o.valueSize}-byte values, best of ${o.rounds} × ${o.durationMs / 1000} s\n\n`);
  await runProxyPhase(o, results, out);
  return finishRun(results, o.jsonFile, out);
}
