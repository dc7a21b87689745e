import type { ConnLimits } from './conn-limits.js';

/** Why the guard closed a connection it had admitted. */
export type GuardCloseReason = 'pre-auth-timeout' | 'idle-timeout' | 'read-timeout' | 'evicted';

/** Why the guard refused a new connection. */
export type GuardRefusal = 'address-limit' | 'connection-limit';

/** What the guard needs of a connection: a way to close it, and whether input is half-read. */
export interface GuardedConnection {
  /** Close for `reason` (the listener says why in its own protocol). Called once. */
  closeFor(reason: GuardCloseReason): void;
  /**
   * Bytes of a line, frame or request that has started arriving and is not complete; 0
   * when the connection is between messages or not reading for reasons of our own.
   */
  partialBytes(): number;
  /**
   * Optional: prompt the peer for a sign of life (a WebSocket ping), called once when the
   * connection has been quiet for half the idle timeout. Listeners whose clients only
   * listen (map subscribers) use it, so only dead peers reach the idle timeout.
   */
  keepAlive?(): void;
}

/** Close texts a WebSocket listener sends (code and reason), one per guard reason. */
export const GUARD_WS_CLOSE: Readonly<Record<GuardCloseReason, { code: number; text: string }>> = Object.freeze({
  'pre-auth-timeout': { code: 4001, text: 'not authenticated in time' },
  'idle-timeout': { code: 4002, text: 'idle timeout' },
  'read-timeout': { code: 4004, text: 'message not completed in time' },
  evicted: { code: 1013, text: 'evicted: too many unauthenticated connections' },
});

/** Counters a listener exports (`pandakv_<component>_conn_*`). */
export interface ConnGuardCounters {
  /** Connections open now. */
  open: number;
  /** Unauthenticated connections closed to make room for a new one. */
  evicted: number;
  /** New connections refused at a limit. */
  refused: number;
  preAuthTimeouts: number;
  idleTimeouts: number;
  readTimeouts: number;
}

/** One admitted connection's bookkeeping. */
export class GuardEntry<C extends GuardedConnection = GuardedConnection> {
  isAuthenticated = false;
  /** Set on input, folded into `lastActiveMs` by the next sweep (no clock read per chunk). */
  isActive = false;
  /** Requests being answered: no deadline applies meanwhile. */
  busy = 0;
  messages = 0;
  lastActiveMs: number;
  partialSinceMs: number | null = null;
  /** When `keepAlive` was last called (it is called once per quiet spell). */
  keepAliveAtMs = -1;
  isReleased = false;
  private messagesAtSweep = 0;

  constructor(readonly conn: C, readonly address: string, readonly openedAtMs: number) {
    this.lastActiveMs = openedAtMs;
  }

  /** Fold this sweep's activity in; returns true when a message completed since the last. */
  fold(nowMs: number): boolean {
    if (this.isActive) {
      this.isActive = false;
      this.lastActiveMs = nowMs;
    }
    const hasProgress = this.messages !== this.messagesAtSweep;
    this.messagesAtSweep = this.messages;
    return hasProgress;
  }
}

/** Options of `ConnGuard`. */
export interface ConnGuardOptions extends ConnLimits {
  /** Connections open at once on this listener. */
  maxConnections: number;
  /** Connections must authenticate (false for `--insecure`: no pre-auth deadline, no eviction). */
  isAuthRequired: boolean;
  /** The clock (tests drive it). @default Date.now */
  now?: () => number;
  /** Run `sweep()` on a timer; tests turn it off and call `sweep()` themselves. @default true */
  hasTimer?: boolean;
}

/**
 * Admission and deadlines for one listener's connections, with no I/O of its own:
 * - a per-address cap and a global cap; at either, a new connection takes the place of
 *   the oldest unauthenticated one (of that address, or anywhere), so authenticated
 *   clients can always get in while unauthenticated ones fill the listener;
 * - a pre-auth deadline, an idle timeout, and a read deadline on half-received input,
 *   checked by a sweep over every connection a few times per shortest timeout.
 */
export class ConnGuard<C extends GuardedConnection = GuardedConnection> {
  readonly counters: ConnGuardCounters = { open: 0, evicted: 0, refused: 0, preAuthTimeouts: 0, idleTimeouts: 0, readTimeouts: 0 };
  /** Every admitted connection, oldest first. */
  private readonly entries = new Set<GuardEntry<C>>();
  /** Unauthenticated connections, oldest first: the eviction order. */
  private readonly unauthenticated = new Set<GuardEntry<C>>();
  private readonly byAddress = new Map<string, { count: number; unauthenticated: Set<GuardEntry<C>> }>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: Readonly<ConnGuardOptions>) {
    this.now = options.now ?? Date.now;
    const tick = sweepIntervalMs(options);
    if (tick !== null && options.hasTimer !== false) {
      this.timer = setInterval(this.sweep, tick);
      this.timer.unref();
    }
  }

  /** Connections admitted and not released. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Admit a new connection from `address`, closing (`evicted`) whatever unauthenticated
   * connection it replaces; or the reason it must be refused.
   */
  admit(conn: C, address: string): GuardEntry<C> | GuardRefusal {
    const o = this.options;
    const slot = this.byAddress.get(address);
    if (slot !== undefined && slot.count >= o.maxConnectionsPerAddress) {
      const victim = o.isAuthRequired ? first(slot.unauthenticated) : undefined;
      if (victim === undefined) return this.refuse('address-limit');
      this.evict(victim);
    }
    if (this.entries.size >= o.maxConnections) {
      const victim = o.isAuthRequired ? first(this.unauthenticated) : undefined;
      if (victim === undefined) return this.refuse('connection-limit');
      this.evict(victim);
    }
    const entry = new GuardEntry(conn, address, this.now());
    this.entries.add(entry);
    this.unauthenticated.add(entry);
    let s = this.byAddress.get(address);
    if (s === undefined) {
      s = { count: 0, unauthenticated: new Set() };
      this.byAddress.set(address, s);
    }
    s.count++;
    s.unauthenticated.add(entry);
    this.counters.open = this.entries.size;
    return entry;
  }

  /** The connection proved a principal: never evicted, no pre-auth deadline. Idempotent. */
  authenticated(entry: GuardEntry<C>): void {
    if (entry.isAuthenticated || entry.isReleased) return;
    entry.isAuthenticated = true;
    this.unauthenticated.delete(entry);
    this.byAddress.get(entry.address)?.unauthenticated.delete(entry);
  }

  /** The connection is gone (closed by anyone). Idempotent. */
  release(entry: GuardEntry<C>): void {
    if (entry.isReleased) return;
    entry.isReleased = true;
    this.entries.delete(entry);
    this.unauthenticated.delete(entry);
    const s = this.byAddress.get(entry.address);
    if (s !== undefined) {
      s.unauthenticated.delete(entry);
      if (--s.count === 0) this.byAddress.delete(entry.address);
    }
    this.counters.open = this.entries.size;
  }

  /** Check every deadline now (the timer calls this). */
  readonly sweep = (): void => {
    const o = this.options;
    const now = this.now();
    const expired: Array<[GuardEntry<C>, GuardCloseReason]> = [];
    for (const e of this.entries) {
      const hasProgress = e.fold(now);
      if (e.busy > 0) {
        e.partialSinceMs = null;
        continue;
      }
      if (o.readTimeoutMs > 0) {
        const isPartial = e.conn.partialBytes() > 0;
        if (!isPartial) e.partialSinceMs = null;
        else if (hasProgress || e.partialSinceMs === null) e.partialSinceMs = now;
        if (e.partialSinceMs !== null && now - e.partialSinceMs >= o.readTimeoutMs) {
          expired.push([e, 'read-timeout']);
          continue;
        }
      }
      if (o.isAuthRequired && o.preAuthTimeoutMs > 0 && !e.isAuthenticated && now - e.openedAtMs >= o.preAuthTimeoutMs) {
        expired.push([e, 'pre-auth-timeout']);
        continue;
      }
      if (o.idleTimeoutMs > 0) {
        const quietMs = now - e.lastActiveMs;
        if (quietMs >= o.idleTimeoutMs) expired.push([e, 'idle-timeout']);
        else if (quietMs >= o.idleTimeoutMs / 2 && e.keepAliveAtMs < e.lastActiveMs && e.conn.keepAlive !== undefined) {
          e.keepAliveAtMs = now;
          e.conn.keepAlive();
        }
      }
    }
    // Closed after the walk: a close may release synchronously.
    for (const [e, reason] of expired) this.close(e, reason);
  };

  /** Stop the timer (the listener is closing). Idempotent. */
  stop(): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private evict(victim: GuardEntry<C>): void {
    this.close(victim, 'evicted');
  }

  private close(e: GuardEntry<C>, reason: GuardCloseReason): void {
    if (e.isReleased) return;
    const c = this.counters;
    if (reason === 'evicted') c.evicted++;
    else if (reason === 'pre-auth-timeout') c.preAuthTimeouts++;
    else if (reason === 'idle-timeout') c.idleTimeouts++;
    else c.readTimeouts++;
    // Released first, so its slot is free even while its socket lingers to say why.
    this.release(e);
    e.conn.closeFor(reason);
  }

  private refuse(reason: GuardRefusal): GuardRefusal {
    this.counters.refused++;
    return reason;
  }
}

/** Sweeps run a few times per shortest timeout, at least every second; null when none is on. */
export function sweepIntervalMs(o: Readonly<ConnLimits> & { isAuthRequired: boolean }): number | null {
  const on = [o.readTimeoutMs, o.idleTimeoutMs, o.isAuthRequired ? o.preAuthTimeoutMs : 0].filter((t) => t > 0);
  if (on.length === 0) return null;
  return Math.min(1000, Math.max(10, Math.floor(Math.min(...on) / 4)));
}

function first<T>(set: Set<T>): T | undefined {
  for (const v of set) return v;
  return undefined;
}
