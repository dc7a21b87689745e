import type { TlsCa } from '../shared/tls-ca.js';
import { EventEmitter } from 'eventemitter3';
import { ErrorCode, KvError, isErrorCode, type KvErrorCode } from '../shared/errors.js';
import type { ClusterMap } from '../shared/cluster-map.js';
import { MapTracker } from '../shared/map-tracker.js';
import { parseSeedUrls, type MapServerMessage } from '../shared/map-protocol.js';
import type { MapSource, MapSourceEvents } from './map-source.js';
import type { MapAuthOptions } from '../shared/map-auth.js';
import { MapConnection, type MapConnectionClose } from '../shared/map-connection.js';

export interface ManagerMapSourceOptions {
  /** Reconnect schedule in ms, jittered. @default [50, 100, 250, 500, 1000, 2000] */
  reconnectBackoffMs: number[];
  /** Deadline for opening the subscription. @default 2000 */
  connectTimeoutMs: number;
  /** Authenticate to the manager; null when it runs `--insecure`. @default null */
  auth: MapAuthOptions | null;
  /** Authorities trusted for a `wss://` manager's certificate; null = the system's. @default null */
  tlsCa: TlsCa | null;
}

export const MANAGER_MAP_SOURCE_DEFAULTS: Readonly<ManagerMapSourceOptions> = Object.freeze({
  reconnectBackoffMs: [50, 100, 250, 500, 1000, 2000],
  connectTimeoutMs: 2000,
  auth: null,
  tlsCa: null,
});

interface Waiter {
  minEpoch: number;
  resolve: (m: ClusterMap) => void;
  reject: (err: KvError) => void;
}

/**
 * The manager's live map over WebSocket: full map on subscribe, then deltas;
 * reconnects (shared/map-connection.ts: next manager at once, jittered backoff once
 * every known one was tried) and resubscribes from its rev, so only what changed is
 * sent again. Waiters for a newer epoch share one fetch.
 */
export class ManagerMapSource extends EventEmitter<MapSourceEvents> implements MapSource {
  private readonly tracker = new MapTracker();
  private readonly conn: MapConnection;
  private readonly options: ManagerMapSourceOptions;
  private waiters: Waiter[] = [];
  private isClosed = false;
  private isFetchPending = false;
  /** The last authentication failure, reported to waiters instead of a bare timeout. */
  private authError: KvError | null = null;
  /** Why each candidate could not be reached since the last connection opened. */
  private readonly refusals = new Map<string, string>();
  /**
   * Set when, before any map arrived, every candidate refused the connection outright:
   * waiting longer cannot help, so waiters fail at once with it.
   */
  private unreachable: KvError | null = null;
  /** Principals pushed by the manager (admin principals only); null until one arrives. */
  principals: unknown[] | null = null;
  /** Whether the subscription is connected now. */
  isConnected = false;
  /** When the manager published the current map (ms since the epoch), if it said. */
  publishedAt: number | null = null;

  /**
   * @param address one manager (`ws://` or `http://` host:port), a comma list, or a list:
   *   the seeds; the managers the map lists are learnt and tried when a seed goes away
   */
  constructor(address: string | readonly string[], options: Partial<ManagerMapSourceOptions> = {}) {
    super();
    this.options = { ...MANAGER_MAP_SOURCE_DEFAULTS, ...options };
    this.conn = new MapConnection(parseSeedUrls(address), {
      reconnectBackoffMs: this.options.reconnectBackoffMs,
      connectTimeoutMs: this.options.connectTimeoutMs,
      auth: this.options.auth,
      tlsCa: this.options.tlsCa,
    });
    this.conn.on('open', this.onOpen);
    this.conn.on('ready', this.onSubscribed);
    this.conn.on('message', this.onMessage);
    this.conn.on('auth-error', this.onAuthError);
    this.conn.on('socket-error', this.onSocketError);
    this.conn.on('close', this.onClose);
    this.conn.start();
  }

  current(): ClusterMap | null {
    return this.tracker.current;
  }

  ready(deadlineMs: number): Promise<ClusterMap> {
    return this.refresh(0, deadlineMs);
  }

  refresh(minEpoch: number, deadlineMs: number): Promise<ClusterMap> {
    const cur = this.tracker.current;
    if (cur !== null && cur.epoch >= minEpoch) return Promise.resolve(cur);
    if (this.isClosed) return Promise.reject(KvError.clientClosed());
    if (cur === null && this.unreachable !== null) return Promise.reject(this.unreachable);
    if (cur !== null && !this.isFetchPending && this.conn.isOpen) {
      this.isFetchPending = true;
      this.conn.send({ t: 'fetch' });
    }
    return new Promise<ClusterMap>((resolve, reject) => {
      const waiter: Waiter = {
        minEpoch,
        resolve: (m) => { clearTimeout(timer); resolve(m); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(this.authError ?? KvError.timeout(`no cluster map with epoch ≥ ${minEpoch} from ${this.conn.url} before the deadline`, { isSafeToRetry: true }));
      }, Math.max(0, deadlineMs - Date.now()));
      this.waiters.push(waiter);
    });
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.conn.close();
    this.removeAllListeners();
  }

  private readonly onOpen = (): void => {
    this.refusals.clear();
    this.unreachable = null;
  };

  private readonly onSocketError = (err: Error, url: string): void => {
    const reason = refusalReason(err);
    if (reason !== null) this.refusals.set(url, reason);
    if (this.listenerCount('error') > 0) this.emit('error', err);
  };

  private readonly onClose = ({ isCurrent }: MapConnectionClose): void => {
    if (this.isConnected) this.emit('status', false);
    this.isConnected = false;
    this.isFetchPending = false;
    this.checkUnreachable();
    // Another manager at once; back off only once every known one was tried.
    if (isCurrent && !this.isClosed) this.conn.reconnect();
  };

  /** Fail waiters at once when no map ever arrived and every candidate refused outright. */
  private checkUnreachable(): void {
    const candidates = this.conn.knownUrls;
    if (this.tracker.current !== null || candidates.some((c) => !this.refusals.has(c))) return;
    const what = candidates.map((c) => `${c} (${this.refusals.get(c)!})`).join(', ');
    this.unreachable = KvError.unavailable(`cannot reach the cluster map service at ${what}`, { isSafeToRetry: true });
    for (const w of this.waiters) w.reject(this.unreachable);
    this.waiters = [];
  }

  private readonly onSubscribed = (): void => {
    this.conn.resetBackoff();
    this.authError = null;
    this.isConnected = true;
    this.emit('status', true);
    this.conn.send(this.tracker.subscribeMessage());
  };

  private readonly onAuthError = (err: Error): void => {
    this.authError = err instanceof KvError ? err : KvError.protocol(String(err));
    for (const w of this.waiters) w.reject(this.authError);
    this.waiters = [];
    if (this.listenerCount('error') > 0) this.emit('error', this.authError);
  };

  private readonly onMessage = (msg: MapServerMessage): void => {
    if (msg.t === 'err' && isErrorCode(msg.code) && REFUSED_CODES.has(msg.code)) {
      // Refused: waiting longer will not help, so waiters hear it now.
      this.authError = new KvError(msg.code, `manager ${this.conn.url}: ${msg.message}`);
      for (const w of this.waiters) w.reject(this.authError);
      this.waiters = [];
      if (this.listenerCount('error') > 0) this.emit('error', this.authError);
      return;
    }
    if (msg.t === 'principals') {
      this.principals = msg.list;
      this.emit('principals', msg.list);
      return;
    }
    const result = this.tracker.accept(msg);
    if (msg.t === 'full') this.isFetchPending = false;
    if (result.kind === 'resync') {
      this.conn.send({ t: 'fetch' });
      return;
    }
    if (result.kind !== 'map') return;
    this.publishedAt = msg.t === 'full' || msg.t === 'delta' ? msg.at ?? null : null;
    this.conn.learn(result.map);
    this.emit('map', result.map, result.previous);
    const ready = this.waiters.filter((w) => result.map.epoch >= w.minEpoch);
    if (ready.length > 0) {
      this.waiters = this.waiters.filter((w) => result.map.epoch < w.minEpoch);
      for (const w of ready) w.resolve(result.map);
    }
  };
}

/** Answers of the manager that waiting will not change. */
const REFUSED_CODES: ReadonlySet<KvErrorCode> = new Set([ErrorCode.AUTH_NEEDED, ErrorCode.AUTH_FAILED, ErrorCode.FORBIDDEN]);

/** Reasons a connection attempt fails at once that a retry within the deadline will not cure. */
const REFUSALS: Readonly<Record<string, string>> = Object.freeze({
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  // An untrusted certificate stays untrusted: the client needs `tls: { ca }` (or the right CA).
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate not trusted: signed by a CA not given in tls.ca',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'TLS certificate not trusted: signed by a CA not given in tls.ca',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS certificate not trusted: self-signed CA not given in tls.ca',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS certificate not trusted: self-signed certificate',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate is for another host',
});

function refusalReason(err: Error): string | null {
  const code = (err as NodeJS.ErrnoException).code;
  return code !== undefined && Object.hasOwn(REFUSALS, code) ? REFUSALS[code]! : null;
}
