/** What `Shutdown` needs of the process (tests pass their own). */
export interface ShutdownHost {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): void;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): void;
  exit(code: number): void;
  write(line: string): void;
}

const PROCESS_HOST: ShutdownHost = {
  on: (signal, listener) => process.on(signal, listener),
  off: (signal, listener) => process.off(signal, listener),
  exit: (code) => process.exit(code),
  write: (line) => process.stderr.write(line),
};

/** Time a process has to stop after SIGINT/SIGTERM before it exits anyway. */
export const STOP_TIMEOUT_MS = 1500;

/** Start-up was cut short by a signal: not a failure (exit 0), said in one line. */
export class StoppedError extends Error {
  override readonly name = 'StoppedError';
  constructor(readonly signal: NodeJS.Signals, readonly phase: string) {
    super(`stopped by ${signal} while ${phase}`);
  }
}

/**
 * SIGINT/SIGTERM handling of a long-running command, the same in every state: the first
 * signal aborts whatever start-up step is under way (`race`) or ends the wait of a
 * running process (`wait`), and the process must be gone within `stopTimeoutMs`: after
 * it, or at a second signal, it exits at once with code 1, whatever still runs (a stuck
 * syscall in the thread pool, a close that does not finish).
 */
export class Shutdown {
  private readonly controller = new AbortController();
  private received: NodeJS.Signals | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly waiters: Array<(signal: NodeJS.Signals) => void> = [];

  constructor(private readonly name: string, private stopTimeoutMs = STOP_TIMEOUT_MS, private readonly host: ShutdownHost = PROCESS_HOST) {
    host.on('SIGINT', this.onSignal);
    host.on('SIGTERM', this.onSignal);
  }

  /** Aborted at the first signal. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The signal received, or null. */
  get signalReceived(): NodeJS.Signals | null {
    return this.received;
  }

  /** Change the time allowed to stop (before any signal). */
  setStopTimeout(ms: number): void {
    this.stopTimeoutMs = ms;
  }

  /** Resolve at the first signal (at once if one came already). */
  wait(): Promise<NodeJS.Signals> {
    if (this.received !== null) return Promise.resolve(this.received);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** `p`, unless a signal comes first: then reject with `StoppedError` naming `phase`. */
  race<T>(p: Promise<T>, phase: string): Promise<T> {
    p.catch(noop);
    if (this.received !== null) return Promise.reject(new StoppedError(this.received, phase));
    return new Promise<T>((resolve, reject) => {
      const onSignal = (signal: NodeJS.Signals): void => reject(new StoppedError(signal, phase));
      this.waiters.push(onSignal);
      p.then((v) => {
        this.dropWaiter(onSignal);
        resolve(v);
      }, (err: unknown) => {
        this.dropWaiter(onSignal);
        reject(err);
      });
    });
  }

  /** Remove the handlers and the exit timer (the command is over). Idempotent. */
  dispose(): void {
    this.host.off('SIGINT', this.onSignal);
    this.host.off('SIGTERM', this.onSignal);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private dropWaiter(w: (signal: NodeJS.Signals) => void): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.received !== null) {
      this.host.write(`pandakv ${this.name}: second signal (${signal}); exiting now\n`);
      this.host.exit(1);
      return;
    }
    this.received = signal;
    this.timer = setTimeout(this.onStopTimeout, this.stopTimeoutMs);
    this.timer.unref();
    this.controller.abort(new StoppedError(signal, 'running'));
    for (const w of this.waiters.splice(0)) w(signal);
  };

  private readonly onStopTimeout = (): void => {
    this.timer = null;
    this.host.write(`pandakv ${this.name}: not stopped ${this.stopTimeoutMs} ms after ${this.received!}; exiting\n`);
    this.host.exit(1);
  };
}

function noop(): void {}
