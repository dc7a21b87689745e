import { KvError } from '../shared/errors.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createListener } from '../shared/tls.js';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { Upstream } from './upstream.js';
import { ScanService, upstreamScanHost } from './scan-service.js';
import { CursorSigner } from './scan-cursor.js';
import { NativeSession } from './native-session.js';
import { ProxyMetrics } from './metrics.js';
import { ClusterBackend } from './cluster-backend.js';
import { MemcachedServer } from './memcached/server.js';
import { PROXY_DEFAULTS, type ProxyAuth, type ProxyOptions } from './options.js';
import { ProxyAuthority } from './proxy-auth.js';
import { IdlePoller } from '../shared/idle-poll.js';
import { SpareCpuGate } from '../shared/spare-cpu.js';
import { EventLog } from '../shared/event-log.js';
import { HttpConnGuard } from '../shared/http-conn-guard.js';
import { checkConnLimits, connLimitsOf } from '../shared/conn-limits.js';
import type { ConnGuardCounters } from '../shared/conn-guard.js';

/**
 * The stateless proxy: lanes to every node opened up front, the native protocol over
 * WebSocket, the memcached text/meta and binary protocols over TCP, ordered scatter-gather scans,
 * `/healthz` and `/metrics`. It fails closed: without a map for longer than `mapLossMs`
 * it answers 503 and refuses new clients, and recovers when the map returns.
 */
export class Proxy {
  readonly options: ProxyOptions;
  readonly upstream: Upstream;
  readonly metrics = new ProxyMetrics();
  /** Cluster events this proxy saw (manager-switch, …), one line each on `logWrite`. */
  readonly events: EventLog;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly scans: ScanService;
  private memcached: MemcachedServer | null = null;
  private clients = 0;
  private closing: Promise<void> | null = null;

  private readonly auth: ProxyAuth | null;
  private readonly poller: IdlePoller;
  private readonly spareCpu: SpareCpuGate;
  private readonly connGuard: HttpConnGuard;

  /** @param auth replaces the built-in client authentication (tests, embedding); ignored with `isInsecure` */
  constructor(options: Partial<ProxyOptions> & { map: string }, auth: ProxyAuth | null = null) {
    this.options = { ...PROXY_DEFAULTS, ...options };
    if (!this.options.isInsecure && this.options.credentials === null) {
      throw KvError.invalidArgument('the proxy needs credentials of a principal with the admin role (or --insecure)');
    }
    this.events = new EventLog({ component: 'proxy', format: this.options.logFormat, write: this.options.logWrite, capacity: this.options.eventCapacity });
    this.spareCpu = new SpareCpuGate({ minSpareCores: this.options.idlePollSpareCores, maxPressure: this.options.idlePollMaxPressure });
    this.poller = new IdlePoller(this.options.idlePollUs / 1000, this.spareCpu);
    if (this.poller.isEnabled) {
      this.spareCpu.start();
      this.metrics.addIdlePoll(this.poller, this.spareCpu);
    }
    this.upstream = new Upstream(this.options, this.poller.isEnabled ? this.poller.kick : null);
    this.auth = this.options.isInsecure ? null : auth ?? new ProxyAuthority(this.options, this.upstream);
    this.scans = new ScanService(upstreamScanHost(this.upstream, this.options.timeoutMs), new CursorSigner(this.options.cursorSecret));
    this.http = createListener(this.options.tls, this.onRequest, this.options.readTimeoutMs);
    this.http.on('connection', (s: Socket) => {
      s.setNoDelay(true);
      s.on('error', () => undefined);
      if (this.poller.isEnabled) s.on('data', this.poller.kick);
    });
    checkConnLimits({ ...this.options, maxConnections: this.options.maxClients }, 'proxy');
    this.connGuard = new HttpConnGuard(this.http, { ...connLimitsOf(this.options), maxConnections: this.options.maxClients, isAuthRequired: this.auth !== null });
    this.metrics.connSource = this.connSources;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.options.maxMessageBytes, perMessageDeflate: false });
    this.http.on('upgrade', this.onUpgrade);
    this.upstream.health.on('health', (ok) => this.metrics.healthy.set(ok ? 1 : 0));
    // Samples from the start, so a scrape before the first client shows zeros.
    this.metrics.clients.set({ protocol: 'native' }, 0);
    if (this.options.memcachedPort !== null) this.metrics.clients.set({ protocol: 'memcached' }, 0);
    this.upstream.on('map', (map) => this.metrics.mapEpoch.set(map.epoch));
  }

  /** Listen, then wait for the first map and warm lanes (ready means /healthz is 200). */
  async listen(): Promise<{ url: string; memcached: string | null }> {
    const o = this.options;
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(o.port, o.ip, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    if (o.memcachedPort !== null) {
      const backend = new ClusterBackend(this.upstream, o.timeoutMs, this.auth?.checkPassword ?? (async () => null), this.onMemcachedRequest, o.upstreamLayout);
      this.memcached = new MemcachedServer(backend, {
        ...connLimitsOf(o), host: o.ip, port: o.memcachedPort, tls: o.tls, isAuthRequired: this.auth !== null, maxConnections: o.memcachedMaxConnections,
      });
      if (this.poller.isEnabled) this.memcached.on('connection', (s) => s.on('data', this.poller.kick));
      this.memcached.on('connection', this.onMemcachedConnection);
      const mc = this.memcached;
      this.metrics.addMemcached(() => mc.stats());
      await this.memcached.listen();
    }
    return { url: this.url, memcached: this.memcachedAddress };
  }

  /** Resolve when healthy (map adopted, lanes up), or reject at the deadline. */
  async ready(timeoutMs: number): Promise<void> {
    await this.upstream.ready(Date.now() + timeoutMs);
    if (this.upstream.isHealthy) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.upstream.health.off('health', onHealth);
        reject(KvError.timeout(`proxy not healthy within ${timeoutMs} ms`));
      }, timeoutMs);
      const onHealth = (ok: boolean): void => {
        if (!ok) return;
        clearTimeout(timer);
        this.upstream.health.off('health', onHealth);
        resolve();
      };
      this.upstream.health.on('health', onHealth);
    });
  }

  private readonly onMemcachedConnection = (socket: Duplex): void => {
    this.metrics.clients.inc({ protocol: 'memcached' });
    socket.once('close', () => this.metrics.clients.dec({ protocol: 'memcached' }));
  };

  private readonly onMemcachedRequest = (op: number, status: number, ms: number): void => {
    this.metrics.observe(op, status, ms, 'memcached');
  };

  get url(): string {
    const a = this.http.address() as { address: string; port: number };
    return `${this.options.tls === null ? 'ws' : 'wss'}://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
  }

  get memcachedAddress(): string | null {
    const a = this.memcached?.address();
    return a ? `${a.address}:${a.port}` : null;
  }

  /** Evictions, refusals and timeouts of client connections, per port. */
  connCounters(): { native: Readonly<ConnGuardCounters>; memcached: Readonly<ConnGuardCounters> | null } {
    return { native: this.connGuard.guard.counters, memcached: this.memcached?.connCounters ?? null };
  }

  private readonly connSources = (): Array<[string, Readonly<ConnGuardCounters>]> => {
    const c = this.connCounters();
    return c.memcached === null ? [['native', c.native]] : [['native', c.native], ['memcached', c.memcached]];
  };

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.poller.stop();
      this.spareCpu.stop();
      this.connGuard.stop();
      for (const ws of this.wss.clients) ws.close(1001, 'proxy shutting down');
      await this.memcached?.close();
      this.wss.close();
      this.http.closeAllConnections();
      await new Promise<void>((resolve) => this.http.close(() => resolve()));
      await this.upstream.close();
    })();
    return this.closing;
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => undefined);
    // Fail closed: an unhealthy proxy takes no new clients (in-flight work finishes).
    if (!this.upstream.isHealthy || this.clients >= this.options.maxClients) {
      this.metrics.refused.inc();
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.connGuard.upgraded(socket, ws);
      this.clients++;
      this.metrics.clients.inc({ protocol: 'native' });
      ws.once('close', () => {
        this.clients--;
        this.metrics.clients.dec({ protocol: 'native' });
      });
      void new NativeSession(ws, req.socket, this.upstream, this.scans, this.options, this.metrics, this.auth?.gateFor(ws, () => this.connGuard.authenticated(socket)) ?? null);
    });
  };

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/healthz') {
      const ok = this.upstream.isHealthy;
      const body = { ok, isMapLost: this.upstream.isMapLost, epoch: this.upstream.current()?.epoch ?? null, nodes: this.upstream.laneStatus() };
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      return;
    }
    if (path === '/metrics') {
      this.metrics.lanesWarm.set(this.upstream.laneStatus().filter((s) => s.isWarm).length);
      this.metrics.text().then((text) => {
        res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
        res.end(text);
      }, (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics failed: ${err.message}\n`);
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  };
}
