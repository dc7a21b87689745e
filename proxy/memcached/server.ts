import { KvError } from '../../shared/errors.js';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { EventEmitter } from 'eventemitter3';
import type { MemcachedBackend } from './backend.js';
import { resolveOptions, type MemcachedServerOptions } from './options.js';
import { McConnection } from './connection.js';
import { McExecutor, type McExecutorContext } from './executor.js';
import { McBinaryExecutor } from './binary-executor.js';
import { McFlushScheduler } from './flush-scheduler.js';
import { McStats, type McStatsSnapshot } from './stats.js';
import { ConnGuard, type ConnGuardCounters } from '../../shared/conn-guard.js';
import { connLimitsOf } from '../../shared/conn-limits.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, serverContext, wrapServerSocket } from '../../shared/tls.js';
import type { SecureContext } from 'node:tls';

export interface MemcachedServerEvents {
  /** The server is accepting connections. */
  listening: (address: AddressInfo) => void;
  /** A client connection was accepted (before its first byte is read). */
  connection: (socket: Socket) => void;
  /** The server and every connection have closed. */
  close: () => void;
  /** The listening socket failed (connection errors are handled per connection). */
  error: (err: Error) => void;
}

type State = 'new' | 'listening' | 'closing' | 'closed';

const TOO_MANY_CONNECTIONS = Buffer.from('SERVER_ERROR too many open connections\r\n', 'latin1');

/**
 * The memcached front end: a TCP server whose connections run commands against a
 * `MemcachedBackend`. Each connection speaks the text + meta protocol, or the binary
 * protocol when its first byte is the binary magic (0x80).
 *
 * ```ts
 * const server = new MemcachedServer(backend, { port: 0 });
 * await server.listen();
 * console.log(server.address()?.port);
 * await server.close();
 * ```
 */
export class MemcachedServer extends EventEmitter<MemcachedServerEvents> {
  private readonly options: Readonly<MemcachedServerOptions>;
  private readonly server: Server;
  private readonly tlsContext: SecureContext | null;
  private readonly connections = new Set<McConnection>();
  private readonly counters = new McStats();
  private readonly executor: McExecutor;
  private readonly binaryExecutor: McBinaryExecutor;
  private readonly flusher: McFlushScheduler;
  private readonly guard: ConnGuard<McConnection>;
  private readonly startedAtMs = Date.now();
  private state: State = 'new';
  private closing: Promise<void> | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private resolveClosed: (() => void) | null = null;

  constructor(private readonly backend: MemcachedBackend, options: Partial<MemcachedServerOptions> = {}) {
    super();
    this.options = resolveOptions(options);
    this.flusher = new McFlushScheduler(() => backend.flush());
    const context: McExecutorContext = {
      version: this.options.version,
      serverStats: () => this.statLines(),
      nowSec: () => Math.floor(Date.now() / 1000),
      flush: (delaySec) => this.flusher.request(delaySec),
      maxDumpKeys: this.options.maxDumpKeys,
    };
    this.executor = new McExecutor(backend, context);
    this.binaryExecutor = new McBinaryExecutor(backend, context);
    this.guard = new ConnGuard<McConnection>({
      ...connLimitsOf(this.options), maxConnections: this.options.maxConnections, isAuthRequired: this.options.isAuthRequired,
    });
    // Half-open: a client may send its last commands and FIN, and still get the answers.
    this.server = createServer({ allowHalfOpen: true }, this.onConnection);
    this.tlsContext = this.options.tls === null ? null : serverContext(this.options.tls);
    this.server.on('error', this.onServerError);
  }

  /** Start listening on `host:port`; resolves with the bound address. */
  listen(): Promise<AddressInfo> {
    if (this.state !== 'new') return Promise.reject(KvError.unavailable(`memcached server cannot listen: it is ${this.state}`));
    return new Promise<AddressInfo>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onError);
        this.state = 'listening';
        const address = this.server.address() as AddressInfo;
        queueMicrotask(() => this.emit('listening', address));
        resolve(address);
      });
    });
  }

  /** The bound address, or null when not listening. */
  address(): AddressInfo | null {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a : null;
  }

  /** The front end's counters (`pandakv_proxy_memcached_*`). */
  stats(): McStatsSnapshot {
    return this.counters.snapshot();
  }

  /** Evictions, refusals and timeouts under the connection limits. */
  get connCounters(): Readonly<ConnGuardCounters> {
    return this.guard.counters;
  }

  /**
   * Stop accepting, let each connection write the answers it owes and close; after
   * `closeTimeoutMs` the rest are destroyed. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
    });
    this.guard.stop();
    switch (this.state) {
      case 'new':
      case 'closed':
        this.finishClose();
        break;
      case 'listening':
        this.state = 'closing';
        this.server.close(this.onServerClosed);
        for (const c of this.connections) c.shutdown();
        this.closeTimer = setTimeout(this.onCloseTimeout, this.options.closeTimeoutMs);
        this.closeTimer.unref();
        this.maybeClosed();
        break;
      case 'closing':
        // destroy() is under way; resolve when its connections are gone.
        this.maybeClosed();
        break;
    }
    return this.closing;
  }

  /** Close the listener and every connection at once. Idempotent. */
  destroy(): void {
    if (this.state === 'closed') return;
    if (this.state === 'new') {
      this.finishClose();
      return;
    }
    this.state = 'closing';
    this.guard.stop();
    if (this.server.listening) this.server.close(this.onServerClosed);
    for (const c of [...this.connections]) c.destroy();
    this.maybeClosed();
  }

  private readonly onConnection = (socket: Socket): void => {
    if (this.state !== 'listening') {
      socket.on('error', this.onRejectedSocketError);
      socket.destroy();
      return;
    }
    // No byte has been read yet: a refused connection costs nothing but its answer.
    // Over TLS the guard admits the TCP socket (handshakes count against the limits);
    // the connection reads and writes the TLS socket on top of it.
    const io = this.tlsContext === null ? socket : wrapServerSocket(socket, this.tlsContext, this.options.readTimeoutMs > 0 ? this.options.readTimeoutMs : DEFAULT_HANDSHAKE_TIMEOUT_MS);
    const connection = new McConnection(io, this.backend, this.executor, this.options, this.counters, this.onConnectionClosed, this.binaryExecutor, this.guard);
    const entry = this.guard.admit(connection, socket.remoteAddress ?? '?');
    if (typeof entry === 'string') {
      this.counters.connectionsRejected++;
      connection.refuse(TOO_MANY_CONNECTIONS);
      return;
    }
    connection.guardEntry = entry;
    this.counters.connections++;
    this.counters.openConnections++;
    this.connections.add(connection);
    this.emit('connection', io);
  };

  private readonly onConnectionClosed = (connection: McConnection): void => {
    if (this.connections.delete(connection)) this.counters.openConnections--;
    this.maybeClosed();
  };

  private readonly onRejectedSocketError = (): void => {
    // A refused client that resets is of no further interest.
  };

  private readonly onServerError = (err: Error): void => {
    if (this.state === 'listening') this.emit('error', err);
  };

  private readonly onServerClosed = (): void => {
    this.maybeClosed();
  };

  private readonly onCloseTimeout = (): void => {
    this.closeTimer = null;
    for (const c of [...this.connections]) c.destroy();
  };

  private maybeClosed(): void {
    if (this.state === 'closing' && this.connections.size === 0 && !this.server.listening) this.finishClose();
  }

  private finishClose(): void {
    this.flusher.close();
    if (this.closeTimer !== null) {
      clearTimeout(this.closeTimer);
      this.closeTimer = null;
    }
    const wasClosed = this.state === 'closed';
    this.state = 'closed';
    const resolve = this.resolveClosed;
    this.resolveClosed = null;
    if (resolve !== null) resolve();
    if (!wasClosed) queueMicrotask(() => this.emit('close'));
  }

  /** Lines of `stats` that come from the front end itself. */
  private statLines(): Record<string, string | number> {
    const now = Date.now();
    return {
      pid: process.pid,
      uptime: Math.floor((now - this.startedAtMs) / 1000),
      time: Math.floor(now / 1000),
      version: this.options.version,
      curr_connections: this.connections.size,
      total_connections: this.counters.connections,
      ...this.counters.snapshot(),
      conn_evicted: this.guard.counters.evicted,
      conn_refused: this.guard.counters.refused,
      conn_pre_auth_timeouts: this.guard.counters.preAuthTimeouts,
      conn_idle_timeouts: this.guard.counters.idleTimeouts,
      conn_read_timeouts: this.guard.counters.readTimeouts,
    };
  }
}
