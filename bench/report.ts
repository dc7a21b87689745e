import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { formatCount, formatLatencyUs } from './histogram.js';
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
  unit: 'ops/s' | 'keys/s' | 'ratio' | 'bytes' | 'ms' | 'µs' | 'count';
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

/** A figure's value in its unit: `612,345 ops/s`, `9.84 M keys/s`, `0.71×`, `312 B`, `5,210 ms`, `0`. */
export function formatValue(value: number, unit: Figure['unit']): string {
  if (!Number.isFinite(value)) return 'n/a';
  switch (unit) {
    case 'ops/s': return `${formatCount(value)} ops/s`;
    case 'keys/s': return `${(value / 1e6).toFixed(2)} M keys/s`;
    case 'ratio': return `${value.toFixed(2)}×`;
    case 'bytes': return `${formatCount(value)} B`;
    case 'ms': return `${formatCount(value)} ms`;
    case 'µs': return formatLatencyUs(value);
    case 'count': return formatCount(value);
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

/** Results with nothing measured yet, for a mode run on its own (`bench map`, `bench proxy`). */
export function emptyResults(jsonFile: string): BenchResults {
  return {
    schema: 'pandakv-bench/1', startedAt: new Date().toISOString(), finishedAt: '', machine: describeMachine(), config: { jsonFile },
    ceiling: null, sdk: null, memory: null, keystream: null, figures: [], failures: [],
  };
}

/**
 * Run one phase: print its heading, let `body` print its details and return its figures,
 * which are recorded and printed; a failure is recorded instead of thrown.
 */
export async function runPhase(name: string, results: BenchResults, out: NodeJS.WritableStream, body: () => Promise<Figure[]>): Promise<void> {
  out.write(`[${name}]\n`);
  try {
    for (const f of await body()) {
      results.figures.push(f);
      out.write(`${formatFigureLine(f)}\n`);
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    results.failures.push({ phase: name, message });
    out.write(`  ${name} FAILED: ${message.replace(/\n/g, "\n    ")}\n`);
  }
  out.write('\n');
}

/** Finish a run: print the summary, write the results file; exit code 1 when a phase failed. */
export async function finishRun(results: BenchResults, jsonFile: string, out: NodeJS.WritableStream): Promise<number> {
  results.finishedAt = new Date().toISOString();
  out.write(formatSummary(results.figures, results.failures));
  const file = resolve(jsonFile);
  await writeResults(file, results);
  out.write(`results written to ${file}\n`);
  return results.failures.length > 0 ? 1 : 0;
}
