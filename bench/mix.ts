import { UsageError } from '../bin/cli-util.js';

/** Operations the workload generator can issue. */
export const BENCH_OPS = Object.freeze(['get', 'set', 'delete'] as const);
export type BenchOp = (typeof BENCH_OPS)[number];

/** One operation and its share of a mix. */
export interface OpWeight {
  op: BenchOp;
  weight: number;
}

/** A weighted mix of operations, e.g. 90 % get and 10 % set. */
export interface OpMix {
  /** Name used in output and in the results file, e.g. `get` or `get:90,set:10`. */
  label: string;
  weights: OpWeight[];
}

function toOp(text: string, flag: string): BenchOp {
  const op = text.trim().toLowerCase();
  if ((BENCH_OPS as readonly string[]).includes(op)) return op as BenchOp;
  throw new UsageError(`${flag}: unknown operation "${text.trim()}" (expected one of ${BENCH_OPS.join(', ')})`);
}

/** `--ops get,set`: one single-operation mix per name, run one after the other. @throws UsageError */
export function parseOps(text: string): OpMix[] {
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new UsageError('--ops: expected a list such as get,set');
  const seen = new Set<BenchOp>();
  const mixes: OpMix[] = [];
  for (const name of names) {
    const op = toOp(name, '--ops');
    if (seen.has(op)) throw new UsageError(`--ops: "${op}" is listed twice`);
    seen.add(op);
    mixes.push({ label: op, weights: [{ op, weight: 100 }] });
  }
  return mixes;
}

/** `--mix get:90,set:10`: one mixed workload. Weights are relative and need not sum to 100. @throws UsageError */
export function parseMix(text: string): OpMix {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new UsageError('--mix: expected a list such as get:90,set:10');
  const weights: OpWeight[] = [];
  for (const part of parts) {
    const m = /^([a-z]+)\s*:\s*(\d+(?:\.\d+)?)$/i.exec(part);
    if (m === null) throw new UsageError(`--mix: "${part}" is not op:weight`);
    const op = toOp(m[1]!, '--mix');
    const weight = Number(m[2]);
    if (weights.some((w) => w.op === op)) throw new UsageError(`--mix: "${op}" is listed twice`);
    if (weight > 0) weights.push({ op, weight });
  }
  if (weights.length === 0) throw new UsageError('--mix: every weight is zero');
  return { label: weights.map((w) => `${w.op}:${w.weight}`).join(','), weights };
}

/** Picks operations in proportion to a mix's weights from a uniform number in [0, 1). */
export class MixPicker {
  private readonly ops: BenchOp[];
  private readonly bounds: Float64Array;

  constructor(mix: OpMix) {
    const total = mix.weights.reduce((sum, w) => sum + w.weight, 0);
    if (!(total > 0)) throw new RangeError('mix has no positive weight');
    this.ops = mix.weights.map((w) => w.op);
    this.bounds = new Float64Array(mix.weights.length);
    let acc = 0;
    mix.weights.forEach((w, i) => {
      acc += w.weight / total;
      this.bounds[i] = acc;
    });
    // Rounding must never leave a gap below 1.
    this.bounds[this.bounds.length - 1] = 1;
  }

  pick(uniform: number): BenchOp {
    const { bounds } = this;
    for (let i = 0; i < bounds.length - 1; i++) if (uniform < bounds[i]!) return this.ops[i]!;
    return this.ops[bounds.length - 1]!;
  }

  /** Whether the mix can issue `op` at all. */
  has(op: BenchOp): boolean {
    return this.ops.includes(op);
  }
}
