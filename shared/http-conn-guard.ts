import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { ConnGuard, GUARD_WS_CLOSE, type ConnGuardOptions, type GuardCloseReason, type GuardEntry, type GuardedConnection } from './conn-guard.js';

// A closed connection keeps its socket this long to say why, then is destroyed, so a
// flood of peers that never read cannot hold descriptors after their slot was taken.
const CLOSE_LINGER_MS = 1000;

const HTTP_REFUSED = 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n';
const HTTP_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/** The parts of ws's receiver that say whether a message is half-read (ws 8). */
interface ReceiverView {
  _bufferedBytes?: number;
  _fragments?: unknown[];
  /** 0 (GET_INFO) between frames; 1–4 inside a frame's header, mask or payload. */
  _state?: number;
}

/** ws receiver states 1..4: a frame's length, mask or payload is awaited. */
const MID_FRAME_MIN = 1;
const MID_FRAME_MAX = 4;

/** One TCP connection of an HTTP/WebSocket listener, as the guard sees it. */
class HttpConnection implements GuardedConnection {
  entry: GuardEntry<HttpConnection> | null = null;
  ws: WebSocket | null = null;
  /** `socket.bytesRead` at the last request boundary, before an upgrade. */
  bytesMark = 0;
  /** The TLS socket over `socket`, once its handshake is done (HTTPS listeners). */
  secure: Duplex | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;

  constructor(readonly socket: Socket, private readonly guard: ConnGuard<HttpConnection>, private readonly isPinging: boolean, private readonly isTls: boolean) {}

  keepAlive(): void {
    if (this.isPinging && this.ws !== null && this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }

  partialBytes(): number {
    if (this.ws === null) return this.socket.bytesRead - this.bytesMark;
    const r = (this.ws as unknown as { _receiver?: ReceiverView | null })._receiver;
    if (r === null || r === undefined) return 0;
    const state = r._state ?? 0;
    const isMidFrame = state >= MID_FRAME_MIN && state <= MID_FRAME_MAX;
    return (r._bufferedBytes ?? 0) + (isMidFrame || (r._fragments?.length ?? 0) > 0 ? 1 : 0);
  }

  closeFor(reason: GuardCloseReason): void {
    const ws = this.ws;
    if (ws !== null) {
      const { code, text } = GUARD_WS_CLOSE[reason];
      if (ws.readyState === ws.OPEN) ws.close(code, text);
    } else if (!this.socket.destroyed) {
      // Over TLS the answer goes through the TLS socket; before its handshake, none can.
      const out = this.isTls ? this.secure : this.socket;
      if (out === null) this.socket.destroy();
      else out.end(reason === 'evicted' ? HTTP_REFUSED : HTTP_TIMEOUT);
    }
    this.lingerTimer = setTimeout(this.onLinger, CLOSE_LINGER_MS);
    this.lingerTimer.unref();
  }

  readonly onData = (): void => {
    if (this.entry !== null) this.entry.isActive = true;
  };

  readonly onMessage = (): void => {
    if (this.entry !== null) this.entry.messages++;
  };

  readonly onClose = (): void => {
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    if (this.entry !== null) this.guard.release(this.entry);
  };

  /** An HTTP request is being answered: no deadline until its response is done. */
  onRequest(): void {
    if (this.entry === null) return;
    this.entry.busy++;
    this.entry.messages++;
  }

  readonly onResponseClose = (): void => {
    if (this.entry !== null) this.entry.busy--;
    this.bytesMark = this.socket.bytesRead;
  };

  private readonly onLinger = (): void => {
    this.lingerTimer = null;
    if (this.ws !== null) this.ws.terminate();
    this.secure?.destroy();
    this.socket.destroy();
  };
}

/**
 * Connection limits on an HTTP server whose upgrades become WebSockets: every TCP
 * connection is admitted (or refused with 503) when accepted, before a byte is read;
 * HTTP requests are exempt from deadlines while being answered; a WebSocket is closed
 * with a code that says why (`GUARD_WS_CLOSE`). Opens nothing itself: it watches the
 * sockets the server hands it.
 */
export class HttpConnGuard {
  readonly guard: ConnGuard<HttpConnection>;
  private readonly bySocket = new WeakMap<object, HttpConnection>();
  private readonly isTls: boolean;

  /**
   * @param isPinging ping a WebSocket quiet for half the idle timeout (its pong is a sign
   *   of life), for listeners whose clients only listen
   */
  constructor(private readonly server: Server, options: Readonly<ConnGuardOptions>, private readonly isPinging = false) {
    this.guard = new ConnGuard<HttpConnection>(options);
    this.isTls = 'setSecureContext' in server;
    server.on('connection', this.onConnection);
    // An HTTPS server: the TLS socket over an admitted TCP socket is the same connection.
    server.on('secureConnection', this.onSecureConnection);
    server.on('request', this.onRequest);
  }

  /** Bind the WebSocket an upgrade produced to its connection's entry. */
  upgraded(socket: Duplex, ws: WebSocket): void {
    const c = this.bySocket.get(socket);
    if (c === undefined) return;
    c.ws = ws;
    ws.on('message', c.onMessage);
  }

  /** The connection proved a principal (pass the request's socket). */
  authenticated(socket: Duplex): void {
    const c = this.bySocket.get(socket);
    if (c?.entry != null) this.guard.authenticated(c.entry);
  }

  /** True when the connection of `socket` has authenticated. */
  isAuthenticated(socket: Duplex): boolean {
    return this.bySocket.get(socket)?.entry?.isAuthenticated === true;
  }

  /** Stop the deadline timer (the server is closing). */
  stop(): void {
    this.guard.stop();
    this.server.off('connection', this.onConnection);
    this.server.off('request', this.onRequest);
    this.server.off('secureConnection', this.onSecureConnection);
  }

  private readonly onSecureConnection = (secure: Duplex & { _parent?: unknown }): void => {
    const parent = secure._parent;
    const c = parent !== null && typeof parent === 'object' ? this.bySocket.get(parent) : undefined;
    if (c === undefined) return;
    c.secure = secure;
    this.bySocket.set(secure, c);
  };

  private readonly onConnection = (socket: Socket): void => {
    // An earlier listener (an address allow-list) may have turned it away already.
    if (socket.destroyed) return;
    const c = new HttpConnection(socket, this.guard, this.isPinging, this.isTls);
    const entry = this.guard.admit(c, socket.remoteAddress ?? '?');
    if (typeof entry === 'string') {
      socket.on('error', noop);
      // Over TLS no handshake has happened: a plain answer would be noise, so just close.
      if (this.isTls) {
        socket.destroy();
        return;
      }
      socket.end(HTTP_REFUSED);
      socket.setTimeout(CLOSE_LINGER_MS, () => socket.destroy());
      return;
    }
    c.entry = entry;
    this.bySocket.set(socket, c);
    socket.on('data', c.onData);
    socket.once('close', c.onClose);
  };

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const c = this.bySocket.get(req.socket);
    if (c?.entry == null) return;
    c.onRequest();
    res.once('close', c.onResponseClose);
  };
}

function noop(): void {}
