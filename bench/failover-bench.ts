/**
 * `pandakv bench failover`: how long the units of a crashed node refuse writes. A DHT
 * bootstrap, a manager with redundancy 2 and `--failover-after-ms`, and 3 nodes on
 * loopback; writers keep a `majority` write load going, one node is killed with SIGKILL,
 * and the bench times from the kill until a write to a key whose unit the dead node was
 * active for is accepted again. Afterwards every acknowledged write is read back.
 */
import { numberArg, parseCommandLine, UsageError } from '../bin/cli-util.js';
import { createLatencyHistogram, formatCount, formatLatencyUs, recordMs, summarizeHistogram, type LatencySummary } from './histogram.js';
import { BENCH_DEFAULTS } from './options.js';
import { emptyResults, finishRun, makeFigure, runPhase, type BenchResults, type Figure } from './report.js';
import { Router } from '../sdk/router.js';
import { connectRepl, errorText, pollUntil, rebalanceProgress, sleep, startReplCluster, waitIdle, waitReplicated, type Client, type ReplCluster } from './repl-cluster.js';

/** Options of `pandakv bench failover`. */
export interface FailoverBenchOptions {
  /** The manager's `--failover-after-ms`. @default 5000 */
  failoverAfterMs: number;
  /** Writers per key group (victim-active, victim-replica, other), one write outstanding each. @default 8 */
  writersPerGroup: number;
  /** Write load before the kill, ms. @default 3000 */
  beforeKillMs: number;
  /** Write load after every group has recovered, ms. @default 2000 */
  afterRecoveryMs: number;
  /** @default 100 */
  valueSize: number;
  /** Deadline of each write, ms (a majority write itself times out after 2 s). @default 3000 */
  opTimeoutMs: number;
  /** Deadline for the victim's units to take writes again, beyond failoverAfterMs, ms. @default 60000 */
  recoveryTimeoutMs: number;
  /** @default 15000 */
  spawnTimeoutMs: number;
  /** @default 30000 */
  clusterTimeoutMs: number;
  /** @default 'bench-results.json' */
  jsonFile: string;
}

export const FAILOVER_DEFAULTS: Readonly<FailoverBenchOptions> = Object.freeze({
  failoverAfterMs: 5000,
  writersPerGroup: 8,
  beforeKillMs: 3000,
  afterRecoveryMs: 2000,
  valueSize: 100,
  opTimeoutMs: 3000,
  recoveryTimeoutMs: 60_000,
  spawnTimeoutMs: 15_000,
  clusterTimeoutMs: 30_000,
  jsonFile: BENCH_DEFAULTS.jsonFile,
});

export const FAILOVER_USAGE = `Usage: pandakv bench failover [switches]

Starts a DHT bootstrap, a manager (redundancy 2) and 3 nodes on 127.0.0.1, keeps a
majority write load going, kills one node with SIGKILL and times from the kill until
writes to the units it was active for are accepted again (target ≤ failover-after-ms +
1 s). Then reads back every acknowledged write (target: 0 lost).

  --failover-after-ms MS  the manager's failure detection delay (default 5000)
  --writers N             writers per key group, 3 groups (default 8)
  --json FILE             results file (default bench-results.json)
  --help                  print this text
`;

/** Keys grouped by the dead node's role in their chain before the kill. */
export type KeyGroup = 'victimActive' | 'victimReplica' | 'other';
const GROUPS: readonly KeyGroup[] = ['victimActive', 'victimReplica', 'other'];

/** What one group of writers saw. Times are ms after the SIGKILL. */
export interface GroupResult {
  acked: number;
  failed: number;
  /** Failures of writes issued after the kill. */
  failedAfterKill: number;
  firstError: string | null;
  /** First success of a write issued after the kill; null when none. */
  firstSuccessMs: number | null;
  /** Completion of the last failing write; null when none failed. */
  lastFailureMs: number | null;
  /** Latency of acknowledged writes before the kill. */
  latencyBefore: LatencySummary;
}

export interface FailoverBenchResult {
  failoverAfterMs: number;
  victim: string;
  /** When the client first saw the victim marked failed, ms after the kill. */
  mapFailedMs: number | null;
  groups: Record<KeyGroup, GroupResult>;
  /** Victim-active group's first success after the kill. */
  recoveryMs: number;
  recoveryRatio: number;
  ackedTotal: number;
  lost: number;
  readErrors: number;
  firstLost: string | null;
}

export type FailoverBenchResults = BenchResults & { failover: FailoverBenchResult | null };

const SWITCHES = {
  'failover-after-ms': { type: 'string' }, writers: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
} as const;

/** Parse `pandakv bench failover` arguments. @throws UsageError */
export function parseFailoverArgs(argv: string[]): FailoverBenchOptions | 'help' {
  const { values, positionals } = parseCommandLine(argv, SWITCHES);
  if (values.help === true) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const o: FailoverBenchOptions = { ...FAILOVER_DEFAULTS };
  o.failoverAfterMs = numberArg(values, 'failover-after-ms', (n) => Number.isInteger(n) && n >= 50 && n <= 600_000) ?? o.failoverAfterMs;
  o.writersPerGroup = numberArg(values, 'writers', (n) => Number.isSafeInteger(n) && n >= 1 && n <= 1024) ?? o.writersPerGroup;
  if (values.json !== undefined) {
    const file = String(values.json).trim();
    if (file === '') throw new UsageError('--json: expected a file name');
    o.jsonFile = file;
  }
  return o;
}

class GroupState {
  acked = 0;
  failed = 0;
  failedAfterKill = 0;
  firstError: string | null = null;
  firstSuccessAt: number | null = null;
  lastFailureAt: number | null = null;
  readonly histogram = createLatencyHistogram();
  next = 0;
}

/** Run the bench: cluster up, write load, SIGKILL, wait for recovery, read everything back. */
export async function runFailoverBench(o: FailoverBenchOptions, out: NodeJS.WritableStream): Promise<FailoverBenchResult> {
  let cluster: ReplCluster | null = null;
  let db: Client | null = null;
  let isRunning = false;
  let writers: Promise<void>[] = [];
  try {
    cluster = await startReplCluster({
      nodes: 3, managerArgs: ['--failover-after-ms', String(o.failoverAfterMs)], nodeMemoryMb: 256, spawnTimeoutMs: o.spawnTimeoutMs,
    });
    const inflight = o.writersPerGroup * GROUPS.length;
    db = await connectRepl(cluster.manager.address, { inflight, timeoutMs: o.opTimeoutMs, durability: 'majority' });
    const client = db;
    await waitReplicated(client, 3, o.clusterTimeoutMs);
    // Every chain may hold two copies while moves of the initial placement still switch
    // actives: the keys are grouped by the final map, so wait for the placement to end.
    const manager = cluster.manager.address;
    await pollUntil('the initial placement', o.clusterTimeoutMs, async () => (
      (await rebalanceProgress(manager))?.isDone === true && client.map?.moves.length === 0 ? true : null), 200);
    await waitIdle(client, o.clusterTimeoutMs);

    // Keys are sorted by the victim's role in their chain on the map before the kill.
    const victim = cluster.nodes[1]!;
    const before = new Router(client.map!);
    const groupOf = (key: string): KeyGroup => {
      const chain = before.explain(key).chain;
      return chain[0] === victim.address ? 'victimActive' : chain.includes(victim.address) ? 'victimReplica' : 'other';
    };
    const states: Record<KeyGroup, GroupState> = { victimActive: new GroupState(), victimReplica: new GroupState(), other: new GroupState() };
    const acked = new Map<string, string>();
    let killedAt = Number.POSITIVE_INFINITY;
    const value = (key: string): string => `${key}|${'x'.repeat(Math.max(0, o.valueSize - key.length - 1))}`;
    const writer = async (group: KeyGroup): Promise<void> => {
      const s = states[group];
      while (isRunning) {
        let key: string;
        do key = `fo:${group}:${s.next++}`; while (groupOf(key) !== group);
        const v = value(key);
        const t0 = performance.now();
        try {
          await client.set(key, v);
          const t1 = performance.now();
          acked.set(key, v);
          s.acked++;
          if (t0 < killedAt) recordMs(s.histogram, t1 - t0);
          else s.firstSuccessAt ??= t1;
        } catch (err) {
          const t1 = performance.now();
          s.failed++;
          if (t0 >= killedAt) s.failedAfterKill++;
          s.firstError ??= errorText(err);
          s.lastFailureAt = t1;
          // A refused write comes back at once; back off a little instead of spinning.
          await sleep(5);
        }
      }
    };
    isRunning = true;
    writers = GROUPS.flatMap((g) => Array.from({ length: o.writersPerGroup }, () => writer(g)));
    await sleep(o.beforeKillMs);
    const ackedBeforeKill = acked.size;

    killedAt = performance.now();
    await victim.stop('SIGKILL');
    out.write(`  ${formatCount(ackedBeforeKill)} majority writes acknowledged, then SIGKILL of ${victim.address}\n`);
    let mapFailedAt: number | null = null;
    const onMap = (): void => {
      if (mapFailedAt === null && client.map?.nodes.some((n) => n.address === victim.address && n.state === 'failed') === true) mapFailedAt = performance.now();
    };
    client.on('map', onMap);
    try {
      await pollUntil('writes to every group after the kill', o.failoverAfterMs + o.recoveryTimeoutMs, () => (GROUPS.every((g) => states[g].firstSuccessAt !== null) ? true : null), 10);
      // Keep writing a little longer: late failures show whether recovery stuck.
      await sleep(o.afterRecoveryMs);
    } finally {
      client.off('map', onMap);
      onMap();
    }
    isRunning = false;
    await Promise.all(writers);
    writers = [];

    // Read back every acknowledged write once the copies are restored.
    await waitIdle(client, o.clusterTimeoutMs).catch(() => null);
    let lost = 0;
    let readErrors = 0;
    let firstLost: string | null = null;
    const entries = [...acked];
    let next = 0;
    const reader = async (): Promise<void> => {
      while (next < entries.length) {
        const [key, v] = entries[next++]!;
        try {
          const got = await client.get(key);
          if (got === null || Buffer.from(got).toString() !== v) {
            lost++;
            firstLost ??= key;
          }
        } catch {
          readErrors++;
        }
      }
    };
    await Promise.all(Array.from({ length: 128 }, reader));

    const since = (t: number | null): number | null => (t === null ? null : t - killedAt);
    const groups = Object.fromEntries(GROUPS.map((g) => {
      const s = states[g];
      return [g, {
        acked: s.acked, failed: s.failed, failedAfterKill: s.failedAfterKill, firstError: s.firstError,
        firstSuccessMs: since(s.firstSuccessAt), lastFailureMs: since(s.lastFailureAt), latencyBefore: summarizeHistogram(s.histogram),
      } satisfies GroupResult];
    })) as Record<KeyGroup, GroupResult>;
    const recoveryMs = groups.victimActive.firstSuccessMs ?? Number.NaN;
    return {
      failoverAfterMs: o.failoverAfterMs, victim: victim.address, mapFailedMs: since(mapFailedAt), groups,
      recoveryMs, recoveryRatio: recoveryMs / o.failoverAfterMs, ackedTotal: acked.size, lost, readErrors, firstLost,
    };
  } catch (err) {
    if (cluster !== null && err instanceof Error) err.message += `\n${cluster.describe()}`;
    throw err;
  } finally {
    isRunning = false;
    await Promise.allSettled(writers);
    if (db !== null) await db.close().catch(() => null);
    if (cluster !== null) await cluster.close();
  }
}

/** The figures of a failover run, in the order they are printed. */
export function failoverFigures(r: FailoverBenchResult): Figure[] {
  return [
    makeFigure('failover.recoveryMs', 'SIGKILL → writes accepted', r.recoveryMs, 'ms', { comparison: '<=', value: r.failoverAfterMs + 1000 }),
    makeFigure('failover.recoveryRatio', 'recovery / failover-after-ms', r.recoveryRatio, 'ratio', { comparison: '<=', value: (r.failoverAfterMs + 1000) / r.failoverAfterMs }),
    makeFigure('failover.ackedWrites', 'acknowledged writes checked', r.ackedTotal, 'count', null),
    makeFigure('failover.lost', 'acknowledged writes lost', r.lost + r.readErrors, 'count', { comparison: '<=', value: 0 }),
  ];
}

const LABELS: Record<KeyGroup, string> = { victimActive: 'victim active', victimReplica: 'victim replica', other: 'other units' };

/** Run the failover bench as a phase: print it, add its figures, record a failure instead of throwing. */
export async function runFailoverPhase(o: FailoverBenchOptions, results: FailoverBenchResults, out: NodeJS.WritableStream): Promise<void> {
  const { jsonFile: _file, ...config } = o;
  results.config.failover = config;
  await runPhase('failover', results, out, async () => {
    const r = await runFailoverBench(o, out);
    results.failover = r;
    const ms = (v: number | null): string => (v === null ? '—' : `${formatCount(v)} ms`);
    out.write(`  the client saw the node failed in the map ${ms(r.mapFailedMs)} after the kill\n`);
    for (const g of GROUPS) {
      const s = r.groups[g];
      out.write(`  ${LABELS[g].padEnd(15)} ${formatCount(s.acked).padStart(7)} acked, ${formatCount(s.failed).padStart(5)} failed   `
        + `first write accepted after the kill ${ms(s.firstSuccessMs).padStart(9)}, last failure ${ms(s.lastFailureMs).padStart(9)}   `
        + `p50 ${formatLatencyUs(s.latencyBefore.p50Us)} p99 ${formatLatencyUs(s.latencyBefore.p99Us)} before the kill`
        + `${s.firstError === null ? '' : `   (${s.firstError})`}\n`);
    }
    out.write(`  read back ${formatCount(r.ackedTotal)} acknowledged writes: ${formatCount(r.lost)} lost, ${formatCount(r.readErrors)} read errors${r.firstLost === null ? '' : ` (first: ${r.firstLost})`}\n`);
    return failoverFigures(r);
  });
}

/** `pandakv bench failover`. */
export async function runFailoverCli(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const o = parseFailoverArgs(argv);
  if (o === 'help') {
    out.write(FAILOVER_USAGE);
    return 0;
  }
  const results: FailoverBenchResults = { ...emptyResults(o.jsonFile), failover: null };
  const { machine } = results;
  out.write(`pandakv bench failover on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}\n`);
  out.write(`DHT + manager (r = 2, --failover-after-ms ${o.failoverAfterMs}) + 3 nodes; ${o.writersPerGroup * GROUPS.length} majority writers\n\n`);
  await runFailoverPhase(o, results, out);
  return finishRun(results, o.jsonFile, out);
}
