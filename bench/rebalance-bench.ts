/**
 * `pandakv bench rebalance`: what adding a node costs a running client. A DHT bootstrap,
 * a manager with redundancy 2 and 3 nodes on loopback; N keys are loaded with pipelined
 * SDK writes, a steady mixed workload runs at fixed concurrency for a baseline period,
 * then a 4th node registers (the manager places it and re-plans) while the workload goes
 * on, until the rebalance has finished. Client latency during the rebalance is compared
 * with the baseline of the same run; afterwards a sample of keys is read back.
 */
import { numberArg, parseCommandLine, UsageError } from '../bin/cli-util.js';
import type { Histogram } from 'hdr-histogram-js';
import { createLatencyHistogram, formatCount, formatLatencyUs, recordMs, summarizeHistogram, type LatencySummary } from './histogram.js';
import { BENCH_DEFAULTS } from './options.js';
import { emptyResults, finishRun, makeFigure, runPhase, type BenchResults, type Figure } from './report.js';
import {
  activeNodeCount, connectRepl, errorText, pollUntil, rebalanceProgress, sleep, startReplCluster, sumStat, waitIdle, waitReplicated, type Client, type ReplCluster,
} from './repl-cluster.js';
import { loadKeySpace, sdkExecutor } from './sdk-bench.js';
import type { ClusterMap } from '../sdk/index.js';
import { checkKeySpace, makeKey, makeRandom, makeValue, type WorkloadResult } from './workload.js';

/** Options of `pandakv bench rebalance`. */
export interface RebalanceBenchOptions {
  /** Keys loaded before the workload starts. @default 1000000 */
  keys: number;
  /** @default 16 */
  keySize: number;
  /** @default 100 */
  valueSize: number;
  /** Share of GETs in the workload, percent; the rest are SETs. @default 90 */
  getPercent: number;
  /** Requests outstanding in the workload (closed loop). @default 64 */
  inflight: number;
  /** Requests outstanding while loading. @default 256 */
  loadInflight: number;
  /** Workload before the node is added, ms. @default 10000 */
  baselineMs: number;
  /** Keys read back after the rebalance, spread evenly over the key space. @default 20000 */
  sampleKeys: number;
  /** Idle wait before the sample is read back a second time, ms (are misses transient?). @default 10000 */
  settleMs: number;
  /** Engine budget of each node, MB (large enough that nothing is evicted). @default 1024 */
  nodeMemoryMb: number;
  /** Pass mark: client p99 during the rebalance ÷ baseline p99, at most. @default 2 */
  targetP99Ratio: number;
  /** Deadline for the rebalance to finish, ms. @default 150000 */
  rebalanceTimeoutMs: number;
  /** Deadline of each operation, ms. @default 5000 */
  opTimeoutMs: number;
  /** @default 15000 */
  spawnTimeoutMs: number;
  /** Deadline for the first 3 nodes to be placed with two copies, ms. @default 30000 */
  clusterTimeoutMs: number;
  /** @default 'bench-results.json' */
  jsonFile: string;
}

export const REBALANCE_DEFAULTS: Readonly<RebalanceBenchOptions> = Object.freeze({
  keys: 1_000_000,
  keySize: 16,
  valueSize: 100,
  getPercent: 90,
  inflight: 64,
  loadInflight: 256,
  baselineMs: 10_000,
  sampleKeys: 20_000,
  settleMs: 10_000,
  nodeMemoryMb: 1024,
  targetP99Ratio: 2,
  rebalanceTimeoutMs: 150_000,
  opTimeoutMs: 5000,
  spawnTimeoutMs: 15_000,
  clusterTimeoutMs: 30_000,
  jsonFile: BENCH_DEFAULTS.jsonFile,
});

/** What `--quick` changes. */
export const REBALANCE_QUICK_OVERRIDES: Readonly<Partial<RebalanceBenchOptions>> = Object.freeze({ keys: 50_000, baselineMs: 3000, sampleKeys: 5000 });

export const REBALANCE_USAGE = `Usage: pandakv bench rebalance [switches]

Starts a DHT bootstrap, a manager (redundancy 2) and 3 nodes on 127.0.0.1, loads the
keys, runs a steady get/set workload for a baseline period, then adds a 4th node while
the workload goes on until the rebalance has finished. Prints the rebalance's duration,
the items it copied, client p99 during ÷ before (target ≤ 2×), client errors (target 0)
and misses when a sample of keys is read back afterwards (target 0).

  --keys N             keys loaded first (default 1000000)
  --value-size B       value length (default 100)
  --get-percent P      share of GETs in the workload, the rest SETs (default 90)
  --inflight N         requests outstanding in the workload (default 64)
  --load-inflight N    requests outstanding while loading (default 256)
  --baseline S         seconds of workload before the node is added (default 10)
  --sample N           keys read back afterwards (default 20000)
  --settle S           idle seconds before the sample is read back again (default 10)
  --json FILE          results file (default bench-results.json)
  --quick              50 000 keys, 3 s baseline
  --help               print this text
`;

/** Client-side counts of one period of the workload. Latencies cover successful operations. */
export interface PeriodResult {
  label: string;
  elapsedMs: number;
  ops: number;
  opsPerSec: number;
  errors: number;
  firstError: string | null;
  /** GETs of a loaded key that answered "not found". */
  getMisses: number;
  latency: LatencySummary;
}

/** Everything the rebalance bench measured, as written to the results file. */
export interface RebalanceBenchResult {
  keys: number;
  load: WorkloadResult;
  baseline: PeriodResult;
  during: PeriodResult;
  /** Time from spawning the 4th node until it printed its ready line, ms. */
  nodeReadyMs: number;
  /** When the client first saw a map with the 4th node active. */
  mapWithNodeMs: number;
  /** When every node reported no backfill, the copy counters stopped and the map was stable. */
  doneMs: number;
  /** doneMs − mapWithNodeMs. */
  rebalanceMs: number;
  /** Items copied by backfills during the rebalance (sum of `repl_backfill_items` over the nodes). */
  itemsMoved: number;
  /** itemsMoved × (key + value bytes): payload only, no framing. */
  bytesMovedEstimate: number;
  mapRevBefore: number;
  mapRevAfter: number;
  /** Maps the client adopted between adding the node and the end of the rebalance. */
  mapChanges: number;
  /** Nodes the client saw marked failed in any of those maps. */
  nodesSeenFailed: string[];
  itemsPerNodeBefore: Record<string, number>;
  itemsPerNodeAfter: Record<string, number>;
  evictions: number;
  p99Ratio: number;
  sample: SampleResult;
  /** The same sample read again after `settleMs` without load. */
  sampleAfterSettle: SampleResult;
  settleMs: number;
  /** The new node's address and its item count after the rebalance, against its even share of 2 × keys. */
  addedNode: string;
  addedNodeItems: number;
  addedNodeShare: number;
  targetP99Ratio: number;
}

/** A read-back of a sample of the loaded keys. */
export interface SampleResult { checked: number; misses: number; errors: number; wrongSize: number; firstError: string | null }

export type RebalanceBenchResults = BenchResults & { rebalance: RebalanceBenchResult | null };

const SWITCHES = {
  keys: { type: 'string' }, 'value-size': { type: 'string' }, 'get-percent': { type: 'string' }, inflight: { type: 'string' }, 'load-inflight': { type: 'string' },
  baseline: { type: 'string' }, sample: { type: 'string' }, settle: { type: 'string' }, json: { type: 'string' }, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

/** Parse `pandakv bench rebalance` arguments. @throws UsageError */
export function parseRebalanceArgs(argv: string[]): RebalanceBenchOptions | 'help' {
  const { values, positionals } = parseCommandLine(argv, SWITCHES);
  if (values.help === true) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const o: RebalanceBenchOptions = { ...REBALANCE_DEFAULTS, ...(values.quick === true ? REBALANCE_QUICK_OVERRIDES : {}) };
  const isCount = (max: number) => (n: number): boolean => Number.isSafeInteger(n) && n >= 1 && n <= max;
  o.keys = numberArg(values, 'keys', isCount(50_000_000)) ?? o.keys;
  o.valueSize = numberArg(values, 'value-size', (n) => Number.isSafeInteger(n) && n >= 1 && n <= 65_536) ?? o.valueSize;
  o.getPercent = numberArg(values, 'get-percent', (n) => Number.isFinite(n) && n >= 0 && n <= 100) ?? o.getPercent;
  o.inflight = numberArg(values, 'inflight', isCount(65_536)) ?? o.inflight;
  o.loadInflight = numberArg(values, 'load-inflight', isCount(65_536)) ?? o.loadInflight;
  o.sampleKeys = numberArg(values, 'sample', isCount(50_000_000)) ?? o.sampleKeys;
  const seconds = numberArg(values, 'baseline', (n) => Number.isFinite(n) && n > 0 && n <= 3600);
  if (seconds !== undefined) o.baselineMs = seconds * 1000;
  const settle = numberArg(values, 'settle', (n) => Number.isFinite(n) && n >= 0 && n <= 3600);
  if (settle !== undefined) o.settleMs = settle * 1000;
  if (values.json !== undefined) {
    const file = String(values.json).trim();
    if (file === '') throw new UsageError('--json: expected a file name');
    o.jsonFile = file;
  }
  checkKeySpace(o.keys, o.keySize);
  return o;
}

/** One period's counters; an operation belongs to the period it was issued in. */
class Period {
  readonly histogram: Histogram = createLatencyHistogram();
  ops = 0;
  errors = 0;
  getMisses = 0;
  firstError: string | null = null;
  readonly startedAt = performance.now();
  endedAt = 0;

  constructor(readonly label: string) {}

  result(): PeriodResult {
    const elapsedMs = (this.endedAt || performance.now()) - this.startedAt;
    return {
      label: this.label, elapsedMs, ops: this.ops, opsPerSec: this.ops / (elapsedMs / 1000), errors: this.errors, firstError: this.firstError,
      getMisses: this.getMisses, latency: summarizeHistogram(this.histogram),
    };
  }
}

/**
 * A closed-loop get/set workload over the loaded keys whose counters can be switched to a
 * new period while it runs.
 */
class SteadyLoad {
  private period: Period | null;
  private isRunning = true;
  private readonly workers: Promise<void>[];

  constructor(private readonly db: Client, private readonly o: RebalanceBenchOptions, first: string) {
    this.period = new Period(first);
    const value = makeValue(o.valueSize);
    this.workers = Array.from({ length: o.inflight }, (_, w) => this.worker(w, value));
  }

  /** Close the current period and start counting a new one. */
  next(label: string): PeriodResult {
    const done = this.period!;
    done.endedAt = performance.now();
    this.period = new Period(label);
    return done.result();
  }

  /** Stop issuing, wait for the workers, return the last period. */
  async stop(): Promise<PeriodResult> {
    this.isRunning = false;
    const last = this.period!;
    last.endedAt = performance.now();
    await Promise.all(this.workers);
    return last.result();
  }

  private async worker(w: number, value: Uint8Array): Promise<void> {
    const random = makeRandom(0x9e3779b9 + w * 7919);
    const getShare = this.o.getPercent / 100;
    while (this.isRunning) {
      const key = makeKey((random() * this.o.keys) | 0, this.o.keySize);
      const isGet = random() < getShare;
      const period = this.period!;
      const t0 = performance.now();
      try {
        if (isGet) {
          const v = await this.db.get(key);
          if (v === null) period.getMisses++;
        } else {
          await this.db.set(key, value);
        }
        recordMs(period.histogram, performance.now() - t0);
        period.ops++;
      } catch (err) {
        period.errors++;
        period.firstError ??= errorText(err);
        // A failing cluster answers at once; do not spin.
        await sleep(1);
      }
    }
  }
}

/** Read back `n` keys spread evenly over the key space, `inflight` at a time. */
async function readBackSample(db: Client, o: RebalanceBenchOptions): Promise<SampleResult> {
  const n = Math.min(o.sampleKeys, o.keys);
  const step = o.keys / n;
  let next = 0;
  const out = { checked: 0, misses: 0, errors: 0, wrongSize: 0, firstError: null as string | null };
  const worker = async (): Promise<void> => {
    while (next < n) {
      const key = makeKey(Math.floor(next++ * step), o.keySize);
      try {
        const v = await db.get(key);
        if (v === null) out.misses++;
        else if (v.length !== o.valueSize) out.wrongSize++;
      } catch (err) {
        out.errors++;
        out.firstError ??= errorText(err);
      }
      out.checked++;
    }
  };
  await Promise.all(Array.from({ length: 256 }, worker));
  return out;
}

function itemsPerNode(stats: Record<string, Record<string, number | string>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [address, s] of Object.entries(stats)) out[address] = typeof s.items === 'number' ? s.items : Number.NaN;
  return out;
}

/** Run the bench: cluster up, load, baseline, add a node, wait for the rebalance, read back. */
export async function runRebalanceBench(o: RebalanceBenchOptions, out: NodeJS.WritableStream): Promise<RebalanceBenchResult> {
  let cluster: ReplCluster | null = null;
  let db: Client | null = null;
  let load: SteadyLoad | null = null;
  try {
    cluster = await startReplCluster({ nodes: 3, managerArgs: [], nodeMemoryMb: o.nodeMemoryMb, spawnTimeoutMs: o.spawnTimeoutMs });
    const manager = cluster.manager.address;
    db = await connectRepl(manager, { inflight: Math.max(o.inflight, o.loadInflight), timeoutMs: o.opTimeoutMs });
    await waitReplicated(db, 3, o.clusterTimeoutMs);
    // The first nodes are placed by moves too: load only once they are all done.
    await pollUntil('the initial placement', o.clusterTimeoutMs, async () => ((await rebalanceProgress(manager))?.isDone === true ? true : null), 200);
    await waitIdle(db, o.clusterTimeoutMs);

    const loaded = await loadKeySpace(sdkExecutor(db), 'load', o.keys, { keySize: o.keySize, valueSize: o.valueSize, inflight: o.loadInflight });
    out.write(`  loaded ${formatCount(o.keys)} keys in ${(loaded.elapsedMs / 1000).toFixed(1)} s (${formatCount(loaded.opsPerSec)} sets/s, ${o.loadInflight} in flight)\n`);
    // Replicas catch up on the stream; wait until nothing is backfilling before the baseline.
    await waitIdle(db, o.clusterTimeoutMs);
    const before = await db.stats({ timeoutMs: 5000 });
    const itemsMovedBefore = sumStat(before, 'repl_backfill_items');
    const mapRevBefore = db.map?.rev ?? 0;

    load = new SteadyLoad(db, o, 'baseline');
    await sleep(o.baselineMs);
    const baseline = load.next('during rebalance');

    // The rebalance: spawn a 4th node; the manager registers it, places it and re-plans.
    let mapChanges = 0;
    const nodesSeenFailed = new Set<string>();
    const onMap = (map: ClusterMap): void => {
      mapChanges++;
      for (const n of map.nodes) if (n.state === 'failed') nodesSeenFailed.add(n.address);
    };
    db.on('map', onMap);
    const t0 = performance.now();
    const added = await cluster.addNode();
    const nodeReadyMs = performance.now() - t0;
    const client = db;
    const mapWithNodeMs = await pollUntil('a map with the 4th node', o.rebalanceTimeoutMs, () => {
      const map = client.map;
      return map !== null && map.nodes.some((n) => n.address === added.address && n.state === 'active') ? performance.now() - t0 : null;
    }, 20);
    // Done: the manager reports every node applied the newest map, no node is backfilling,
    // the new node has run its backfills, and neither the map nor the copy counters moved
    // since the previous poll.
    let last: { rev: number; items: number; atMs: number } | null = null;
    let after: Record<string, Record<string, number | string>> = {};
    const doneMs = await pollUntil('the rebalance', o.rebalanceTimeoutMs, async () => {
      const atMs = performance.now() - t0;
      const [progress, stats] = await Promise.all([rebalanceProgress(manager), client.stats({ timeoutMs: 2000 }).catch(() => null)]);
      const map = client.map;
      if (progress === null || stats === null || map === null) return null;
      const items = sumStat(stats, 'repl_backfill_items');
      const isQuiet = progress.isDone && activeNodeCount(map) === 4 && map.moves.length === 0
        && Object.values(stats).every((s) => s.repl_backfilling === 0)
        && typeof stats[added.address]?.repl_backfills === 'number' && (stats[added.address]!.repl_backfills as number) > 0;
      const previous = last;
      last = isQuiet ? { rev: map.rev, items, atMs } : null;
      if (!isQuiet || previous === null || previous.rev !== map.rev || previous.items !== items) return null;
      after = stats;
      return previous.atMs;
    }, 250);
    db.off('map', onMap);
    const during = load.next('after');
    // The "after" period only keeps the load running while the stats are read; it is not reported.
    await load.stop();
    load = null;

    const itemsMoved = sumStat(after, 'repl_backfill_items') - itemsMovedBefore;
    const sample = await readBackSample(db, o);
    await sleep(o.settleMs);
    const sampleAfterSettle = await readBackSample(db, o);
    const addedItems = after[added.address]?.items;
    return {
      keys: o.keys, load: loaded, baseline, during, nodeReadyMs, mapWithNodeMs, doneMs, rebalanceMs: doneMs - mapWithNodeMs,
      itemsMoved, bytesMovedEstimate: itemsMoved * (o.keySize + o.valueSize), mapRevBefore, mapRevAfter: db.map?.rev ?? 0, mapChanges, nodesSeenFailed: [...nodesSeenFailed],
      itemsPerNodeBefore: itemsPerNode(before), itemsPerNodeAfter: itemsPerNode(after), evictions: sumStat(after, 'evictions'),
      p99Ratio: during.latency.p99Us / baseline.latency.p99Us, sample, sampleAfterSettle, settleMs: o.settleMs, targetP99Ratio: o.targetP99Ratio,
      addedNode: added.address, addedNodeItems: typeof addedItems === 'number' ? addedItems : Number.NaN, addedNodeShare: (2 * o.keys) / 4,
    };
  } catch (err) {
    if (cluster !== null && err instanceof Error) err.message += `\n${cluster.describe()}`;
    throw err;
  } finally {
    if (load !== null) await load.stop().catch(() => null);
    if (db !== null) await db.close().catch(() => null);
    if (cluster !== null) await cluster.close();
  }
}

function periodLine(p: PeriodResult): string {
  const l = p.latency;
  const errors = p.errors > 0 ? `   ${formatCount(p.errors)} errors (${p.firstError ?? '?'})` : '   0 errors';
  return `  ${p.label.padEnd(17)} ${(p.elapsedMs / 1000).toFixed(1).padStart(6)} s ${formatCount(p.opsPerSec).padStart(9)} ops/s   p50 ${formatLatencyUs(l.p50Us)}   p99 ${formatLatencyUs(l.p99Us)}   max ${formatLatencyUs(l.maxUs)}${errors}   ${formatCount(p.getMisses)} get misses\n`;
}

/** The figures of a rebalance run, in the order they are printed. */
export function rebalanceFigures(r: RebalanceBenchResult): Figure[] {
  return [
    makeFigure('rebalance.durationMs', 'rebalance duration', r.rebalanceMs, 'ms', null),
    makeFigure('rebalance.itemsMoved', 'items copied (backfill)', r.itemsMoved, 'count', null),
    makeFigure('rebalance.bytesMoved', 'bytes copied (key+value est.)', r.bytesMovedEstimate, 'bytes', null),
    makeFigure('rebalance.p99Ratio', 'client p99 during / before', r.p99Ratio, 'ratio', { comparison: '<=', value: r.targetP99Ratio }),
    makeFigure('rebalance.clientErrors', 'client errors during', r.during.errors, 'count', { comparison: '<=', value: 0 }),
    makeFigure('rebalance.getMisses', 'GET misses during', r.during.getMisses, 'count', { comparison: '<=', value: 0 }),
    makeFigure('rebalance.sampleMisses', `read-back misses (${formatCount(r.sample.checked)} keys)`, r.sample.misses + r.sample.errors + r.sample.wrongSize, 'count', { comparison: '<=', value: 0 }),
    makeFigure('rebalance.sampleMissesSettled', `read-back misses ${r.settleMs / 1000} s later`, r.sampleAfterSettle.misses + r.sampleAfterSettle.errors + r.sampleAfterSettle.wrongSize, 'count', { comparison: '<=', value: 0 }),
  ];
}

/** Run the rebalance bench as a phase: print it, add its figures, record a failure instead of throwing. */
export async function runRebalancePhase(o: RebalanceBenchOptions, results: RebalanceBenchResults, out: NodeJS.WritableStream): Promise<void> {
  const { jsonFile: _file, ...config } = o;
  results.config.rebalance = config;
  await runPhase('rebalance', results, out, async () => {
    const r = await runRebalanceBench(o, out);
    results.rebalance = r;
    out.write(periodLine(r.baseline));
    out.write(periodLine(r.during));
    out.write(`  4th node ready after ${formatCount(r.nodeReadyMs)} ms, in the client's map after ${formatCount(r.mapWithNodeMs)} ms, `
      + `rebalance done after ${formatCount(r.doneMs)} ms (map rev ${r.mapRevBefore} → ${r.mapRevAfter}, `
      + `${r.mapChanges} maps adopted, nodes seen failed: ${r.nodesSeenFailed.length === 0 ? 'none' : r.nodesSeenFailed.join(', ')})\n`);
    out.write(`  copied ${formatCount(r.itemsMoved)} items ≈ ${(r.bytesMovedEstimate / 1e6).toFixed(1)} MB of keys and values; evictions ${formatCount(r.evictions)}\n`);
    const fmt = (m: Record<string, number>): string => Object.values(m).map(formatCount).join(' / ');
    out.write(`  items per node before ${fmt(r.itemsPerNodeBefore)}; after ${fmt(r.itemsPerNodeAfter)}\n`);
    out.write(`  the new node holds ${formatCount(r.addedNodeItems)} items; an even share of the ${formatCount(2 * r.keys)} copies is ${formatCount(r.addedNodeShare)}\n`);
    const line = (when: string, s: SampleResult): string => `  read back ${formatCount(s.checked)} keys ${when}: ${formatCount(s.misses)} missing, ${formatCount(s.wrongSize)} wrong size, `
      + `${formatCount(s.errors)} errors${s.firstError === null ? '' : ` (${s.firstError})`}\n`;
    out.write(line('right after', r.sample));
    out.write(line(`${r.settleMs / 1000} s later, no load`, r.sampleAfterSettle));
    return rebalanceFigures(r);
  });
}

/** `pandakv bench rebalance`. */
export async function runRebalanceCli(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const o = parseRebalanceArgs(argv);
  if (o === 'help') {
    out.write(REBALANCE_USAGE);
    return 0;
  }
  const results: RebalanceBenchResults = { ...emptyResults(o.jsonFile), rebalance: null };
  const { machine } = results;
  out.write(`pandakv bench rebalance on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}\n`);
  out.write(`DHT + manager (r = 2) + 3 nodes, then a 4th; ${formatCount(o.keys)} keys of ${o.keySize} B, ${o.valueSize}-byte values; `
    + `get:${o.getPercent},set:${100 - o.getPercent} at ${o.inflight} in flight, ${o.baselineMs / 1000} s baseline\n\n`);
  await runRebalancePhase(o, results, out);
  return finishRun(results, o.jsonFile, out);
}
