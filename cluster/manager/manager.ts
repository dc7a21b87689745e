import { KvError } from '../../shared/errors.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createListener } from '../../shared/tls.js';
import { METRICS_CONTENT_TYPE } from '../../shared/prom.js';
import type { Duplex } from 'node:stream';
import type { Cfg } from './cfg/cfg.js';
import { openCfg } from './cfg/open-cfg.js';
import { ClusterState } from './cluster-state.js';
import { Membership } from './membership.js';
import { MapService } from './map-service.js';
import { Leader } from './leader.js';
import { AdminApi } from './admin-api.js';
import { fenceAfterMs, managerOptions, type ManagerOptions } from './options.js';
import { ManagerMetrics } from './metrics.js';
import { ManagerAuth } from './manager-auth.js';
import { Dashboard } from './dashboard/dashboard.js';
import { NodeReports } from './dashboard/node-reports.js';
import { generateKeyPair, loadOrCreateKeyFile, toHex } from '../../shared/auth/index.js';
import { randomUUID } from 'node:crypto';
import { ManagerRegistry } from './manager-registry.js';
import { startDhtBootstrap, type DhtBootstrap } from '../peer/dht-bootstrap.js';
import { addDhtMetrics } from '../peer/dht-metrics.js';
import { EventLog } from '../../shared/event-log.js';
import { NodeEventRecorder } from './node-events.js';
import { HttpConnGuard } from '../../shared/http-conn-guard.js';
import { connLimitsOf } from '../../shared/conn-limits.js';

/**
 * A manager: keeps the map in the config store, serves it at `/map`, takes node
 * registrations and heartbeats, and — when elected — plans and publishes maps.
 */
export class Manager {
  readonly options: ManagerOptions;
  /**
   * Cluster events this manager recorded (leadership, membership, failover, epoch
   * changes, rebalance), one line each on `logWrite`; served at `GET /api/events`.
   */
  readonly events: EventLog;
  private nodeEvents: NodeEventRecorder | null = null;
  private cfg: Cfg | null = null;
  private state: ClusterState | null = null;
  private membership: Membership | null = null;
  private mapService: MapService | null = null;
  private leader: Leader | null = null;
  private admin: AdminApi | null = null;
  private dashboard: Dashboard | null = null;
  /** Followed keys' value sizes and node events, carried by heartbeats for the dashboard. */
  private readonly nodeReports: NodeReports;
  /** Authentication of `/map` and the admin API; null with `--insecure`. */
  auth: ManagerAuth | null = null;
  private readonly http: Server;
  private readonly connGuard: HttpConnGuard;
  /** `/metrics`: read from the state, map service and membership at each scrape. */
  readonly metrics: ManagerMetrics;
  private url = '';
  private closing: Promise<void> | null = null;
  /** This manager's process id in the map's manager list. */
  readonly id = randomUUID();
  private registry: ManagerRegistry | null = null;
  /** The peer-plane bootstrap this manager runs for nodes given no `--dht`; null when it names one or offers none. */
  private dhtNode: DhtBootstrap | null = null;

  constructor(options: Partial<ManagerOptions> = {}) {
    this.options = managerOptions(options);
    const o = this.options;
    this.events = new EventLog({ component: 'manager', format: o.logFormat, write: o.logWrite, capacity: o.eventCapacity });
    if (o.advertise !== null) this.events.id = o.advertise;
    this.nodeReports = new NodeReports(this.events);
    this.http = createListener(o.tls, this.onRequest, o.readTimeoutMs);
    this.http.on('upgrade', this.onUpgrade);
    this.http.on('connection', (s) => s.on('error', () => undefined));
    // Map subscribers only listen: they are pinged so that only dead ones go idle.
    this.connGuard = new HttpConnGuard(this.http, {
      ...connLimitsOf(this.options), maxConnections: this.options.maxConnections, isAuthRequired: !this.options.isInsecure,
    }, true);
    this.metrics = new ManagerMetrics({
      state: () => this.state,
      maps: () => this.mapService,
      membership: () => this.membership,
      isLeader: () => this.isLeader,
      progress: () => this.admin?.progress() ?? null,
      conn: () => this.connGuard.guard.counters,
    });
  }

  static async start(options: Partial<ManagerOptions> = {}): Promise<Manager> {
    const m = new Manager(options);
    await m.listen();
    return m;
  }

  get address(): string {
    return this.url;
  }

  get isLeader(): boolean {
    return this.leader?.isLeader === true;
  }

  /** Open the config store, load the state, listen, and join the election. */
  async listen(): Promise<string> {
    const o = this.options;
    // The manager watches from the revision it listed, so a short file history suffices
    // and keeps every (fsync'd) rewrite of the file small.
    this.cfg = await openCfg(o.cfg, { file: { historyLength: 8 } });
    this.state = new ClusterState(this.cfg);
    this.state.on('error', () => undefined);
    await this.state.start();
    this.membership = new Membership(this.cfg, this.state, o.failoverAfterMs, o.isAutoAdd);
    let publicKey: string | null = null;
    if (!o.isInsecure) {
      const keyPair = o.keyFile === null ? generateKeyPair() : loadOrCreateKeyFile(o.keyFile, 'manager');
      publicKey = toHex(keyPair.publicKey);
      this.auth = new ManagerAuth(`manager-${publicKey.slice(0, 16)}`, keyPair, this.state);
    }
    if (o.isDhtEnabled && o.dht.length === 0) {
      const dht = await startDhtBootstrap({ host: o.ip === 'localhost' ? '127.0.0.1' : o.ip });
      this.dhtNode = dht;
      addDhtMetrics(this.metrics.registry, () => dht.stats());
    }
    const ownDht = o.isDhtEnabled ? (o.dht[0] ?? this.dhtNode?.hostPort ?? null) : null;
    this.mapService = new MapService(this.membership, o.heartbeatMs, o.historySize, this.auth, {
      fenceAfterMs: fenceAfterMs(o),
      dht: () => (o.isDhtEnabled ? peerBootstrap(o.dht, ownDht, this.state!) : []),
    });
    this.mapService.connGuard = this.connGuard;
    this.mapService.reports = this.nodeReports;
    const maps = this.mapService;
    this.membership.reportRequester = (ids, ms) => maps.askReports(ids, ms);
    if (this.state.map !== null) this.mapService.publish(this.state.map);
    this.state.on('map', (map) => this.mapService!.publish(map));
    this.state.on('live-lost', (id) => this.mapService?.dropNode(id));
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(o.port, o.ip, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const addr = this.http.address() as { address: string; port: number };
    const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
    this.url = `${o.tls === null ? 'http' : 'https'}://${host}:${addr.port}`;
    this.events.id ??= this.url;
    this.registry = new ManagerRegistry(this.cfg, { id: this.id, address: o.advertise ?? this.url, publicKey, dht: ownDht, since: Date.now() }, o.leaderLeaseMs, o.retryBackoffMs);
    await this.registry.start();
    this.leader = new Leader(this.cfg, this.state, o, this.membership, o.advertise ?? this.url, this.id);
    this.leader.on('error', () => undefined);
    this.leader.events = this.events;
    this.leader.on('elected', this.onElected);
    this.leader.on('deposed', this.onDeposed);
    const leader = this.leader;
    this.nodeEvents = new NodeEventRecorder(this.state, this.events, () => leader.isLeader);
    this.leader.nodeEvents = this.nodeEvents;
    this.admin = new AdminApi(this.state, this.leader, this.membership, this.mapService, this.auth, this.cfg, {}, this.events);
    this.dashboard = this.startDashboard(this.state, this.membership, this.leader, this.admin);
    this.leader.start();
    return this.url;
  }

  /** Resolve once this manager leads, or reject at the deadline. */
  whenLeader(timeoutMs: number): Promise<void> {
    if (this.isLeader) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(KvError.timeout(`not elected within ${timeoutMs} ms`)), timeoutMs);
      this.leader!.once('elected', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The dashboard's view of this manager (see dashboard/contract.ts). */
  private startDashboard(state: ClusterState, membership: Membership, leader: Leader, admin: AdminApi): Dashboard {
    return new Dashboard({
      address: this.url,
      get map() { return state.map; },
      records: state.records,
      live: state.live,
      appliedRev: membership.appliedRev,
      replication: membership.replication,
      load: membership.load,
      get isLeader() { return leader.isLeader; },
      progress: () => admin.progress(),
      onMap: (listener) => {
        state.on('map', listener);
        return () => state.off('map', listener);
      },
      events: this.events,
      keySizes: this.nodeReports,
      auth: admin.sessions,
      connections: this.connGuard,
    }, this.options.dashboard);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.dashboard?.close();
      this.connGuard.stop();
      await this.leader?.close();
      await this.registry?.close().catch(() => undefined);
      this.nodeEvents?.close();
      this.mapService?.close();
      this.auth?.close();
      this.membership?.close();
      await this.state?.close();
      await this.cfg?.close();
      await this.dhtNode?.close();
      this.http.closeAllConnections();
      await new Promise<void>((resolve) => this.http.close(() => resolve()));
    })();
    return this.closing;
  }

  private readonly onElected = (): void => {
    const map = this.state?.map ?? null;
    this.events.record('leader-elected', { url: this.options.advertise ?? this.url, epoch: map?.epoch ?? null, rev: map?.rev ?? null });
  };

  private readonly onDeposed = (): void => {
    this.events.record('leader-deposed', { url: this.options.advertise ?? this.url });
  };

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => undefined);
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (this.dashboard?.handleUpgrade(req, socket, head) === true) return;
    if (path !== '/map' || this.mapService === null) {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    this.mapService.handleUpgrade(req, socket, head);
  };

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (this.admin !== null && this.admin.handle(req, res)) return;
    if (path === '/healthz') {
      const ok = this.state?.map !== undefined;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'starting\n');
      return;
    }
    if (path === '/metrics') {
      this.metrics.text().then((text) => {
        res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
        res.end(text);
      }, (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics failed: ${err.message}\n`);
      });
      return;
    }
    if (this.dashboard?.handle(req, res) === true) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  };
}

/** Bootstrap addresses for a node's peer plane: the named ones, else every live manager's, this one's first. */
function peerBootstrap(named: readonly string[], own: string | null, state: ClusterState): string[] {
  if (named.length > 0) return [...named];
  const out = own === null ? [] : [own];
  for (const m of state.managers.values()) if (m.dht !== null && !out.includes(m.dht)) out.push(m.dht);
  return out.slice(0, 16);
}
