/** Resolve with `p`, or reject when it takes longer than `ms`. */
export async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `check` (cheap, synchronous) on every macrotask turn until true, under a deadline. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what}: not true within ${ms} ms`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Assert that `p` rejects and return the error. */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

/**
 * Call `probe` every `everyMs` until it returns a non-null value, under a deadline. For
 * state only reachable by asking (another process's HTTP status), not for events.
 */
export async function poll<T>(probe: () => Promise<T | null>, ms: number, what: string, everyMs = 50): Promise<T> {
  const { setTimeout: pause } = await import('node:timers/promises');
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`${what}: not reached within ${ms} ms`);
    await pause(everyMs);
  }
}
