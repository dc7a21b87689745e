import { EventEmitter } from 'eventemitter3';
import { ErrorCode, KvError } from '../../../shared/errors.js';
import type { CfgLease, CfgLeaseEvents } from './cfg.js';

/** What a backend provides to a {@link LeaseHandle}. */
export interface LeaseHost {
  /** Refresh the lease; resolves to the granted TTL in ms. @throws KvError NOT_FOUND when expired */
  refreshLease(id: string): Promise<number>;
  /** End the lease and delete its keys. */
  revokeLease(id: string): Promise<void>;
}

/**
 * A lease as callers hold it, for both backends. With `hasLocalDeadline` (etcd) it also
 * keeps its own expiry clock, started before each refresh request is sent, so it declares
 * the lease lost no later than the server could have expired it. The file store drives
 * expiry itself and calls {@link markLost}.
 */
export class LeaseHandle extends EventEmitter<CfgLeaseEvents> implements CfgLease {
  private isEndedNow = false;
  private keepAliveTimer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private isRefreshing = false;

  constructor(
    readonly id: string,
    readonly ttlMs: number,
    private readonly host: LeaseHost,
    private readonly hasLocalDeadline: boolean,
    grantedAtMs: number,
  ) {
    super();
    if (hasLocalDeadline) this.armDeadline(grantedAtMs + ttlMs);
  }

  get isEnded(): boolean {
    return this.isEndedNow;
  }

  async keepAlive(): Promise<void> {
    if (this.isEndedNow) throw KvError.notFound(`lease ${this.id} has ended`);
    const startedAtMs = Date.now();
    let ttlMs: number;
    try {
      ttlMs = await this.host.refreshLease(this.id);
    } catch (err) {
      if (err instanceof KvError && err.code === ErrorCode.NOT_FOUND) this.markLost(err);
      throw err;
    }
    if (this.hasLocalDeadline && !this.isEndedNow) this.armDeadline(startedAtMs + ttlMs);
  }

  startKeepAlive(intervalMs: number): void {
    if (!(intervalMs > 0)) throw KvError.invalidArgument(`keep-alive interval must be positive, got ${intervalMs}`);
    this.stopKeepAlive();
    if (this.isEndedNow) return;
    this.keepAliveTimer = setInterval(this.onKeepAliveTick, intervalMs);
    this.keepAliveTimer.unref();
  }

  stopKeepAlive(): void {
    if (this.keepAliveTimer !== null) clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = null;
  }

  async revoke(): Promise<void> {
    if (this.isEndedNow) return;
    this.end();
    await this.host.revokeLease(this.id);
  }

  /** The lease is gone: stop every timer and tell listeners once, asynchronously. */
  markLost(err: Error): void {
    if (this.isEndedNow) return;
    this.end();
    queueMicrotask(() => this.emit('lost', err));
  }

  /** Stop timers without revoking or emitting (the store is closing). */
  end(): void {
    this.isEndedNow = true;
    this.stopKeepAlive();
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
  }

  private armDeadline(atMs: number): void {
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(this.onDeadline, Math.max(0, atMs - Date.now()));
    this.deadlineTimer.unref();
  }

  private readonly onDeadline = (): void => {
    this.markLost(KvError.timeout(`lease ${this.id} was not refreshed within its ${this.ttlMs} ms TTL`));
  };

  private readonly onKeepAliveTick = (): void => {
    // One refresh at a time; a slow one makes the next tick skip rather than pile up.
    if (this.isRefreshing) return;
    this.isRefreshing = true;
    this.keepAlive().then(this.onRefreshDone, this.onRefreshDone);
  };

  private readonly onRefreshDone = (): void => {
    // A failed refresh is retried on the next tick; the deadline timer decides when it is lost.
    this.isRefreshing = false;
  };
}
