import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { ErrorCode, KvError } from '../../../shared/errors.js';
import type { FeedClientMessage, FeedEvent, FeedServerMessage } from '../ui/feed-protocol.js';
import { Assets, CONTENT_SECURITY_POLICY, DEFAULT_ASSETS_DIR, INDEX_HTML } from './assets.js';
import type { DashboardHost } from './contract.js';
import { DashboardFeed } from './feed.js';
import { dashboardOptions, type DashboardOptions } from './options.js';
import { parseFeedMessage } from './feed-message.js';

/** Close codes the page acts on: log in again, or give up. */
export const CLOSE_AUTH_NEEDED = 4001;
export const CLOSE_FORBIDDEN = 4003;
const CLOSE_POLICY = 1008;
const CLOSE_TRY_AGAIN_LATER = 1013;

interface Client {
  ws: WebSocket;
  socket: Duplex;
  isReady: boolean;
  token: string | null;
  followUnit: number | null;
  /** The followed key, as typed (null: only a unit, or nothing). */
  followKey: string | null;
  /**
   * May see the value sizes of the keys it follows: a size tells whether a key exists,
   * which is the data's, so it takes the `read` role (or `admin`), not `monitor` alone.
   */
  isSizeAllowed: boolean;
  authTimer: NodeJS.Timeout | null;
}

/**
 * The dashboard (DESIGN §13): serves the page at `/ui` (`/` redirects there) and pushes
 * the live cluster to it over `/ui/live`. On a secure manager the feed waits for a bearer
 * token of the admin API (see admin-auth.ts) of a principal with `monitor` or `admin`,
 * and checks it again on every tick, so a removed principal's page stops at once.
 * Actions go through the admin API itself, never through the feed.
 *
 * Cheap when unwatched: no timer runs while no page is connected; the map is pushed only
 * when it changes (coalesced to one per `mapThrottleMs`), events in batches as they come,
 * and the rest once per `pushIntervalMs`.
 */
export class Dashboard {
  readonly options: DashboardOptions;
  private readonly assets: Assets;
  private readonly feed: DashboardFeed;
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private tickTimer: NodeJS.Timeout | null = null;
  private mapTimer: NodeJS.Timeout | null = null;
  private lastMapAt = 0;
  private eventBatch: FeedEvent[] = [];
  private isEventFlushQueued = false;
  private readonly stopMap: () => void;
  private isClosed = false;

  constructor(private readonly host: DashboardHost, options: Partial<DashboardOptions> = {}) {
    this.options = dashboardOptions(options);
    this.assets = new Assets(this.options.assetsDir ?? DEFAULT_ASSETS_DIR);
    this.feed = new DashboardFeed(host);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.options.maxMessageBytes, perMessageDeflate: false });
    this.wss.on('error', noop);
    this.stopMap = host.onMap(this.onMap);
    host.events?.on('event', this.onEvent);
  }

  /** Pages connected now. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Serve `/`, `/ui` and the bundle; false when the path is not the dashboard's. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== '/' && path !== '/ui' && !path.startsWith('/ui/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('method not allowed\n');
      return true;
    }
    if (path === '/') {
      res.writeHead(302, { location: '/ui' });
      res.end();
      return true;
    }
    if (path === '/ui' || path === '/ui/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...securityHeaders() });
      res.end(req.method === 'HEAD' ? undefined : INDEX_HTML);
      return true;
    }
    const name = path.slice('/ui/'.length);
    const type = this.assets.typeOf(name);
    if (type === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return true;
    }
    this.assets.read(name).then((bytes) => {
      if (bytes === null) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('the dashboard bundle is not built: run npm run build\n');
        return;
      }
      res.writeHead(200, { 'content-type': type, 'content-length': bytes.length, 'cache-control': 'no-cache', ...securityHeaders() });
      res.end(req.method === 'HEAD' ? undefined : bytes);
    }, () => res.destroy());
    return true;
  }

  /** Take the feed's WebSocket upgrade; false when the path is not `/ui/live`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/ui/live') return false;
    // A page of another origin must not read the cluster through the visitor's browser.
    const origin = req.headers.origin;
    if (origin !== undefined && !isSameOrigin(origin, req.headers.host)) {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return true;
    }
    if (this.isClosed) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n');
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.host.connections?.upgraded(req.socket, ws);
      this.onConnection(ws, req.socket);
    });
    return true;
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.stopMap();
    this.host.events?.off('event', this.onEvent);
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    if (this.mapTimer !== null) clearTimeout(this.mapTimer);
    this.tickTimer = null;
    this.mapTimer = null;
    for (const c of this.clients) this.drop(c, 1001, 'manager closing');
    this.wss.close();
  }

  private onConnection(ws: WebSocket, socket: Duplex): void {
    ws.on('error', noop);
    if (this.clients.size >= this.options.maxClients) {
      ws.close(CLOSE_TRY_AGAIN_LATER, 'too many dashboard pages open');
      return;
    }
    const auth = this.host.auth;
    const client: Client = { ws, socket, isReady: false, token: null, followUnit: null, followKey: null, isSizeAllowed: false, authTimer: null };
    this.clients.add(client);
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(client, data, isBinary));
    ws.on('close', () => this.forget(client));
    send(ws, { t: 'hello', isSecure: auth !== null, isAuthNeeded: auth !== null, manager: this.host.address });
    if (auth === null) this.makeReady(client, null, []);
    else client.authTimer = setTimeout(() => this.drop(client, CLOSE_AUTH_NEEDED, 'no token in time'), this.options.authTimeoutMs);
    this.startTicks();
  }

  private onMessage(client: Client, data: RawData, isBinary: boolean): void {
    const msg = isBinary ? null : parseFeedMessage(data.toString());
    if (msg === null) {
      this.drop(client, CLOSE_POLICY, 'malformed message');
      return;
    }
    if (msg.t === 'auth') this.onAuth(client, msg);
    else if (!client.isReady) this.drop(client, CLOSE_AUTH_NEEDED, 'send the token first');
    else {
      client.followUnit = msg.unit;
      client.followKey = client.isSizeAllowed ? (msg.key ?? null) : null;
      this.host.keySizes?.watch(client, client.followKey === null ? null : Buffer.from(client.followKey, 'utf8'));
      if (msg.unit !== null) send(client.ws, this.tick(client));
    }
  }

  private onAuth(client: Client, msg: Extract<FeedClientMessage, { t: 'auth' }>): void {
    const auth = this.host.auth;
    if (auth === null || client.isReady) return;
    try {
      const p = auth.authorizeToken(msg.token, 'monitor');
      client.token = msg.token;
      this.makeReady(client, p.name, [...p.roles]);
    } catch (err) {
      this.refuse(client, err);
    }
  }

  private refuse(client: Client, err: unknown): void {
    const kv = err instanceof KvError ? err : KvError.internal(String(err));
    send(client.ws, { t: 'err', code: kv.code, message: kv.message });
    this.drop(client, kv.code === ErrorCode.FORBIDDEN ? CLOSE_FORBIDDEN : CLOSE_AUTH_NEEDED, kv.code);
  }

  private makeReady(client: Client, principal: string | null, roles: string[]): void {
    if (client.authTimer !== null) clearTimeout(client.authTimer);
    client.authTimer = null;
    client.isReady = true;
    client.isSizeAllowed = this.host.auth === null || roles.includes('read') || roles.includes('admin');
    if (this.host.auth !== null) this.host.connections?.authenticated(client.socket);
    const ws = client.ws;
    send(ws, { t: 'ready', principal, roles });
    const map = this.host.map;
    if (map !== null) send(ws, { t: 'map', map });
    send(ws, { t: 'events', events: this.host.events?.recent(this.options.eventBacklog) ?? [], isInitial: true });
    send(ws, this.tick(client));
  }

  /** A client's tick; `shared` carries what every client of this round gets, computed once. */
  private tick(client: Client, shared = this.sharedTick()): FeedServerMessage {
    return { ...shared, follow: client.followUnit === null ? null : this.feed.follow(client.followUnit, client.followKey) };
  }

  private sharedTick(): Omit<Extract<FeedServerMessage, { t: 'tick' }>, 'follow'> {
    return { t: 'tick', at: Date.now(), isLeader: this.host.isLeader, nodes: this.feed.nodes(), rebalance: this.host.progress() };
  }

  private startTicks(): void {
    if (this.tickTimer !== null || this.options.pushIntervalMs === 0) return;
    this.tickTimer = setInterval(this.onTick, this.options.pushIntervalMs);
  }

  private readonly onTick = (): void => {
    const auth = this.host.auth;
    const shared = this.sharedTick();
    for (const c of this.clients) {
      if (!c.isReady) continue;
      if (auth !== null && c.token !== null) {
        try {
          auth.authorizeToken(c.token, 'monitor');
        } catch (err) {
          this.refuse(c, err);
          continue;
        }
      }
      if (c.ws.bufferedAmount > this.options.highWaterMarkBytes) continue;
      send(c.ws, this.tick(c, shared));
    }
  };

  // Only the latest map is sent: the flush reads it from the host.
  private readonly onMap = (): void => {
    if (this.clients.size === 0 || this.mapTimer !== null) return;
    const wait = Math.max(0, this.lastMapAt + this.options.mapThrottleMs - Date.now());
    this.mapTimer = setTimeout(this.flushMap, wait);
  };

  private readonly flushMap = (): void => {
    this.mapTimer = null;
    this.lastMapAt = Date.now();
    const map = this.host.map;
    if (map === null) return;
    const text = JSON.stringify({ t: 'map', map } satisfies FeedServerMessage);
    for (const c of this.clients) if (c.isReady) c.ws.send(text);
  };

  private readonly onEvent = (e: FeedEvent): void => {
    if (this.clients.size === 0) return;
    this.eventBatch.push(e);
    if (this.isEventFlushQueued) return;
    this.isEventFlushQueued = true;
    setImmediate(this.flushEvents);
  };

  private readonly flushEvents = (): void => {
    this.isEventFlushQueued = false;
    const events = this.eventBatch;
    this.eventBatch = [];
    if (events.length === 0) return;
    const text = JSON.stringify({ t: 'events', events, isInitial: false } satisfies FeedServerMessage);
    for (const c of this.clients) if (c.isReady) c.ws.send(text);
  };

  private drop(client: Client, code: number, reason: string): void {
    this.forget(client);
    client.ws.close(code, reason);
  }

  private forget(client: Client): void {
    if (client.authTimer !== null) clearTimeout(client.authTimer);
    client.authTimer = null;
    this.host.keySizes?.watch(client, null);
    this.clients.delete(client);
    if (this.clients.size === 0 && this.tickTimer !== null) {
      clearInterval(this.tickTimer);
      this.tickTimer = null;
    }
  }
}

function send(ws: WebSocket, msg: FeedServerMessage): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
}

function securityHeaders(): Record<string, string> {
  return { 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
}

function isSameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

function noop(): void {}
