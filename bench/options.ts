import type { OpMix } from './mix.js';

/** The phases of the standard suite, in the order they run. */
export const PHASES = Object.freeze(['ceiling', 'sdk', 'memory', 'keystream'] as const);
export type Phase = (typeof PHASES)[number];

/** Pass marks printed next to each figure (see docs/benchmarks.md for where each comes from). */
export interface BenchTargets {
  /**
   * Transport ceiling, requests/s: batching must at least match the unbatched
   * 64-in-flight figure of DESIGN §15. @default 90000
   */
  ceilingOpsPerSec: number;
  /** SDK throughput as a share of the ceiling, at least. @default 0.5 */
  sdkCeilingRatio: number;
  /** Marginal node RSS per item ÷ raw key+value bytes, at most (memcached-like overhead). @default 2 */
  memoryMarginalRatio: number;
  /** Keystream hashing, keys/s, at least. @default 8000000 */
  keystreamKeysPerSec: number;
}

/** Options of `pandakv bench`. */
export interface BenchOptions {
  /** Workloads of the SDK phase; each is run on its own (`--ops get,set` → two runs). @default [get:100, set:100] */
  mixes: OpMix[];
  /** Size of the key space of the throughput phases. @default 100000 */
  keys: number;
  /** Items loaded by the memory phase. @default 1000000 */
  items: number;
  /** Length of every key in bytes. @default 16 */
  keySize: number;
  /** Length of every value in bytes. @default 100 */
  valueSize: number;
  /** Requests kept outstanding by the closed loop. @default 64 */
  inflight: number;
  /** Length of each timed run in seconds, unless `count` is set. @default 3 */
  durationS: number;
  /** Timed rounds per figure; the fastest round is reported (shared machines are noisy). @default 3 */
  rounds: number;
  /** Operations per timed run instead of a duration; 0 = use `durationS`. @default 0 */
  count: number;
  /** Requests kept outstanding while loading keys (not a reported figure, so wider). @default 256 */
  loadInflight: number;
  /** Untimed warm-up before each timed run, seconds. @default 1 */
  warmupS: number;
  /** Nodes to measure instead of spawning one (`--target`); empty = spawn. @default [] */
  targetNodes: string[];
  /** Results file. @default 'bench-results.json' */
  jsonFile: string;
  /** Phases to run. @default all of PHASES */
  only: Phase[];
  /** Memory budget of a spawned node for the throughput phases, MB. @default 256 */
  nodeMemoryMb: number;
  /** Wait after loading before the memory phase samples RSS, ms. @default 500 */
  settleMs: number;
  /** Deadline for a spawned process to report ready, ms. @default 15000 */
  spawnTimeoutMs: number;
  /** Deadline of each SDK operation, ms. @default 5000 */
  opTimeoutMs: number;
  /** Keystream: distinct keys per round. @default 100000 */
  keystreamKeys: number;
  /** Keystream: passes over the keys per round. @default 20 */
  keystreamPasses: number;
  /** Pass marks. @default TARGET_DEFAULTS */
  targets: BenchTargets;
}

export const TARGET_DEFAULTS: Readonly<BenchTargets> = Object.freeze({
  ceilingOpsPerSec: 90_000,
  sdkCeilingRatio: 0.8,
  memoryMarginalRatio: 2,
  keystreamKeysPerSec: 8_000_000,
});

const DEFAULT_MIXES: readonly OpMix[] = Object.freeze([
  { label: 'get', weights: [{ op: 'get', weight: 100 }] },
  { label: 'set', weights: [{ op: 'set', weight: 100 }] },
]);

export const BENCH_DEFAULTS: Readonly<BenchOptions> = Object.freeze({
  mixes: [...DEFAULT_MIXES],
  keys: 100_000,
  items: 1_000_000,
  keySize: 16,
  valueSize: 100,
  inflight: 64,
  loadInflight: 256,
  durationS: 3,
  rounds: 3,
  count: 0,
  warmupS: 1,
  targetNodes: [],
  jsonFile: 'bench-results.json',
  only: [...PHASES],
  nodeMemoryMb: 256,
  settleMs: 500,
  spawnTimeoutMs: 15_000,
  opTimeoutMs: 5_000,
  keystreamKeys: 100_000,
  keystreamPasses: 20,
  targets: TARGET_DEFAULTS,
});

/** What `--quick` changes: sizes small enough that the whole suite takes well under 30 s. */
export const QUICK_OVERRIDES: Readonly<Partial<BenchOptions>> = Object.freeze({
  keys: 10_000,
  items: 50_000,
  durationS: 1,
  rounds: 1,
  warmupS: 0.3,
  settleMs: 200,
  keystreamKeys: 20_000,
  keystreamPasses: 10,
});
