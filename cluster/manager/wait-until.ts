/** Calls `wake` whenever something a wait depends on may have changed; returns the unsubscribe. */
export type Subscribe = (wake: () => void) => () => void;

/**
 * Resolve true as soon as `check()` holds, looking again each time one of `wakeups`
 * fires (a heartbeat's report, a node record change), instead of polling on a timer.
 * Resolves with a last `check()` after `timeoutMs`, and false at once when `signal` aborts.
 * Every listener and the timer are removed when it resolves.
 */
export function waitUntil(check: () => boolean, wakeups: readonly Subscribe[], timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  if (check()) return Promise.resolve(true);
  if (timeoutMs <= 0 || signal?.aborted === true) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    let isDone = false;
    const unsubscribes: Array<() => void> = [];
    const finish = (value: boolean): void => {
      if (isDone) return;
      isDone = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      for (const unsubscribe of unsubscribes) unsubscribe();
      resolve(value);
    };
    const onWake = (): void => {
      if (!isDone && check()) finish(true);
    };
    const onAbort = (): void => finish(false);
    const onTimeout = (): void => finish(check());
    const timer = setTimeout(onTimeout, timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    for (const subscribe of wakeups) unsubscribes.push(subscribe(onWake));
  });
}
