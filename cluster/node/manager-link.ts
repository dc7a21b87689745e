import { EventEmitter } from 'eventemitter3';
import type { ClusterMap } from '../../shared/cluster-map.js';
import { MapTracker } from '../../shared/map-tracker.js';
import { mapServiceUrl, type MapServerMessage, type NodeLoadReport, type NodeRegistration, type ReplicationReport } from '../../shared/map-protocol.js';
import { MapConnection, type MapConnectionClose } from '../../shared/map-connection.js';
import { ErrorCode, KvError, isErrorCode } from '../../shared/errors.js';
import type { Credentials, KeyPair } from '../../shared/auth/index.js';
import type { OwnershipLease } from './lease.js';
import type { TlsCa } from '../../shared/tls.js';
import type { HeartbeatExtras } from './dashboard-report.js';

export interface ManagerLinkOptions {
  /** Reconnect schedule in ms once every known manager was tried, jittered ±20 %. @default [50, 100, 250, 500, 1000] */
  reconnectBackoffMs: number[];
  /** Deadline of the WebSocket opening handshake with a manager. @default 5000 */
  connectTimeoutMs: number;
  /** An admin principal to authenticate with; null when the manager runs `--insecure`. @default null */
  credentials: Credentials | null;
  /** The manager's key (hex) to require; null trusts the key it presents. @default null */
  managerKey: string | null;
  /** Authorities trusted for a `wss://` manager's certificate; null = the system's. @default null */
  tlsCa: TlsCa | null;
  /** Replication state to send with each heartbeat; null (or a null answer) when the node does not replicate. @default null */
  report: (() => ReplicationReport | null) | null;
  /** Load figures to send with each heartbeat (for the dashboard); null sends none. @default null */
  load: (() => NodeLoadReport) | null;
  /** The ownership lease that acknowledged heartbeats renew; null = not fenced. @default null */
  lease: OwnershipLease | null;
  /** The dashboard's fields of each heartbeat (probed key sizes, node events); null sends none. @default null */
  extras: HeartbeatExtras | null;
  /**
   * Heartbeats left unacknowledged before the manager is taken for gone and the link moves
   * to another (a paused or hung manager never closes its socket). @default 3
   */
  missedAcksBeforeSwitch: number;
  /** How long a listed leader that could not be reached is not followed. @default 10000 */
  unreachableLeaderMs: number;
}

export const MANAGER_LINK_DEFAULTS: Readonly<ManagerLinkOptions> = Object.freeze({
  reconnectBackoffMs: [50, 100, 250, 500, 1000],
  connectTimeoutMs: 5000,
  credentials: null,
  managerKey: null,
  tlsCa: null,
  report: null,
  load: null,
  lease: null,
  extras: null,
  missedAcksBeforeSwitch: 3,
  unreachableLeaderMs: 10_000,
});

/** What the manager told this node when it registered. */
export interface RegisteredInfo {
  /** The manager's map service URL. */
  url: string;
  /** Peer-plane bootstrap the manager offers (empty when it offers none). */
  dht: string[];
  /**
   * The manager had declared this node failed. It registers only once it is active
   * nowhere (membership.ts): the units it was active for are someone else's now.
   */
  wasFailed: boolean;
}

export interface ManagerLinkEvents {
  map: (map: ClusterMap) => void;
  registered: (info: RegisteredInfo) => void;
  /**
   * The manager may have declared this node failed while it was away (its lease ran out,
   * or the manager says so on registration): copies it holds may be behind.
   */
  'maybe-failed': () => void;
  /** The principal list, pushed by the manager on subscribe and on every change. */
  principals: (list: unknown[]) => void;
  /** The link moved to another manager (the last one closed, went quiet, or is no longer the leader). */
  'manager-switch': (info: { from: string; to: string; reason: string }) => void;
  error: (err: Error) => void;
}

/** Close code of a manager that no longer holds this node's lease. */
const LEASE_EXPIRED = 4000;
/** Heartbeat send times kept to match acknowledgements. */
const PENDING_ACKS = 64;
/** Heartbeat period assumed until the manager names its own on registration. */
const INITIAL_HEARTBEAT_MS = 1000;

/**
 * A node's link to the manager tier: registers, heartbeats (each acknowledged heartbeat
 * renews the node's ownership lease), and follows the map. It knows several managers —
 * the seeds it was given and every manager the map lists — and moves to another at once
 * when its manager closes, stops acknowledging, or is no longer the leader (the leader is
 * the one that watches replication and moves, so nodes report to it).
 */
export class ManagerLink extends EventEmitter<ManagerLinkEvents> {
  readonly tracker = new MapTracker();
  private readonly conn: MapConnection;
  private heartbeat: NodeJS.Timeout | null = null;
  private isClosed = false;
  private isRegistered = false;
  private readonly options: ManagerLinkOptions;
  private seq = 0;
  private readonly sentAt = new Map<number, number>();
  private lastAckSeq = 0;
  private heartbeatMs = INITIAL_HEARTBEAT_MS;
  private registerSentAt = 0;
  /** When a connection to each URL last failed before registering (ms, monotonic). */
  private readonly failedAt = new Map<string, number>();

  /** @param addresses one manager address, a comma list, or a list (DESIGN §4: several seeds) */
  constructor(addresses: string | readonly string[], private readonly node: NodeRegistration, options: Partial<ManagerLinkOptions> = {}) {
    super();
    const list = (typeof addresses === 'string' ? addresses.split(',') : [...addresses]).map((a) => a.trim()).filter((a) => a !== '');
    if (list.length === 0) throw KvError.invalidArgument('no manager address given');
    this.options = { ...MANAGER_LINK_DEFAULTS, ...options };
    const { credentials, managerKey } = this.options;
    this.conn = new MapConnection(list, {
      reconnectBackoffMs: this.options.reconnectBackoffMs,
      connectTimeoutMs: this.options.connectTimeoutMs,
      tlsCa: this.options.tlsCa,
      auth: credentials === null ? null : { credentials, managerKey, derivedKeys: new Map<string, KeyPair>() },
    });
    this.conn.on('open', this.onOpen);
    this.conn.on('ready', this.onReady);
    this.conn.on('message', this.onMessage);
    this.conn.on('auth-error', this.onAuthError);
    this.conn.on('socket-error', this.onSocketError);
    this.conn.on('close', this.onClose);
  }

  /** The map service this link uses (or tries) now. */
  get managerUrl(): string {
    return this.conn.url;
  }

  start(): void {
    this.conn.start();
  }

  close(): void {
    this.isClosed = true;
    this.stopHeartbeat();
    this.conn.close();
  }

  private readonly onOpen = (): void => {
    this.isRegistered = false;
  };

  private readonly onAuthError = (err: Error): void => {
    this.emit('error', err);
  };

  private readonly onSocketError = (err: Error): void => {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  };

  private readonly onClose = ({ code, url, isCurrent }: MapConnectionClose): void => {
    this.stopHeartbeat();
    if (!this.isRegistered || !isCurrent) this.failedAt.set(url, performance.now());
    else this.failedAt.delete(url);
    if (code === LEASE_EXPIRED) this.emit('maybe-failed');
    if (!isCurrent || this.isClosed) return;
    this.moved(this.conn.reconnect(code === LEASE_EXPIRED), code === LEASE_EXPIRED ? 'lease expired' : 'connection closed');
  };

  /** Tell of a move to another manager. */
  private moved({ from, to }: { from: string; to: string }, reason: string): void {
    if (from !== to) this.emit('manager-switch', { from, to, reason });
  }

  /** Leave this manager for `url` (known or not), e.g. the leader. */
  private switchTo(url: string, reason: string): void {
    this.stopHeartbeat();
    this.moved(this.conn.switchTo(url), reason);
  }

  /**
   * Register, and subscribe only once registered: the answer says whether the manager had
   * failed this node, which must be known before the node applies any map.
   */
  private readonly onReady = (): void => {
    this.registerSentAt = performance.now();
    this.conn.send({ t: 'register', node: this.node });
  };

  private readonly onMessage = (msg: MapServerMessage): void => {
    switch (msg.t) {
      case 'principals':
        this.emit('principals', msg.list);
        return;
      case 'registered': {
        if (msg.wasFailed === true) this.emit('maybe-failed');
        this.isRegistered = true;
        this.conn.resetBackoff();
        this.heartbeatMs = msg.heartbeatMs;
        const lease = this.options.lease;
        if (lease !== null && msg.fenceAfterMs !== undefined) {
          lease.setTerms(msg.fenceAfterMs);
          // Registering refreshed the liveness lease: it renews the ownership lease too.
          if (msg.wasFailed !== true) lease.renewed(this.registerSentAt, msg.epoch ?? 0);
        }
        this.conn.send(this.tracker.subscribeMessage());
        this.startHeartbeat(msg.heartbeatMs);
        this.emit('registered', { url: this.conn.url, dht: msg.dht ?? [], wasFailed: msg.wasFailed === true });
        return;
      }
      case 'hb-ack': {
        const at = this.sentAt.get(msg.seq);
        if (at === undefined) return;
        if (msg.seq > this.lastAckSeq) this.lastAckSeq = msg.seq;
        for (const s of this.sentAt.keys()) if (s <= msg.seq) this.sentAt.delete(s);
        this.options.lease?.renewed(at, msg.epoch);
        this.options.extras?.onAck(msg.seq, msg.probe);
        return;
      }
      case 'report':
        // The leader is about to promote replicas: it wants this node's seqnos as they are now.
        this.sendHeartbeat(msg.n);
        return;
      case 'err':
        this.emit('error', new KvError(isErrorCode(msg.code) ? msg.code : ErrorCode.UNAVAILABLE, `manager ${this.conn.url}: ${msg.message}`));
        // A registration the manager could not take is tried again on a new connection.
        if (!this.isRegistered) this.conn.drop(true);
        return;
      default: {
        const result = this.tracker.accept(msg);
        if (result.kind === 'resync') this.conn.send({ t: 'fetch' });
        else if (result.kind === 'map') {
          this.learnManagers(result.map);
          this.emit('map', result.map);
          this.sendHeartbeat();
        }
      }
    }
  };

  /** Remember every manager the map lists; follow the leader (listed first). */
  private learnManagers(map: ClusterMap): void {
    const managers = map.managers;
    if (managers === undefined || managers.length === 0) return;
    this.conn.learn(map);
    const leader = mapServiceUrl(managers[0]!.address);
    // A leader this link could not reach lately is likely the one that just died, still
    // listed until its successor writes a map: stay where the node is registered.
    const failed = this.failedAt.get(leader);
    if (failed !== undefined && performance.now() - failed < this.options.unreachableLeaderMs) return;
    if (leader !== this.conn.url && this.isRegistered) this.switchTo(leader, 'following the leader');
  }

  /** Heartbeat now (the replication state just changed: a backfill finished). */
  heartbeatNow(): void {
    this.sendHeartbeat();
  }

  private startHeartbeat(everyMs: number): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(this.onHeartbeatTimer, everyMs);
    // Right away: the lease should not wait a whole period for its first renewal here.
    this.sendHeartbeat();
  }

  private readonly onHeartbeatTimer = (): void => {
    this.sendHeartbeat();
  };

  /** @param re the manager's `report` request this heartbeat answers */
  private sendHeartbeat(re?: number): void {
    if (!this.conn.isOpen || !this.isRegistered) return;
    // A manager that stopped acknowledging (paused, hung, cut off from the config store)
    // cannot renew the lease: move on while there is lease left.
    const unacked = this.seq - this.lastAckSeq;
    if (unacked > this.options.missedAcksBeforeSwitch && this.sentAt.size > 0) {
      const oldest = Math.min(...this.sentAt.values());
      if (performance.now() - oldest > this.options.missedAcksBeforeSwitch * this.heartbeatMs) {
        this.sentAt.clear();
        this.lastAckSeq = this.seq;
        this.switchTo(this.conn.nextUrl, 'heartbeats unacknowledged');
        return;
      }
    }
    const cur = this.tracker.current;
    const repl = this.options.report?.() ?? null;
    const load = this.options.load?.();
    const seq = ++this.seq;
    const extras = this.options.extras?.forHeartbeat(seq);
    this.sentAt.set(seq, performance.now());
    if (this.sentAt.size > PENDING_ACKS) this.sentAt.delete(this.sentAt.keys().next().value!);
    this.conn.send({
      t: 'hb', id: this.node.id, rev: cur?.rev ?? 0, epoch: cur?.epoch ?? 0, seq, ...(repl === null ? {} : { repl }), ...(load === undefined ? {} : { load }), ...extras,
      ...(re === undefined ? {} : { re }),
    });
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
