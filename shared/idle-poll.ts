/**
 * Keeps the event loop polling for a short window after I/O instead of going to sleep.
 *
 * A forwarder at low load spends most of a request's added latency waking up: the
 * process sleeps in epoll between messages, and each arriving packet has to wake it
 * (on a VM, an inter-processor interrupt and an exit to the hypervisor). While a
 * callback is queued with `setImmediate`, libuv polls with a zero timeout instead of
 * sleeping, so the next message is picked up by a process that is already running.
 *
 * `kick()` marks activity; the loop keeps polling until `windowMs` passes without a
 * kick, then sleeps as usual. Under steady load the loop never idles and the poller
 * costs nothing; at low load it spends up to `windowMs` of CPU per quiet gap. A window
 * of 0 turns it off.
 */
export class IdlePoller {
  private lastActivity = 0;
  private isPolling = false;
  private isStopped = false;

  constructor(private readonly windowMs: number) {
    if (!Number.isFinite(windowMs) || windowMs < 0) throw new RangeError(`idle poll window must be ≥ 0 ms, got ${windowMs}`);
  }

  get isEnabled(): boolean {
    return this.windowMs > 0 && !this.isStopped;
  }

  /** True while the loop is being kept awake. */
  get isActive(): boolean {
    return this.isPolling;
  }

  /** Something arrived: keep polling for another window. Cheap enough to call per message. */
  readonly kick = (): void => {
    if (this.windowMs <= 0 || this.isStopped) return;
    this.lastActivity = performance.now();
    if (!this.isPolling) {
      this.isPolling = true;
      setImmediate(this.poll);
    }
  };

  /** Stop polling now and ignore later kicks (the process can then exit). */
  stop(): void {
    this.isStopped = true;
  }

  private readonly poll = (): void => {
    if (!this.isStopped && performance.now() - this.lastActivity < this.windowMs) setImmediate(this.poll);
    else this.isPolling = false;
  };
}
