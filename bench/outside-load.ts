import { availableParallelism } from 'node:os';
import { readProcStat, type CpuTimes, type CpuTimesReader } from '../shared/spare-cpu.js';
import type { CpuMeter } from './proxy-bench.js';

// /proc/stat counts in clock ticks: 100 per second on Linux.
const TICKS_PER_SECOND = 100;

/**
 * CPU time, µs, that the rest of the machine used: every core's busy time (from
 * `/proc/stat`, steal included) less what `own` reports for the bench's processes. Null
 * where either cannot be read. A round during which another build or test suite took a
 * share of the cores measures that process as much as the contender: on a shared 2-core
 * machine one such round moved a contender's rate by a third.
 */
export function outsideCpuMeter(own: CpuMeter, readTimes: CpuTimesReader = readProcStat): CpuMeter {
  return () => {
    const times = readTimes();
    const mine = own();
    if (times === null || mine === null) return null;
    return machineCpuUs(times).busy - mine;
  };
}

/** The machine's busy and total CPU time in `times` (`/proc/stat` clock ticks), µs. */
export function machineCpuUs(times: CpuTimes): { busy: number; all: number } {
  return { busy: ((times.total - times.idle) * 1e6) / TICKS_PER_SECOND, all: (times.total * 1e6) / TICKS_PER_SECOND };
}

/** The share of `cores` cores that `usedUs` of CPU time is over `elapsedMs`, at least 0. */
export function shareOfMachine(usedUs: number, elapsedMs: number, cores = availableParallelism()): number {
  if (!(elapsedMs > 0) || !(cores > 0)) return 0;
  return Math.max(0, usedUs / (elapsedMs * 1000 * cores));
}

/**
 * Which of a contender's rounds counts: the fastest of those during which the rest of the
 * machine took at most `maxShare` of it (`shares[i]`, NaN where unknown, which counts as
 * undisturbed), or the fastest of all when every round was disturbed. Returns its index
 * and whether it was undisturbed.
 */
export function pickRound(rates: readonly number[], shares: readonly number[], maxShare: number): { index: number; isClean: boolean } {
  let best = -1;
  let bestAny = -1;
  for (let i = 0; i < rates.length; i++) {
    if (bestAny < 0 || rates[i]! > rates[bestAny]!) bestAny = i;
    const share = shares[i] ?? Number.NaN;
    if (!(share > maxShare) && (best < 0 || rates[i]! > rates[best]!)) best = i;
  }
  return best >= 0 ? { index: best, isClean: true } : { index: bestAny, isClean: false };
}

/**
 * The rounds of a run that outside load did not disturb (share at most `maxShare`, NaN
 * counting as undisturbed), or every round when none was; and which of the two it is.
 */
export function quietRounds<T>(rounds: readonly T[], shares: readonly number[], maxShare: number): { rounds: T[]; isClean: boolean } {
  const quiet = rounds.filter((_, i) => !((shares[i] ?? Number.NaN) > maxShare));
  return quiet.length > 0 || rounds.length === 0 ? { rounds: quiet, isClean: true } : { rounds: [...rounds], isClean: false };
}
