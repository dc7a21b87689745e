import { performance } from 'node:perf_hooks';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { METRICS_CONTENT_TYPE } from '../../shared/prom.js';
import { createListener, type TlsServerConfig } from '../../shared/tls.js';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { Status } from '../../shared/status.js';
import { decodeRequests, encodeMessage } from '../../shared/protocol/codec.js';
import { decodePackedRequests } from '../../shared/protocol/packed-requests.js';
import { encodePackedAnswers } from '../../shared/protocol/packed-answers.js';
import { LAYOUTS_HEADER, PACKED_DURABLE_TOKEN, PACKED_V1, PACKED_V1_TOKEN } from '../../shared/protocol/packed-layout.js';
import type { ProtocolLimits } from '../../shared/protocol/limits.js';
import { IpAllowList } from './ip-allow-list.js';
import { Op } from '../../shared/protocol/ops.js';
import { errorAnswer, extraAnswer, type Request } from '../../shared/protocol/frames.js';
import { gateFrame, insecureAuthAnswer, type AuthServer, type ServerAuth } from '../../shared/auth/index.js';
import type { Executor, ResponseFrame } from './executor.js';
import { LoadMeter } from './load-meter.js';
import { checkConnLimits, connLimitsOf, type ConnLimits } from '../../shared/conn-limits.js';
import type { ConnGuardCounters } from '../../shared/conn-guard.js';
import { HttpConnGuard } from '../../shared/http-conn-guard.js';

export interface DataServerOptions extends ProtocolLimits, ConnLimits {
  ip: string;
  maxConnections: number;
  port: number;
  incomingIp: string[];
  maxInFlightPerConnection: number;
  highWaterMarkBytes: number;
  /** Certificate and key: the port then speaks TLS only. */
  tls: TlsServerConfig | null;
}

/** Connection counters, read by the STATS op and /metrics. */
export interface DataServerCounters {
  connections: number;
  totalConnections: number;
  rejectedConnections: number;
  messages: number;
  frames: number;
  badFrames: number;
  closedForProtocolError: number;
  authFailures: number;
  authDenied: number;
}

/** What the node's port answers over plain HTTP, before any WebSocket upgrade. */
export interface NodeHttpEndpoints {
  /** `GET /metrics`: Prometheus text. */
  metrics: () => Promise<string>;
  /** `GET /healthz`: 200 when serving, 503 when not (fenced, or no map yet); the JSON body says why. */
  health: () => { isHealthy: boolean; body: Record<string, unknown> };
}

/** One client connection: its socket, its auth state, and the answers not written yet. */
interface Conn {
  readonly ws: WebSocket;
  readonly socket: Socket;
  readonly auth: AuthServer | null;
  /** Answers of this tick to CBOR messages, written as one CBOR message when the tick ends. */
  outbox: ResponseFrame[];
  /** Answers of this tick to packed messages, written as one packed message when the tick ends. */
  packedOutbox: ResponseFrame[];
  /** In the list of connections to flush at the end of the tick. */
  isQueued: boolean;
}

// WebSocket close codes used when a stream is unusable.
const CLOSE_UNSUPPORTED_DATA = 1003;
const CLOSE_INVALID_PAYLOAD = 1007;
const CLOSE_TOO_BIG = 1009;

/**
 * The node's client-facing WebSocket server: decodes each message once and executes its
 * frames in order. Answers wait in the connection's outbox until the end of the tick,
 * then leave as one message in one corked write per connection: the answers to every
 * message read from a connection in one I/O phase, and those that waited for replicas.
 * Reading pauses while too many response bytes wait on a slow reader.
 */
export class DataServer {
  readonly counters: DataServerCounters = {
    connections: 0, totalConnections: 0, rejectedConnections: 0, messages: 0, frames: 0, badFrames: 0, closedForProtocolError: 0,
    authFailures: 0, authDenied: 0,
  };
  /** Requests served and their service time, for the heartbeat's load report. */
  readonly load = new LoadMeter();
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly allowList: IpAllowList;
  private readonly sockets = new Set<WebSocket>();
  private readonly connGuard: HttpConnGuard;
  /** `/metrics` and `/healthz`; null answers every HTTP request 426 (use a WebSocket). */
  endpoints: NodeHttpEndpoints | null = null;

  /**
   * @param auth who may do what; null = `--insecure` (every connection may run every op)
   */
  constructor(private readonly options: DataServerOptions, private readonly executor: Executor, private readonly auth: ServerAuth | null = null) {
    this.allowList = new IpAllowList(options.incomingIp);
    this.http = createListener(options.tls, this.onHttpRequest, options.readTimeoutMs);
    this.http.on('connection', this.onTcpConnection);
    // After the allow-list: a connection it turns away takes no slot.
    checkConnLimits(options, 'node');
    this.connGuard = new HttpConnGuard(this.http, { ...connLimitsOf(options), maxConnections: options.maxConnections, isAuthRequired: auth !== null });
    this.wss = new WebSocketServer({ server: this.http, maxPayload: options.maxMessageBytes, perMessageDeflate: false });
    this.wss.on('connection', this.onConnection);
    this.wss.on('headers', offerLayouts);
    this.wss.on('error', noop);
  }

  /** Start listening; resolves with the bound address. */
  async listen(): Promise<{ ip: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.options.port, this.options.ip, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const addr = this.http.address();
    if (addr === null || typeof addr === 'string') throw new Error('server has no TCP address');
    return { ip: addr.address, port: addr.port };
  }

  /** Evictions, refusals and timeouts of client connections (`pandakv_node_conn_*`). */
  get connCounters(): Readonly<ConnGuardCounters> {
    return this.connGuard.guard.counters;
  }

  /** Close every connection and stop listening. Idempotent. */
  async close(): Promise<void> {
    this.connGuard.stop();
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    if (this.http.listening) await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  // The allow-list is applied to the TCP connection, before any byte is read.
  private readonly onTcpConnection = (socket: Socket): void => {
    if (!this.allowList.allows(socket.remoteAddress)) {
      this.counters.rejectedConnections++;
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.on('error', noop);
  };

  private readonly onHttpRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    const ep = this.endpoints;
    if (ep !== null && req.method === 'GET' && path === '/metrics') {
      ep.metrics().then((text) => {
        res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
        res.end(text);
      }, (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics failed: ${err.message}\n`);
      });
      return;
    }
    if (ep !== null && req.method === 'GET' && path === '/healthz') {
      const h = ep.health();
      res.writeHead(h.isHealthy ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(h.body));
      return;
    }
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('PandaKV data node: connect with a WebSocket (HTTP serves GET /metrics and /healthz)\n');
  };

  private readonly onConnection = (ws: WebSocket, req: IncomingMessage): void => {
    this.counters.connections++;
    this.counters.totalConnections++;
    this.sockets.add(ws);
    const socket = req.socket;
    const auth = this.auth?.newServer() ?? null;
    this.connGuard.upgraded(socket, ws);
    const conn: Conn = { ws, socket, auth, outbox: [], packedOutbox: [], isQueued: false };
    const onMessage = (data: RawData, isBinary: boolean): void => this.onMessage(conn, data, isBinary);
    ws.on('message', onMessage);
    ws.on('error', noop);
    ws.once('close', () => {
      auth?.close();
      this.counters.connections--;
      this.sockets.delete(ws);
      ws.off('message', onMessage);
    });
  };

  private onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    const { ws, socket, auth } = conn;
    const c = this.counters;
    const startedMs = performance.now();
    c.messages++;
    if (!isBinary || !(data instanceof Uint8Array)) {
      this.closeForProtocolError(conn, Status.BAD_REQUEST, 'messages must be binary CBOR', CLOSE_UNSUPPORTED_DATA);
      return;
    }
    // Each message is answered in the layout it came in (docs/protocol.md §16).
    const isPacked = data.length > 0 && data[0] === PACKED_V1;
    const decoded = isPacked ? decodePackedRequests(data, this.options) : decodeRequests(data, this.options);
    if (decoded.fatal !== null) {
      const code = decoded.fatal.status === Status.TOO_LARGE ? CLOSE_TOO_BIG : CLOSE_INVALID_PAYLOAD;
      this.closeForProtocolError(conn, decoded.fatal.status, decoded.fatal.message, code);
      return;
    }
    const out = isPacked ? conn.packedOutbox : conn.outbox;
    const before = out.length;
    for (const e of decoded.errors) out.push(errorAnswer(e.id, e.status, e.message));
    c.badFrames += decoded.errors.length;
    const reqs = decoded.requests;
    const max = this.options.maxInFlightPerConnection;
    for (let i = 0; i < reqs.length; i++) {
      const req = reqs[i]!;
      if (i >= max) {
        out.push(extraAnswer(req.id, Status.BUSY, { message: `more than ${max} requests in flight`, retryAfterMs: 1 }));
        continue;
      }
      if (auth !== null || req.op === Op.AUTH) {
        const refusal = this.gate(auth, req, socket);
        if (refusal !== null) {
          out.push(refusal);
          continue;
        }
      }
      try {
        const r = this.executor.execute(req);
        if (r instanceof Promise) r.then((frame) => this.answerLater(conn, frame, startedMs, isPacked), noop);
        else out.push(r);
      } catch (err) {
        out.push(errorAnswer(req.id, Status.INTERNAL, err instanceof Error ? err.message : 'internal error'));
      }
    }
    c.frames += reqs.length;
    if (out.length > 0) this.queueFlush(conn);
    // Each frame of a message is charged the whole message's time: what its sender waited.
    this.load.record((performance.now() - startedMs) * 1000, out.length - before);
    if (auth?.isLocked === true) {
      this.flushConn(conn);
      ws.close(4003, 'too many failed authentication attempts');
    } else if (auth?.isAuthenticated === true) {
      this.connGuard.authenticated(socket);
    }
  }

  // Connections with answers waiting for the end of the tick.
  private readonly flushing: Conn[] = [];
  private isFlushScheduled = false;

  private queueFlush(conn: Conn): void {
    if (conn.isQueued) return;
    conn.isQueued = true;
    this.flushing.push(conn);
    if (this.isFlushScheduled) return;
    this.isFlushScheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.isFlushScheduled = false;
    const conns = this.flushing.splice(0);
    for (const conn of conns) {
      conn.isQueued = false;
      this.flushConn(conn);
    }
  };

  /** Write `conn`'s waiting answers as one message per layout, in one write. */
  private flushConn(conn: Conn): void {
    const frames = conn.outbox;
    const packed = conn.packedOutbox;
    if (frames.length === 0 && packed.length === 0) return;
    if (frames.length > 0) conn.outbox = [];
    if (packed.length > 0) conn.packedOutbox = [];
    const { ws, socket } = conn;
    if (ws.readyState !== ws.OPEN) return;
    socket.cork();
    if (frames.length > 0) ws.send(encodeMessage(frames));
    if (packed.length > 0) ws.send(encodePackedAnswers(packed));
    socket.uncork();
    if (ws.bufferedAmount > this.options.highWaterMarkBytes && !ws.isPaused) {
      ws.pause();
      socket.once('drain', () => ws.resume());
    }
  }

  /** Auth before execution (DESIGN §9); the answer when the frame must not run, null when it may. */
  private gate(auth: AuthServer | null, req: Request, socket: Socket): ResponseFrame | null {
    if (auth === null) return insecureAuthAnswer(req, 'node');
    const refusal = gateFrame(this.auth!, auth, req, 'node', socket.remoteAddress ?? '?');
    if (refusal !== null) {
      if (refusal[1] === Status.AUTH_FAILED) this.counters.authFailures++;
      else if (refusal[1] !== Status.UNAVAILABLE && req.op !== Op.AUTH) this.counters.authDenied++;
    }
    return refusal;
  }

  /** An answer that waited (for replicas, a disk commit, a newer map): it leaves with the tick's others. */
  private answerLater(conn: Conn, frame: ResponseFrame, startedMs: number, isPacked: boolean): void {
    this.load.record((performance.now() - startedMs) * 1000);
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    (isPacked ? conn.packedOutbox : conn.outbox).push(frame);
    this.queueFlush(conn);
  }

  private closeForProtocolError(conn: Conn, status: number, message: string, closeCode: number): void {
    this.counters.closedForProtocolError++;
    // Answers to the connection's earlier messages leave first.
    this.flushConn(conn);
    conn.ws.send(encodeMessage([errorAnswer(0, status, message)]));
    conn.ws.close(closeCode, message.slice(0, 100));
  }
}

function noop(): void {}

/** Tell the client which packed layouts this node reads (docs/protocol.md §16). */
function offerLayouts(headers: string[]): void {
  headers.push(`${LAYOUTS_HEADER}: ${PACKED_V1_TOKEN}, ${PACKED_DURABLE_TOKEN}`);
}
