import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import type { Socket } from 'node:net';

export { caOption, type TlsCa } from './tls-ca.js';

/**
 * A listener's certificate and key (PEM text or bytes). A listener given one speaks TLS
 * (`https://`, `wss://`, memcached over TLS); null keeps it in the clear.
 */
export interface TlsServerConfig {
  /** Certificate chain, PEM. */
  cert: string | Buffer;
  /** Private key, PEM. */
  key: string | Buffer;
}

/** A TLS handshake not done within this closes the connection (when no read timeout is set). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * An HTTP server, or an HTTPS one when `tls` is given. The HTTPS server has the same
 * request/upgrade events, and its `connection` event still hands over the TCP socket
 * before any byte is read, so connection guards admit or refuse it before the handshake.
 * A handshake must finish within `handshakeTimeoutMs` (the listener's read timeout).
 */
export function createListener(
  tls: TlsServerConfig | null, onRequest: (req: IncomingMessage, res: ServerResponse) => void, handshakeTimeoutMs = DEFAULT_HANDSHAKE_TIMEOUT_MS,
): Server {
  if (tls === null) return createHttpServer(onRequest as RequestListener);
  // https.Server is an http.Server for every event and method used on it.
  const handshakeTimeout = handshakeTimeoutMs > 0 ? handshakeTimeoutMs : DEFAULT_HANDSHAKE_TIMEOUT_MS;
  return createHttpsServer({ cert: tls.cert, key: tls.key, handshakeTimeout }, onRequest as RequestListener) as unknown as Server;
}

/** Build a secure context once per listener (the memcached port wraps each socket in it). */
export function serverContext(tls: TlsServerConfig): SecureContext {
  return createSecureContext({ cert: tls.cert, key: tls.key });
}

/** Start TLS as the server on an accepted TCP socket; the plain socket stays the guard's. */
export function wrapServerSocket(socket: Socket, context: SecureContext, handshakeTimeoutMs: number): TLSSocket {
  const secure = new TLSSocket(socket, { isServer: true, secureContext: context });
  const timer = setTimeout(() => secure.destroy(), handshakeTimeoutMs);
  timer.unref();
  secure.once('secure', () => clearTimeout(timer));
  secure.once('close', () => clearTimeout(timer));
  return secure;
}

/** `ws://` → `wss://` and `http://` → `https://` when `isTls`; other URLs unchanged. */
export function secureScheme(url: string, isTls: boolean): string {
  if (!isTls) return url;
  return url.replace(/^ws:\/\//, 'wss://').replace(/^http:\/\//, 'https://');
}
