import { KvError } from './errors.js';
import { EventEmitter } from 'eventemitter3';
import WebSocket from 'ws';
import { backoffDelay } from './backoff.js';
import type { ClusterMap } from './cluster-map.js';
import { MapAuthSession, type MapAuthOptions } from './map-auth.js';
import { decodeServerMessage, encodeMapMessage, mapServiceUrl, type MapClientMessage, type MapServerMessage } from './map-protocol.js';
import { caOption, type TlsCa } from './tls-ca.js';

/** Options of a `MapConnection`. */
export interface MapConnectionOptions {
  /** Reconnect schedule in ms once every known manager was tried, jittered ±20 %. @default [50, 100, 250, 500, 1000] */
  reconnectBackoffMs: number[];
  /** Deadline of the WebSocket opening handshake. @default 5000 */
  connectTimeoutMs: number;
  /** Largest message taken from the map service (a full map of a large cluster). @default 67108864 */
  maxMessageBytes: number;
  /** Authenticate to the manager (map-auth.ts); null when it runs `--insecure`. @default null */
  auth: MapAuthOptions | null;
  /** Authorities trusted for a `wss://` manager's certificate; null = the system's. @default null */
  tlsCa: TlsCa | null;
}

export const MAP_CONNECTION_DEFAULTS: Readonly<MapConnectionOptions> = Object.freeze({
  reconnectBackoffMs: [50, 100, 250, 500, 1000],
  connectTimeoutMs: 5000,
  maxMessageBytes: 64 * 1024 * 1024,
  auth: null,
  tlsCa: null,
});

/** Where a connection closed, and whether it was the current one. */
export interface MapConnectionClose {
  /** WebSocket close code. */
  code: number;
  /** The map service URL that connection went to. */
  url: string;
  /** False for a connection already left (`switchTo`); only the current one calls for a reconnect. */
  isCurrent: boolean;
}

export interface MapConnectionEvents {
  /** A connection opened (before authentication). */
  open: (url: string) => void;
  /** Connected and authenticated (at once with `auth: null`): the owner subscribes or registers now. */
  ready: (url: string) => void;
  /** A message from the map service after authentication. */
  message: (msg: MapServerMessage) => void;
  /** The authentication handshake failed; the connection is dropped. */
  'auth-error': (err: Error) => void;
  /** A socket error (the close follows). */
  'socket-error': (err: Error, url: string) => void;
  /** A connection closed: the owner decides where to go next (`reconnect`, `switchTo`). */
  close: (info: MapConnectionClose) => void;
}

/**
 * A reconnecting connection to the manager tier's map service, shared by the SDK's map
 * source and a data node's manager link: the managers to try (the seeds, then every
 * manager a map lists), the authentication handshake on each connection, and moving on
 * to the next manager at once, backing off only once every known one was tried. What to
 * send once ready (subscribe, register) and when to move is the owner's.
 */
export class MapConnection extends EventEmitter<MapConnectionEvents> {
  /** Map service URLs to try, in order: seeds, then managers learnt from the map. */
  private readonly candidates: string[];
  private index = 0;
  private current: string;
  private ws: WebSocket | null = null;
  private session: MapAuthSession | null = null;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private isClosed = false;
  private readonly options: MapConnectionOptions;

  /** @param seeds map service URLs or manager addresses, at least one */
  constructor(seeds: readonly string[], options: Partial<MapConnectionOptions> = {}) {
    super();
    this.candidates = [...new Set(seeds.map((a) => mapServiceUrl(a)))];
    this.current = this.candidates[0]!;
    this.options = { ...MAP_CONNECTION_DEFAULTS, ...options };
  }

  /** The map service used (or tried) now. */
  get url(): string {
    return this.current;
  }

  /** True while the current connection is open (authenticated or not). */
  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Every map service known: the seeds, then the managers learnt. */
  get knownUrls(): readonly string[] {
    return this.candidates;
  }

  /** The candidate after the current one. */
  get nextUrl(): string {
    return this.candidates[(this.index + 1) % this.candidates.length]!;
  }

  start(): void {
    if (!this.isClosed && this.ws === null && this.timer === null) this.open();
  }

  /** Send on the current connection; false when it is not open. */
  send(msg: MapClientMessage): boolean {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(encodeMapMessage(msg));
    return true;
  }

  /** Drop the current connection, with a closing handshake when `isGraceful` (its close event follows, with `isCurrent`). */
  drop(isGraceful = false): void {
    if (isGraceful) this.ws?.close();
    else this.ws?.terminate();
  }

  /** Remember every manager `map` lists. */
  learn(map: ClusterMap): void {
    for (const m of map.managers ?? []) {
      const url = mapServiceUrl(m.address);
      if (!this.candidates.includes(url)) this.candidates.push(url);
    }
  }

  /** A connection served: the next full round of failures starts the backoff over. */
  resetBackoff(): void {
    this.attempt = 0;
  }

  /**
   * Connect again after the current connection closed: to the next known manager at once,
   * backing off only after every one was tried. `isSame` stays on this manager, with backoff.
   * @returns the URLs left and gone to
   */
  reconnect(isSame = false): { from: string; to: string } {
    const from = this.current;
    if (!isSame) {
      this.index = (this.index + 1) % this.candidates.length;
      this.current = this.candidates[this.index]!;
    }
    const isCycled = isSame || this.index === 0;
    this.schedule(isCycled ? backoffDelay(this.options.reconnectBackoffMs, this.attempt++) : 0);
    return { from, to: this.current };
  }

  /** Leave the current connection for `url` (known or not), e.g. the leader. */
  switchTo(url: string): { from: string; to: string } {
    let at = this.candidates.indexOf(url);
    if (at < 0) {
      this.candidates.push(url);
      at = this.candidates.length - 1;
    }
    // reconnect() advances by one: land on `at`.
    this.index = (at - 1 + this.candidates.length) % this.candidates.length;
    const ws = this.ws;
    this.ws = null;
    ws?.terminate();
    return this.reconnect();
  }

  /** Close for good: no reconnect, every timer cleared. Idempotent. */
  close(): void {
    this.isClosed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.ws?.terminate();
    this.ws = null;
  }

  private schedule(waitMs: number): void {
    if (this.isClosed || this.timer !== null) return;
    this.timer = setTimeout(this.onReconnectTimer, waitMs);
    this.timer.unref();
  }

  private readonly onReconnectTimer = (): void => {
    this.timer = null;
    if (!this.isClosed) this.open();
  };

  private open(): void {
    const url = this.current;
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: this.options.maxMessageBytes, handshakeTimeout: this.options.connectTimeoutMs, ...caOption(this.options.tlsCa) });
    this.ws = ws;
    ws.on('open', () => {
      if (ws !== this.ws) return;
      this.emit('open', url);
      const auth = this.options.auth;
      if (auth === null) {
        this.session = null;
        this.emit('ready', url);
        return;
      }
      this.session = new MapAuthSession(auth);
      ws.send(encodeMapMessage(this.session.hello()));
    });
    ws.on('message', (data: Buffer) => this.onMessage(ws, url, data));
    ws.on('error', (err: Error) => this.emit('socket-error', err, url));
    ws.on('close', (code: number) => {
      const isCurrent = ws === this.ws;
      if (isCurrent) this.ws = null;
      this.emit('close', { code, url, isCurrent: isCurrent && !this.isClosed });
    });
  }

  private onMessage(ws: WebSocket, url: string, data: Buffer): void {
    if (ws !== this.ws) return;
    const msg = decodeServerMessage(data);
    if (msg === null) {
      ws.terminate();
      return;
    }
    const session = this.session;
    if (session !== null && !session.isAuthenticated) {
      try {
        const step = session.onMessage(msg);
        if (step.kind === 'send') ws.send(encodeMapMessage(step.message));
        else if (step.kind === 'done') this.emit('ready', url);
      } catch (err) {
        this.emit('auth-error', err instanceof Error ? err : KvError.protocol(String(err)));
        ws.terminate();
      }
      return;
    }
    this.emit('message', msg);
  }
}
