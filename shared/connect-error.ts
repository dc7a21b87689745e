/** Why a connection attempt failed, by the system's error code, in plain words. */
const REASONS: Readonly<Record<string, string>> = Object.freeze({
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EADDRNOTAVAIL: 'address not available',
  EPIPE: 'connection closed',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS certificate signed by an unknown CA',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate cannot be verified',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate is for another host',
});

/**
 * A failed HTTP request or connection in a few words ("connection refused") instead of
 * "fetch failed": the code of the error or its cause, an abort by timeout, or its message.
 */
export function describeConnectError(err: unknown): string {
  let e: unknown = err;
  // undici wraps the system error one or two levels down (`cause`, or an AggregateError).
  for (let depth = 0; depth < 4 && e !== null && typeof e === 'object'; depth++) {
    const x = e as { code?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
    if (x.name === 'TimeoutError' || x.name === 'AbortError') return 'no answer in time';
    if (typeof x.code === 'string' && Object.hasOwn(REASONS, x.code)) return REASONS[x.code]!;
    if (x.cause !== undefined) e = x.cause;
    else if (Array.isArray(x.errors) && x.errors.length > 0) e = x.errors[0];
    else break;
  }
  const last = e as { code?: unknown; message?: unknown } | null;
  if (last !== null && typeof last === 'object' && typeof last.code === 'string') return last.code;
  if (last !== null && typeof last === 'object' && typeof last.message === 'string') return last.message;
  return String(err);
}
