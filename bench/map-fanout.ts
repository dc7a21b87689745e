/**
 * `pandakv bench map`: how long a map change takes to reach every subscriber. A real
 * manager process, N `ManagerMapSource` subscriptions in one child process, and fake
 * nodes registered one at a time, each of which makes the leader publish a new map.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { numberArg, parseCommandLine, UsageError } from '../bin/cli-util.js';
import { spawnManager, type Spawned } from '../bin/spawn.js';
import { createLatencyHistogram, formatCount, formatLatencyUs, recordMs, summarizeHistogram, type LatencySummary } from './histogram.js';
import { BENCH_DEFAULTS } from './options.js';
import { distPath, runToEnd } from './processes.js';
import { emptyResults, finishRun, makeFigure, runPhase, type BenchResults } from './report.js';
import type { FanoutReport, PushCounters } from './map-fanout-subscribers.js';

/** Options of `pandakv bench map`. */
export interface MapFanoutOptions {
  /** Map subscriptions, all in one child process. @default 100 */
  subscribers: number;
  /** Measured map changes. @default 50 */
  changes: number;
  /** Changes made before measuring (JIT warm-up). @default 3 */
  warmupChanges: number;
  /** Pass mark: p99 from trigger to subscriber, at most, ms. @default 50 */
  targetP99Ms: number;
  /** Deadline for one change to reach every subscriber, ms. @default 5000 */
  changeTimeoutMs: number;
  /** Deadline for all subscriptions to have a first map, and for each fake node to connect, ms. @default 10000 */
  connectTimeoutMs: number;
  /** Deadline for the manager to report ready, ms. @default 15000 */
  spawnTimeoutMs: number;
  /** The manager's `--failover-after-ms`: long, so no fake node is failed during the run. @default 60000 */
  failoverAfterMs: number;
  /** Results file. @default 'bench-results.json' */
  jsonFile: string;
}

export const MAP_FANOUT_DEFAULTS: Readonly<MapFanoutOptions> = Object.freeze({
  subscribers: 100,
  changes: 50,
  warmupChanges: 3,
  targetP99Ms: 50,
  changeTimeoutMs: 5000,
  connectTimeoutMs: 10_000,
  spawnTimeoutMs: 15_000,
  failoverAfterMs: 60_000,
  jsonFile: BENCH_DEFAULTS.jsonFile,
});

/** What `--quick` changes. */
export const MAP_QUICK_OVERRIDES: Readonly<Partial<MapFanoutOptions>> = Object.freeze({ changes: 20, warmupChanges: 2 });

export const MAP_USAGE = `Usage: pandakv bench map [switches]

Times a map change from the trigger (a node registering with a manager process) until
each subscriber, all in one child process, has the new map. Target: p99 ≤ 50 ms.

  --subscribers N      map subscriptions (default 100)
  --changes N          measured map changes (default 50)
  --json FILE          results file (default bench-results.json)
  --quick              20 changes
  --help               print this text

"pandakv bench --only sdk,map" runs it after the other named phases.
`;

/** Everything the map bench measured, as written to the results file. */
export interface MapFanoutResult {
  subscribers: number;
  changes: number;
  targetP99Ms: number;
  /** Trigger → subscriber over every (change × subscriber) sample; `firstLatency` and
   * `lastLatency` take one sample per change, its first and its last subscriber. */
  latency: LatencySummary;
  /** Manager publish → subscriber: the map change itself reaching subscribers (the target). */
  publishLatency: LatencySummary;
  firstLatency: LatencySummary;
  lastLatency: LatencySummary;
  /** Samples that missed the per-change deadline (recorded at the deadline). */
  missed: number;
  fullMapBytes: number;
  meanDeltaBytes: number;
  nodes: number;
  finalRev: number;
  /** Maps the manager sent while the measured changes ran. */
  pushes: PushCounters;
  isPass: boolean;
}

/** Results of a run that may include the map phase. */
export type MapBenchResults = BenchResults & { map: MapFanoutResult | null };

const MAP_SWITCHES = {
  subscribers: { type: 'string' }, changes: { type: 'string' }, json: { type: 'string' }, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;
const MAX_COUNT = 10_000;
/** Time the subscriber process gets beyond its own deadlines before it is killed, ms. */
const CHILD_SLACK_MS = 30_000;

/** Parse `pandakv bench map` arguments. @throws UsageError */
export function parseMapArgs(argv: string[]): MapFanoutOptions | 'help' {
  const { values, positionals } = parseCommandLine(argv, MAP_SWITCHES);
  if (values.help === true) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const o: MapFanoutOptions = { ...MAP_FANOUT_DEFAULTS, ...(values.quick === true ? MAP_QUICK_OVERRIDES : {}) };
  const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 1 && n <= MAX_COUNT;
  o.subscribers = numberArg(values, 'subscribers', isCount) ?? o.subscribers;
  o.changes = numberArg(values, 'changes', isCount) ?? o.changes;
  if (values.json !== undefined) {
    const file = String(values.json).trim();
    if (file === '') throw new UsageError('--json: expected a file name');
    o.jsonFile = file;
  }
  return o;
}

/**
 * Split `pandakv bench` arguments between the suite and the map bench (null: that part
 * does not run). `--only` may name `map` next to suite phases; `--subscribers`,
 * `--changes` (and `--quick`) then go to the map bench.
 */
export function splitMapArgs(argv: readonly string[]): { suiteArgv: string[] | null; mapArgv: string[] | null } {
  if (argv[0] === 'map') return { suiteArgv: null, mapArgv: argv.slice(1) };
  const suite: string[] = [];
  const map: string[] = [];
  const rest: string[] = [];
  let hasMap = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const isValued = name === '--only' || name === '--subscribers' || name === '--changes';
    let value = '';
    if (isValued && eq > 0) value = arg.slice(eq + 1);
    else if (isValued) value = argv[++i] ?? '';
    if (name === '--only') {
      const phases = value.split(',').map((p) => p.trim()).filter((p) => p !== '');
      hasMap ||= phases.some((p) => p.toLowerCase() === 'map');
      rest.push(...phases.filter((p) => p.toLowerCase() !== 'map'));
    } else if (isValued) {
      map.push(name, value);
    } else {
      suite.push(arg);
      if (name === '--quick') map.push(arg);
    }
  }
  if (!hasMap) return { suiteArgv: [...argv], mapArgv: null };
  if (rest.length === 0) return { suiteArgv: null, mapArgv: [...map.filter((a) => a !== '--quick'), ...suite] };
  return { suiteArgv: [...suite, '--only', rest.join(',')], mapArgv: map };
}

/** The subscriber process's result line. @throws Error when there is none */
export function parseFanoutOutput(stdout: string): FanoutReport {
  for (const line of stdout.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    const result = (JSON.parse(line) as { result?: Partial<FanoutReport> }).result;
    if (result !== undefined && Array.isArray(result.changes) && result.pushes !== undefined) return result as FanoutReport;
  }
  throw new Error('the subscriber process printed no result');
}

/** Turn the raw samples into percentiles and a verdict. Missed samples count as the deadline. */
export function summarizeFanout(r: FanoutReport, o: MapFanoutOptions): MapFanoutResult {
  const all = createLatencyHistogram();
  const first = createLatencyHistogram();
  const last = createLatencyHistogram();
  const published = createLatencyHistogram();
  let missed = 0;
  for (const c of r.changes) {
    for (const ms of c.latenciesMs) recordMs(all, ms);
    for (const ms of c.publishLagsMs ?? []) recordMs(published, ms);
    for (let i = 0; i < c.missed; i++) recordMs(published, o.changeTimeoutMs);
    for (let i = 0; i < c.missed; i++) recordMs(all, o.changeTimeoutMs);
    missed += c.missed;
    recordMs(first, c.latenciesMs[0] ?? o.changeTimeoutMs);
    recordMs(last, c.missed > 0 ? o.changeTimeoutMs : c.latenciesMs[c.latenciesMs.length - 1] ?? o.changeTimeoutMs);
  }
  const latency = summarizeHistogram(all);
  const publishLatency = summarizeHistogram(published);
  const deltas = r.changes.flatMap((c) => (c.deltaBytes === null ? [] : [c.deltaBytes]));
  return {
    subscribers: o.subscribers, changes: r.changes.length, targetP99Ms: o.targetP99Ms,
    latency, publishLatency, firstLatency: summarizeHistogram(first), lastLatency: summarizeHistogram(last), missed,
    fullMapBytes: r.fullMapBytes,
    meanDeltaBytes: deltas.length === 0 ? Number.NaN : deltas.reduce((a, b) => a + b, 0) / deltas.length,
    nodes: r.nodes, finalRev: r.changes[r.changes.length - 1]?.rev ?? 0,
    pushes: r.pushes,
    isPass: publishLatency.count > 0 && publishLatency.p99Us <= o.targetP99Ms * 1000,
  };
}

/** Start a manager, run the subscriber process against it, and stop the manager by its pid. */
export async function runMapFanout(o: MapFanoutOptions): Promise<MapFanoutResult> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-bench-map-'));
  let manager: Spawned | null = null;
  try {
    manager = await spawnManager(['--insecure', '--no-dht', '--cfg', `file:${join(dir, 'cfg.json')}`, '--failover-after-ms', String(o.failoverAfterMs)], o.spawnTimeoutMs);
    const steps = 1 + o.warmupChanges + o.changes;
    const stdout = await runToEnd({
      name: 'map-fanout-subscribers',
      args: [distPath('./map-fanout-subscribers.js'), ...Object.entries({
        manager: manager.address, subscribers: o.subscribers, changes: o.changes, 'warmup-changes': o.warmupChanges,
        'change-timeout-ms': o.changeTimeoutMs, 'connect-timeout-ms': o.connectTimeoutMs,
      }).flatMap(([name, value]) => [`--${name}`, String(value)])],
      timeoutMs: steps * (o.changeTimeoutMs + o.connectTimeoutMs) + CHILD_SLACK_MS,
    });
    return summarizeFanout(parseFanoutOutput(stdout), o);
  } finally {
    if (manager !== null) await manager.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Run the map bench as a phase: print it, add its figures, record a failure instead of throwing. */
export async function runMapPhase(o: MapFanoutOptions, results: MapBenchResults, out: NodeJS.WritableStream): Promise<void> {
  const { jsonFile: _file, ...config } = o;
  results.config.map = config;
  await runPhase('map', results, out, async () => {
    const r = await runMapFanout(o);
    results.map = r;
    const [l, ms] = [r.latency, formatLatencyUs];
    out.write(`  ${r.subscribers} subscribers × ${r.changes} changes: p50 ${ms(l.p50Us)}   p99 ${ms(l.p99Us)}   max ${ms(l.maxUs)}   `
      + `(${r.missed} missed; per change, first subscriber p50 ${ms(r.firstLatency.p50Us)}, last ${ms(r.lastLatency.p50Us)})\n`);
    out.write(`  map ${formatCount(r.fullMapBytes)} B with ${r.nodes} nodes, deltas ${formatCount(r.meanDeltaBytes)} B on average; `
      + `the manager sent ${formatCount(r.pushes.delta)} deltas and ${formatCount(r.pushes.full)} full maps\n`);
    const pl = r.publishLatency;
    out.write(`  from the manager publishing the map to each subscriber: p50 ${ms(pl.p50Us)}   p99 ${ms(pl.p99Us)}   max ${ms(pl.maxUs)}\n`);
    out.write(`  publish → subscriber p99 ${ms(pl.p99Us)}, target ≤ ${r.targetP99Ms} ms: ${r.isPass ? 'PASS' : 'MISS'}\n`);
    // Figures have no latency unit, so the target is carried as a share of the budget.
    return [
      makeFigure('map.p99TargetRatio', `map fan-out p99 / ${r.targetP99Ms} ms`, pl.p99Us / (r.targetP99Ms * 1000), 'ratio', { comparison: '<=', value: 1 }),
      makeFigure('map.fullMapBytes', 'map size (full)', r.fullMapBytes, 'bytes', null),
    ];
  });
}

/** `pandakv bench map`: the map bench alone, written to the results file like the suite. */
export async function runMapCli(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const o = parseMapArgs(argv);
  if (o === 'help') {
    out.write(MAP_USAGE);
    return 0;
  }
  const results: MapBenchResults = { ...emptyResults(o.jsonFile), map: null };
  const { machine } = results;
  out.write(`pandakv bench map on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}\n\n`);
  await runMapPhase(o, results, out);
  return finishRun(results, o.jsonFile, out);
}
