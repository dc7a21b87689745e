/**
 * Connection limits every listener applies (node WebSocket, proxy WebSocket and memcached
 * port, manager HTTP and `/map`). Each component's options extend this; 0 turns a
 * timeout off.
 */
export interface ConnLimits {
  /**
   * A connection that has not authenticated this long after it was accepted is closed.
   * Not applied by a listener running `--insecure`. @default 10000
   */
  preAuthTimeoutMs: number;
  /** A connection that sends nothing for this long is closed; 0 = never. @default 300000 */
  idleTimeoutMs: number;
  /**
   * A line, frame or HTTP request head that has started arriving must be complete
   * within this long, or the connection is closed (slowloris). @default 10000
   */
  readTimeoutMs: number;
  /**
   * Connections from one address. At the limit a new one replaces that address's oldest
   * unauthenticated connection; with none to replace (or `--insecure`) it is refused.
   * @default 1024
   */
  maxConnectionsPerAddress: number;
}

export const CONN_LIMITS_DEFAULTS: Readonly<ConnLimits> = Object.freeze({
  preAuthTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  readTimeoutMs: 10_000,
  maxConnectionsPerAddress: 1024,
});

/** @throws RangeError naming the first limit that cannot work */
export function checkConnLimits(o: Readonly<ConnLimits> & { maxConnections: number }, what: string): void {
  for (const name of ['preAuthTimeoutMs', 'idleTimeoutMs', 'readTimeoutMs'] as const) {
    const v = o[name];
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what} option ${name} must be a non-negative integer (0 = off), got ${String(v)}`);
  }
  for (const name of ['maxConnectionsPerAddress', 'maxConnections'] as const) {
    const v = o[name];
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${what} option ${name} must be a positive integer, got ${String(v)}`);
  }
}

/** Just the limits of a larger options object. */
export function connLimitsOf(o: Readonly<ConnLimits>): ConnLimits {
  return { preAuthTimeoutMs: o.preAuthTimeoutMs, idleTimeoutMs: o.idleTimeoutMs, readTimeoutMs: o.readTimeoutMs, maxConnectionsPerAddress: o.maxConnectionsPerAddress };
}
