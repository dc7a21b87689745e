import { performance } from 'node:perf_hooks';

/** What the poller asks before polling. */
export interface PollGate {
  readonly isOpen: boolean;
}

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
 * kick, then sleeps as usual. At low load it spends up to `windowMs` of CPU per quiet
 * gap; under load it would poll in the short gaps between batches, taking CPU that other
 * processes on the same cores need. A `gate` (`SpareCpuGate`) keeps it to spare CPU:
 * no round starts while the gate is closed, and a running one ends at the next turn.
 * A window of 0 turns polling off.
 */
export class IdlePoller {
  private lastActivity = 0;
  private lastPoll = 0;
  private isPolling = false;
  private isStopped = false;
  private emptyMs = 0;

  constructor(private readonly windowMs: number, private readonly gate: PollGate | null = null) {
    if (!Number.isFinite(windowMs) || windowMs < 0) throw new RangeError(`idle poll window must be ≥ 0 ms, got ${windowMs}`);
  }

  get isEnabled(): boolean {
    return this.windowMs > 0 && !this.isStopped;
  }

  /** True while the loop is being kept awake. */
  get isActive(): boolean {
    return this.isPolling;
  }

  /** Time spent polling with nothing arriving, ms, since the start. */
  get emptyPollMs(): number {
    return this.emptyMs;
  }

  /** Something arrived: keep polling for another window. Cheap enough to call per message. */
  readonly kick = (): void => {
    if (this.windowMs <= 0 || this.isStopped) return;
    const now = performance.now();
    this.lastActivity = now;
    if (!this.isPolling && (this.gate === null || this.gate.isOpen)) {
      this.isPolling = true;
      this.lastPoll = now;
      setImmediate(this.poll);
    }
  };

  /** Stop polling now and ignore later kicks (the process can then exit). */
  stop(): void {
    this.isStopped = true;
  }

  private readonly poll = (): void => {
    const now = performance.now();
    // Nothing arrived since the last turn: that turn was spent polling in vain.
    if (this.lastActivity < this.lastPoll) this.emptyMs += now - this.lastPoll;
    this.lastPoll = now;
    if (!this.isStopped && now - this.lastActivity < this.windowMs && (this.gate === null || this.gate.isOpen)) setImmediate(this.poll);
    else this.isPolling = false;
  };
}
