import { randomFillSync } from 'node:crypto';
import { UsageError } from '../bin/cli-util.js';
import { MixPicker, type BenchOp, type OpMix } from './mix.js';
import { createLatencyHistogram, recordMs, summarizeHistogram, type LatencySummary } from './histogram.js';
import { startProgress } from './progress.js';

/** Issues one operation; resolves when it is answered, rejects when it failed. */
export type OpExecutor = (op: BenchOp, key: string, value: Uint8Array) => Promise<unknown>;

/** Options of one closed-loop run. */
export interface WorkloadOptions {
  /** Name in output and results. */
  label: string;
  mix: OpMix;
  /** Size of the key space; keys are `makeKey(0 .. keys-1)`. */
  keys: number;
  keySize: number;
  valueSize: number;
  /** Concurrent workers, each with one request outstanding. */
  inflight: number;
  /** Run this long, unless `count` > 0. */
  durationMs: number;
  /** Issue exactly this many operations; 0 = run for `durationMs`. @default 0 */
  count?: number;
  /** `random`: uniform over the key space; `sequential`: key i for the i-th operation (loading). @default 'random' */
  keyOrder?: 'random' | 'sequential';
  /** Seed of the key and operation choice. @default 0x9e3779b9 */
  seed?: number;
  /** Failed operations tolerated before the run is abandoned. @default 1000 */
  maxErrors?: number;
  /** No progress display. @default false */
  isQuiet?: boolean;
}

/** Outcome of a run. Latencies cover successful operations only. */
export interface WorkloadResult {
  label: string;
  ops: number;
  errors: number;
  firstError: string | null;
  elapsedMs: number;
  opsPerSec: number;
  latency: LatencySummary;
  /** Rates of every round when the run was repeated (`bestOf`); the fields above are the best round's. */
  roundOpsPerSec?: number[];
}

const KEY_PREFIX = 'key:';

/** Decimal digits needed for the largest index of a key space of `keys` keys. */
export function keyDigits(keys: number): number {
  return String(Math.max(0, keys - 1)).length;
}

/**
 * The i-th key of a key space, exactly `keySize` ASCII bytes: `key:000000000042` when
 * there is room for the prefix, otherwise the zero-padded index alone.
 */
export function makeKey(i: number, keySize: number): string {
  const digits = String(i);
  if (keySize >= digits.length + KEY_PREFIX.length) return KEY_PREFIX + digits.padStart(keySize - KEY_PREFIX.length, '0');
  if (keySize >= digits.length) return digits.padStart(keySize, '0');
  throw new UsageError(`--key-size ${keySize} is too small for key index ${i}`);
}

/** Check that every key of the space fits in `keySize` bytes. @throws UsageError */
export function checkKeySpace(keys: number, keySize: number): void {
  if (keyDigits(keys) > keySize) throw new UsageError(`--key-size ${keySize} cannot hold ${keys} distinct keys; use at least ${keyDigits(keys)}`);
}

/** A value of `size` random bytes, reused by every write. */
export function makeValue(size: number): Uint8Array {
  return randomFillSync(new Uint8Array(size));
}

/** xorshift32 as a uniform [0, 1) source; fast and reproducible. */
export function makeRandom(seed: number): () => number {
  let x = seed | 0 || 1;
  return (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * Closed loop: `inflight` workers each issue an operation, wait for its answer, record
 * its latency and issue the next, until the duration or count is reached.
 * @throws Error when more than `maxErrors` operations failed
 */
export async function runWorkload(exec: OpExecutor, opts: WorkloadOptions): Promise<WorkloadResult> {
  const count = opts.count ?? 0;
  const isSequential = opts.keyOrder === 'sequential';
  const maxErrors = opts.maxErrors ?? 1000;
  checkKeySpace(isSequential ? Math.max(opts.keys, count) : opts.keys, opts.keySize);
  const keys = isSequential ? [] : Array.from({ length: opts.keys }, (_, i) => makeKey(i, opts.keySize));
  const value = makeValue(opts.valueSize);
  const picker = new MixPicker(opts.mix);
  const random = makeRandom(opts.seed ?? 0x9e3779b9);
  const histogram = createLatencyHistogram();
  const space = opts.keys;

  let issued = 0;
  let done = 0;
  let errors = 0;
  let firstError: string | null = null;
  const startedAt = performance.now();
  const endAt = startedAt + opts.durationMs;
  const isCounted = count > 0;

  const worker = async (): Promise<void> => {
    // The end of the previous operation doubles as the clock for the duration check.
    let now = performance.now();
    while (errors <= maxErrors && (isCounted ? issued < count : now < endAt)) {
      const index = isSequential ? issued : (random() * space) | 0;
      issued++;
      const op = picker.pick(random());
      const key = isSequential ? makeKey(index, opts.keySize) : keys[index]!;
      const t0 = performance.now();
      try {
        await exec(op, key, value);
        now = performance.now();
        recordMs(histogram, now - t0);
        done++;
      } catch (err) {
        now = performance.now();
        errors++;
        firstError ??= errorText(err);
      }
    }
  };

  const progress = startProgress({
    label: opts.label,
    total: isCounted ? count : opts.durationMs,
    sample: () => ({ value: isCounted ? done + errors : performance.now() - startedAt, ops: done }),
    isQuiet: opts.isQuiet === true,
  });
  try {
    await Promise.all(Array.from({ length: opts.inflight }, worker));
  } finally {
    progress.stop();
  }
  const elapsedMs = performance.now() - startedAt;
  const latency = summarizeHistogram(histogram);
  histogram.destroy();
  if (errors > maxErrors) throw new Error(`${opts.label}: abandoned after ${errors} failed operations; first: ${firstError ?? '?'}`);
  return {
    label: opts.label,
    ops: done,
    errors,
    firstError,
    elapsedMs,
    opsPerSec: done / (elapsedMs / 1000),
    latency,
  };
}

/**
 * Repeat a run `rounds` times and keep the fastest, listing every round's rate. On a
 * shared machine the best round is the one least disturbed by other processes.
 */
export async function bestOf(rounds: number, run: (round: number) => Promise<WorkloadResult>): Promise<WorkloadResult> {
  let best: WorkloadResult | null = null;
  const rates: number[] = [];
  for (let i = 0; i < Math.max(1, rounds); i++) {
    const r = await run(i);
    rates.push(r.opsPerSec);
    if (best === null || r.opsPerSec > best.opsPerSec) best = r;
  }
  return { ...best!, roundOpsPerSec: rates };
}
