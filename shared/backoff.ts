/**
 * Delay before attempt `attempt` (0-based) on a tiered schedule, jittered ±20 % so
 * callers that failed together do not retry together. The one backoff of the project:
 * reconnects, election retries, backfill retries.
 */
export function backoffDelay(schedule: readonly number[], attempt: number, random: () => number = Math.random): number {
  if (schedule.length === 0) return 0;
  const base = schedule[Math.min(attempt, schedule.length - 1)]!;
  return Math.max(0, Math.round(base * (0.8 + 0.4 * random())));
}

/** Resolve after `ms`, or at once when `ms` ≤ 0. */
export function delay(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
