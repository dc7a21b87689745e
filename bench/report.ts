import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { formatCount } from './histogram.js';
import type { WorkloadResult } from './workload.js';
import type { MemoryResult } from './memory-bench.js';

/** A pass mark: the figure must be at least (`>=`) or at most (`<=`) `value`. */
export interface Target {
  comparison: '>=' | '<=';
  value: number;
}

/** One headline figure with its target and verdict. */
export interface Figure {
  /** Stable key in the results file, e.g. `sdk.get.ratio`. */
  id: string;
  label: string;
  value: number;
  unit: 'ops/s' | 'keys/s' | 'ratio' | 'bytes';
  target: Target | null;
  /** null when there is no target or the value is not a number. */
  isPass: boolean | null;
}

/** Build a figure and judge it against its target. */
export function makeFigure(id: string, label: string, value: number, unit: Figure['unit'], target: Target | null): Figure {
  let isPass: boolean | null = null;
  if (target !== null && Number.isFinite(value)) isPass = target.comparison === '>=' ? value >= target.value : value <= target.value;
  return { id, label, value, unit, target, isPass };
}

/** A figure's value in its unit: `612,345 ops/s`, `9.84 M keys/s`, `0.71×`, `312 B`. */
export function formatValue(value: number, unit: Figure['unit']): string {
  if (!Number.isFinite(value)) return 'n/a';
  switch (unit) {
    case 'ops/s': return `${formatCount(value)} ops/s`;
    case 'keys/s': return `${(value / 1e6).toFixed(2)} M keys/s`;
    case 'ratio': return `${value.toFixed(2)}×`;
    case 'bytes': return `${formatCount(value)} B`;
  }
}

/** `PASS`, `MISS` or `-` (no target). */
export function verdict(f: Figure): string {
  return f.isPass === null ? '-' : f.isPass ? 'PASS' : 'MISS';
}

/** One aligned line: label, value, target, verdict. */
export function formatFigureLine(f: Figure): string {
  const target = f.target === null ? '' : `${f.target.comparison === '>=' ? '≥' : '≤'} ${formatValue(f.target.value, f.unit)}`;
  return `  ${f.label.padEnd(30)} ${formatValue(f.value, f.unit).padStart(18)}   target ${target.padEnd(20)} ${verdict(f)}`;
}

/** The summary table printed at the end of a run. */
export function formatSummary(figures: readonly Figure[], failures: readonly PhaseFailure[]): string {
  const lines = ['', 'Figures', ...figures.map(formatFigureLine)];
  for (const f of failures) lines.push(`  ${`${f.phase}`.padEnd(30)} ${'FAILED'.padStart(18)}   ${f.message.split('\n')[0]}`);
  const misses = figures.filter((f) => f.isPass === false).length;
  const passes = figures.filter((f) => f.isPass === true).length;
  lines.push('', `${passes} pass, ${misses} miss, ${failures.length} failed`);
  return `${lines.join('\n')}\n`;
}

/** A phase that could not produce its figures. */
export interface PhaseFailure {
  phase: string;
  message: string;
}

/** Everything one run measured, as written to the results file. */
export interface BenchResults {
  schema: 'pandakv-bench/1';
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; cpuModel: string; memoryBytes: number; node: string; platform: string };
  config: Record<string, unknown>;
  ceiling: WorkloadResult | null;
  sdk: { load: WorkloadResult | null; runs: Array<WorkloadResult & { ceilingRatio: number }> } | null;
  memory: MemoryResult | null;
  keystream: { keysPerSec: number; nsPerKey: number } | null;
  figures: Figure[];
  failures: PhaseFailure[];
}

/** The machine the figures were taken on. */
export function describeMachine(): BenchResults['machine'] {
  const list = cpus();
  return { cpus: list.length, cpuModel: list[0]?.model.trim() ?? 'unknown', memoryBytes: totalmem(), node: process.version, platform: `${process.platform}-${process.arch}` };
}

/** Write the results file (pretty JSON; NaN and Infinity become null). */
export async function writeResults(path: string, results: BenchResults): Promise<void> {
  await writeFile(path, `${JSON.stringify(results, null, 2)}\n`);
}
