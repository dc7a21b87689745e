import { numberArg, parseCommandLine, UsageError } from '../bin/cli-util.js';
import { parseMix } from './mix.js';
import { BENCH_DEFAULTS } from './options.js';
import { schedArg, type SchedPolicy } from '../bin/sched-policy.js';

/** Options of `pandakv bench peers`. */
export interface PeersBenchOptions {
  /** Key space, loaded into every store before the timed runs. @default 10000 */
  keys: number;
  /** @default 16 */
  keySize: number;
  /** @default 100 */
  valueSize: number;
  /** Requests outstanding in the throughput runs. @default 64 */
  inflight: number;
  /** Workload of the memcached throughput runs and of the latency mixes. @default 'get:90,set:10' */
  mix: string;
  /** In-flight counts of the latency mixes. @default [1, 16] */
  mixInflights: number[];
  /** memcached connections the memcached load spreads its requests over. @default 8 */
  memcachedConnections: number;
  /** Length of each timed run, ms. @default 2000 */
  durationMs: number;
  /**
   * Untimed run of each contender before the timed rounds, ms. PandaKV's processes run
   * JIT-compiled JavaScript: under this load its proxy path needs 2–4 s to reach its rate
   * (see docs/benchmarks.md); the C peers need none and get the same. @default 3000
   */
  warmupMs: number;
  /** Rounds; each round runs every contender once, in turn; the fastest undisturbed round counts. @default 2 */
  rounds: number;
  /**
   * A round is disturbed when processes outside the bench used more than this share of
   * the machine's cores while it ran (bench/outside-load.ts); it counts only when every
   * round of that run was (throughput: the fastest round counts; latency: the median p50). @default 0.05
   */
  maxOutsideShare: number;
  /** More rounds, at most this many, while some contender has no undisturbed round. @default 2 */
  extraRounds: number;
  /** Single GETs per one-in-flight run of the added-latency comparison. @default 2000 */
  latencyCount: number;
  /**
   * One-in-flight runs per path, alternating; the median p50 counts. More than the
   * throughput rounds: the direct baselines move by 2× from run to run. @default 5
   */
  latencyRounds: number;
  /** Start a process that keeps one core busy for the whole run. @default false */
  isContended: boolean;
  /** Pass mark: SDK ÷ ioredis Cluster, GET and SET. @default 2.0 */
  targetSdkRatio: number;
  /** Pass mark: memcached through the PandaKV proxy ÷ through twemproxy. @default 1.0 */
  targetMemcachedRatio: number;
  /** Deadline of each operation, ms. @default 5000 */
  opTimeoutMs: number;
  /** Deadline for each process or cluster to be ready, ms. @default 20000 */
  spawnTimeoutMs: number;
  /** Results file. @default 'bench-results.json' */
  jsonFile: string;
  /**
   * Directory for CPU profiles (`node --cpu-prof`) of the PandaKV processes the bench
   * starts (manager, nodes, proxy), written when they stop; null: none. @default null
   */
  cpuProfDir: string | null;
  /** Which side to run: the SDK against ioredis, the proxy against twemproxy, or both. @default 'all' */
  only: 'all' | 'sdk' | 'proxy';
  /** `--sched` of the PandaKV nodes and proxy; null: each command's default. @default null */
  sched: SchedPolicy | null;
  /** `--idle-poll-us` of the PandaKV proxy; null: the proxy's default (polling on spare cores). @default null */
  idlePollUs: number | null;
  /**
   * Put the peers' data servers (redis-server, memcached) under this policy once started,
   * as PandaKV's nodes put themselves: the comparison under equal policies. null: as they
   * ship. @default null
   */
  peerSched: SchedPolicy | null;
}

export const PEERS_BENCH_DEFAULTS: Readonly<PeersBenchOptions> = Object.freeze({
  keys: 10_000,
  keySize: 16,
  valueSize: 100,
  inflight: 64,
  mix: 'get:90,set:10',
  mixInflights: Object.freeze([1, 16]) as number[],
  memcachedConnections: 8,
  durationMs: 2000,
  warmupMs: 3000,
  rounds: 2,
  maxOutsideShare: 0.05,
  extraRounds: 2,
  latencyCount: 2000,
  latencyRounds: 5,
  isContended: false,
  targetSdkRatio: 2.0,
  targetMemcachedRatio: 1.0,
  opTimeoutMs: 5000,
  spawnTimeoutMs: 20_000,
  jsonFile: BENCH_DEFAULTS.jsonFile,
  cpuProfDir: null,
  only: 'all',
  sched: null,
  idlePollUs: null,
  peerSched: null,
});

/** What `--quick` changes. */
export const PEERS_QUICK_OVERRIDES: Readonly<Partial<PeersBenchOptions>> = Object.freeze({ durationMs: 500, warmupMs: 200, rounds: 1, extraRounds: 0, latencyCount: 300, latencyRounds: 1 });

export const PEERS_USAGE = `Usage: pandakv bench peers [switches]

Measures PandaKV side by side with its peers, all on 127.0.0.1, contenders alternating
in rounds:
  - the SDK on a 3-node PandaKV cluster (memory engine) vs ioredis Cluster
    (enableAutoPipelining) on a 3-master Redis Cluster: GET and SET;
  - memcached text through the PandaKV proxy vs through twemproxy (nutcracker, ketama)
    in front of 3 memcached (-t 1), with the same memcached load;
  - the same contenders at 1 and 16 in flight, and the latency a proxy adds to a GET.
Prints ops/s, p50/p99, CPU µs per operation of every process and PASS/MISS against the
targets: SDK GET and SET ≥ 2.0× ioredis Cluster; proxy ≥ 1.0× twemproxy; the proxy's
added p50 at one in flight ≤ twemproxy's. A peer whose binaries are missing is skipped
(install them with bench/setup-peers.sh).

  --keys N             key space (default 10000)
  --inflight N         requests outstanding in the throughput runs (default 64)
  --mix LIST           memcached and latency-mix workload (default get:90,set:10)
  --connections N      memcached connections (default 8)
  --duration S         seconds per timed run (default 2)
  --rounds N           rounds; every contender runs once per round (default 2); the
                       fastest round counts, among those no outside load disturbed
  --max-outside P      a round is disturbed when processes outside the bench used more
                       than P of the machine's cores meanwhile (default 0.05; 1: never)
  --extra-rounds N     up to N more rounds while a run has no undisturbed round
                       (default 2)
  --warmup S           untimed run of each contender first, seconds (default 3: the
                       JIT-compiled PandaKV processes need 2-4 s of load to reach their rate)
  --contend            keep one core busy with another process for the whole run
  --json FILE          results file (default bench-results.json)
  --cpu-prof DIR       write a CPU profile of the manager, each node and the proxy into DIR
                       when they stop (node --cpu-prof); profile the bench client itself
                       with: node --cpu-prof dist/bin/pandakv.js bench peers
  --only sdk|proxy     run one side only: the SDK vs ioredis Cluster, or the proxy vs
                       twemproxy (the other's servers are not started)
  --sched POLICY       start the PandaKV nodes and proxy with --sched POLICY (batch or
                       normal; default: theirs, batch for nodes, normal for the proxy)
  --idle-poll-us N     start the PandaKV proxy with --idle-poll-us N (0: no polling;
                       default: the proxy's, 200 on spare cores)
  --peer-sched POLICY  put redis-server and memcached under POLICY once started (batch:
                       the policy PandaKV's nodes take; default: none, as they ship)
  --quick              1 round of 0.5 s per contender, no extra rounds
  --help               print this text
`;

const SWITCHES = {
  keys: { type: 'string' }, inflight: { type: 'string' }, mix: { type: 'string' }, connections: { type: 'string' },
  duration: { type: 'string' }, warmup: { type: 'string' }, rounds: { type: 'string' }, 'max-outside': { type: 'string' }, 'extra-rounds': { type: 'string' }, contend: { type: 'boolean' }, json: { type: 'string' }, 'cpu-prof': { type: 'string' },
  only: { type: 'string' }, sched: { type: 'string' }, 'peer-sched': { type: 'string' }, 'idle-poll-us': { type: 'string' }, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

/** Parse `pandakv bench peers` arguments. @throws UsageError */
export function parsePeersArgs(argv: string[]): PeersBenchOptions | 'help' {
  const { values, positionals } = parseCommandLine(argv, SWITCHES);
  if (values.help === true) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const o: PeersBenchOptions = { ...PEERS_BENCH_DEFAULTS, mixInflights: [...PEERS_BENCH_DEFAULTS.mixInflights], ...(values.quick === true ? PEERS_QUICK_OVERRIDES : {}) };
  const isCount = (max: number) => (n: number): boolean => Number.isSafeInteger(n) && n >= 1 && n <= max;
  o.keys = numberArg(values, 'keys', isCount(1_000_000)) ?? o.keys;
  o.inflight = numberArg(values, 'inflight', isCount(4096)) ?? o.inflight;
  o.memcachedConnections = numberArg(values, 'connections', isCount(1024)) ?? o.memcachedConnections;
  o.rounds = numberArg(values, 'rounds', isCount(100)) ?? o.rounds;
  o.maxOutsideShare = numberArg(values, 'max-outside', (n) => Number.isFinite(n) && n > 0 && n <= 1) ?? o.maxOutsideShare;
  o.extraRounds = numberArg(values, 'extra-rounds', (n) => Number.isSafeInteger(n) && n >= 0 && n <= 100) ?? o.extraRounds;
  const seconds = numberArg(values, 'duration', (n) => Number.isFinite(n) && n > 0 && n <= 600);
  if (seconds !== undefined) o.durationMs = seconds * 1000;
  const warmup = numberArg(values, 'warmup', (n) => Number.isFinite(n) && n >= 0 && n <= 600);
  if (warmup !== undefined) o.warmupMs = warmup * 1000;
  if (typeof values.mix === 'string') {
    const mix = parseMix(values.mix);
    if (mix.weights.some((w) => w.op === 'delete')) throw new UsageError('--mix: the peers bench runs get and set only');
    o.mix = values.mix;
  }
  if (values.contend === true) o.isContended = true;
  if (values['cpu-prof'] !== undefined) {
    const dir = String(values['cpu-prof']).trim();
    if (dir === '') throw new UsageError('--cpu-prof: expected a directory');
    o.cpuProfDir = dir;
  }
  if (values.only !== undefined) {
    const only = String(values.only);
    if (only !== 'sdk' && only !== 'proxy') throw new UsageError(`--only: expected sdk or proxy, got "${only}"`);
    o.only = only;
  }
  if (values.json !== undefined) {
    const file = String(values.json).trim();
    if (file === '') throw new UsageError('--json: expected a file name');
    o.jsonFile = file;
  }
  o.sched = schedArg(values.sched) ?? null;
  o.peerSched = schedArg(values['peer-sched']) ?? null;
  o.idlePollUs = numberArg(values, 'idle-poll-us', (n) => Number.isInteger(n) && n >= 0 && n <= 1_000_000) ?? null;
  if (o.memcachedConnections > o.inflight) o.memcachedConnections = o.inflight;
  return o;
}
