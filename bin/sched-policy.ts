import { execFileSync } from 'node:child_process';
import { UsageError } from './cli-util.js';

/**
 * How the kernel schedules a server process (Linux; elsewhere a no-op).
 * - `batch` (SCHED_BATCH): the process gets its full fair share of CPU, but a wake-up of
 *   it (a request arriving) does not preempt whatever runs on that core; it runs when that
 *   process blocks or its slice ends. A node woken by every message then stops taking
 *   the core from the process that sent it (the proxy, an SDK client) mid-turn: both
 *   batch more per wake-up. docs/benchmarks.md measures it.
 * - `normal` (SCHED_OTHER): the kernel's default.
 */
export type SchedPolicy = 'batch' | 'normal';

export const SCHED_POLICIES: readonly SchedPolicy[] = ['batch', 'normal'];

/** `--sched POLICY`. @throws UsageError */
export function schedArg(value: unknown): SchedPolicy | undefined {
  if (value === undefined) return undefined;
  const s = String(value);
  if (!(SCHED_POLICIES as readonly string[]).includes(s)) throw new UsageError(`--sched must be ${SCHED_POLICIES.join(' or ')}, got ${JSON.stringify(s.slice(0, 40))}`);
  return s as SchedPolicy;
}

/** The usage lines of `--sched`, with the command's default, descriptions from column `column`. */
export function schedUsage(byDefault: SchedPolicy, column: number): string {
  const indent = ' '.repeat(column);
  return `${'  --sched POLICY'.padEnd(column)}Linux scheduling policy: batch (SCHED_BATCH: full CPU share, a wake-up\n`
    + `${indent}does not preempt the running process) or normal (default ${byDefault})\n`;
}

/**
 * Put every thread of this process under `policy` (threads made later inherit it), with
 * util-linux's `chrt`, which needs no privilege to move between the two. Returns a
 * warning when it could not (no `chrt`, another OS): the process runs on regardless.
 */
export function applySchedPolicy(policy: SchedPolicy, pid = process.pid): string | null {
  if (process.platform !== 'linux') return policy === 'normal' ? null : `--sched ${policy} is for Linux; running with the default policy`;
  try {
    execFileSync('chrt', ['--all-tasks', policy === 'batch' ? '--batch' : '--other', '--pid', '0', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    const why = e.code === 'ENOENT' ? 'chrt (util-linux) not found' : (e.stderr?.toString().trim() || e.message);
    return `could not set --sched ${policy} (${why}); running with the default policy`;
  }
}
