/**
 * memcached's `flush_all [delay]`: an immediate flush runs now; a delayed one runs once
 * the delay is over. As in memcached, a later flush replaces a pending delayed one, and
 * flushes never overlap (one asked for while another runs starts when it ends, so it
 * also removes what was written meanwhile).
 */
export class McFlushScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private isClosed = false;

  constructor(private readonly flushNow: () => Promise<unknown>) {}

  /** Flush after `delaySec` seconds (0: now). Resolves when an immediate flush is done, at once for a delayed one. */
  request(delaySec: number): Promise<void> {
    this.cancelPending();
    if (this.isClosed) return Promise.resolve();
    if (delaySec <= 0) return this.runNext();
    this.timer = setTimeout(this.onTimer, delaySec * 1000);
    this.timer.unref();
    return Promise.resolve();
  }

  /** Whether a delayed flush is waiting. */
  get isPending(): boolean {
    return this.timer !== null;
  }

  /** Drop a pending delayed flush; nothing new is scheduled afterwards. Idempotent. */
  close(): void {
    this.isClosed = true;
    this.cancelPending();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    // A delayed flush has nobody to answer: its failure is dropped, as memcached's would be silent.
    this.runNext().catch(() => undefined);
  };

  private runNext(): Promise<void> {
    const next = this.running.catch(() => undefined).then(async () => {
      await this.flushNow();
    });
    this.running = next;
    return next;
  }

  private cancelPending(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
