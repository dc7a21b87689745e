/**
 * Requests parked until something happens (a newer map arrives, a unit is handed over),
 * each with a deadline after which it goes on anyway. At most `max` wait at once. They
 * are released in arrival order; a deadline removes its waiter in constant time.
 */
export class WaitList<K> {
  private readonly waiting = new Set<{ key: K; resolve: () => void; timer: NodeJS.Timeout }>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.waiting.size;
  }

  /** Wait for `key`'s release, at most `ms`; null when `max` already wait. */
  add(key: K, ms: number): Promise<void> | null {
    if (this.waiting.size >= this.max) return null;
    return new Promise<void>((resolve) => {
      const w = {
        key,
        resolve,
        timer: setTimeout(() => {
          this.waiting.delete(w);
          resolve();
        }, ms),
      };
      this.waiting.add(w);
    });
  }

  /** Release the waiters whose key `isReleased` accepts (every one when omitted). */
  release(isReleased: (key: K) => boolean = () => true): void {
    for (const w of this.waiting) {
      if (!isReleased(w.key)) continue;
      this.waiting.delete(w);
      clearTimeout(w.timer);
      w.resolve();
    }
  }
}
