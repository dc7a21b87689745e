import { ErrorCode } from '../shared/errors.js';

/**
 * A lane's liveness: when nothing arrived for `intervalMs`, send one ping; when that ping
 * gets no answer within another `intervalMs`, the connection is dead. Checked on the
 * lane's sweep timer, so it costs no timer of its own.
 */
export class Heartbeat {
  private lastReceivedAt = Date.now();
  private isPinging = false;

  /**
   * @param ping sends a ping with the given deadline; resolves on any answer, rejects with its error
   * @param onSilent called once a ping went unanswered until its deadline
   */
  constructor(
    private readonly intervalMs: number,
    private readonly ping: (deadline: number) => Promise<unknown>,
    private readonly onSilent: () => void,
  ) {}

  /** Something arrived from the peer. */
  received(): void {
    this.lastReceivedAt = Date.now();
  }

  /** Ping when the peer has been quiet for longer than the interval. */
  check(now: number): void {
    if (this.isPinging || now - this.lastReceivedAt <= this.intervalMs) return;
    this.isPinging = true;
    this.ping(now + this.intervalMs).then(this.onPingAnswered, this.onPingFailed);
  }

  private readonly onPingAnswered = (): void => {
    this.isPinging = false;
  };

  private readonly onPingFailed = (err: { code?: string }): void => {
    this.isPinging = false;
    if (err.code === ErrorCode.TIMEOUT) this.onSilent();
  };
}
