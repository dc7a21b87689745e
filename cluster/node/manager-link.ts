import { EventEmitter } from 'eventemitter3';
import WebSocket from 'ws';
import type { ClusterMap } from '../../shared/cluster-map.js';
import { MapTracker } from '../../shared/map-tracker.js';
import { decodeServerMessage, encodeMapMessage, mapServiceUrl, type NodeLoadReport, type NodeRegistration, type ReplicationReport } from '../../shared/map-protocol.js';
import { MapAuthSession } from '../../shared/map-auth.js';
import { ErrorCode, KvError } from '../../shared/errors.js';
import type { Credentials, KeyPair } from '../../shared/auth/index.js';
import type { OwnershipLease } from './lease.js';
import { caOption, type TlsCa } from '../../shared/tls.js';
import type { HeartbeatExtras } from './dashboard-report.js';

export interface ManagerLinkOptions {
  /** Reconnect schedule in ms once every known manager was tried, jittered ±20 %. @default [50, 100, 250, 500, 1000] */
  reconnectBackoffMs: number[];
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

/**
 * A node's link to the manager tier: registers, heartbeats (each acknowledged heartbeat
 * renews the node's ownership lease), and follows the map. It knows several managers —
 * the seeds it was given and every manager the map lists — and moves to another at once
 * when its manager closes, stops acknowledging, or is no longer the leader (the leader is
 * the one that watches replication and moves, so nodes report to it).
 */
export class ManagerLink extends EventEmitter<ManagerLinkEvents> {
  readonly tracker = new MapTracker();
  private ws: WebSocket | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private reconnect: NodeJS.Timeout | null = null;
  private attempt = 0;
  private isClosed = false;
  private isRegistered = false;
  private readonly options: ManagerLinkOptions;
  private session: MapAuthSession | null = null;
  private readonly derivedKeys = new Map<string, KeyPair>();
  /** Map service URLs to try, in order: seeds, then managers learnt from the map. */
  private readonly candidates: string[];
  private index = 0;
  private url: string;
  private seq = 0;
  private readonly sentAt = new Map<number, number>();
  private lastAckSeq = 0;
  private heartbeatMs = 1000;
  private registerSentAt = 0;
  /** When a connection to each URL last failed before registering (ms, monotonic). */
  private readonly failedAt = new Map<string, number>();

  /** @param addresses one manager address, a comma list, or a list (DESIGN §4: several seeds) */
  constructor(addresses: string | readonly string[], private readonly node: NodeRegistration, options: Partial<ManagerLinkOptions> = {}) {
    super();
    const list = (typeof addresses === 'string' ? addresses.split(',') : [...addresses]).map((a) => a.trim()).filter((a) => a !== '');
    if (list.length === 0) throw KvError.invalidArgument('no manager address given');
    this.candidates = [...new Set(list.map((a) => mapServiceUrl(a)))];
    this.url = this.candidates[0]!;
    this.options = { ...MANAGER_LINK_DEFAULTS, ...options };
  }

  /** The map service this link uses (or tries) now. */
  get managerUrl(): string {
    return this.url;
  }

  start(): void {
    this.open();
  }

  close(): void {
    this.isClosed = true;
    this.stopHeartbeat();
    if (this.reconnect !== null) clearTimeout(this.reconnect);
    this.ws?.terminate();
    this.ws = null;
  }

  private open(): void {
    const ws = new WebSocket(this.url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, handshakeTimeout: 5000, ...caOption(this.options.tlsCa) });
    this.ws = ws;
    ws.on('open', () => {
      this.isRegistered = false;
      const creds = this.options.credentials;
      if (creds === null) {
        this.session = null;
        this.afterAuth(ws);
        return;
      }
      this.session = new MapAuthSession({ credentials: creds, managerKey: this.options.managerKey, derivedKeys: this.derivedKeys });
      ws.send(encodeMapMessage(this.session.hello()));
    });
    ws.on('message', (data: Buffer) => this.onMessage(ws, data));
    ws.on('error', (err: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    ws.on('close', (code: number) => {
      this.stopHeartbeat();
      if (!this.isRegistered || ws !== this.ws) this.failedAt.set(ws.url, performance.now());
      else this.failedAt.delete(ws.url);
      if (code === LEASE_EXPIRED) this.emit('maybe-failed');
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.isClosed) return;
      this.next(code === LEASE_EXPIRED ? 'lease expired' : 'connection closed', code === LEASE_EXPIRED);
    });
  }

  /**
   * Connect again: to the next known manager at once, backing off only after every one was
   * tried. `isSame` stays on this manager (it is alive and asked the node to register again).
   */
  private next(reason: string, isSame = false): void {
    const from = this.url;
    if (!isSame) {
      this.index = (this.index + 1) % this.candidates.length;
      this.url = this.candidates[this.index]!;
    }
    const isCycled = isSame || this.index === 0;
    const schedule = this.options.reconnectBackoffMs;
    const base = isCycled ? schedule[Math.min(this.attempt++, schedule.length - 1)]! : 0;
    if (from !== this.url) this.emit('manager-switch', { from, to: this.url, reason });
    this.reconnect = setTimeout(() => {
      this.reconnect = null;
      if (!this.isClosed) this.open();
    }, Math.round(base * (0.8 + 0.4 * Math.random())));
  }

  /** Leave this manager for `url` (known or not), e.g. the leader. */
  private switchTo(url: string, reason: string): void {
    let at = this.candidates.indexOf(url);
    if (at < 0) {
      this.candidates.push(url);
      at = this.candidates.length - 1;
    }
    // next() advances by one: land on `at`.
    this.index = (at - 1 + this.candidates.length) % this.candidates.length;
    const ws = this.ws;
    this.ws = null;
    this.stopHeartbeat();
    ws?.terminate();
    this.next(reason);
  }

  /**
   * Register, and subscribe only once registered: the answer says whether the manager had
   * failed this node, which must be known before the node applies any map.
   */
  private afterAuth(ws: WebSocket): void {
    this.registerSentAt = performance.now();
    ws.send(encodeMapMessage({ t: 'register', node: this.node }));
  }

  private onMessage(ws: WebSocket, data: Buffer): void {
    if (ws !== this.ws) return;
    const msg = decodeServerMessage(data);
    if (msg === null) {
      ws.terminate();
      return;
    }
    if (this.session !== null && !this.session.isAuthenticated) {
      try {
        const step = this.session.onMessage(msg);
        if (step.kind === 'send') ws.send(encodeMapMessage(step.message));
        else if (step.kind === 'done') this.afterAuth(ws);
      } catch (err) {
        this.emit('error', err as Error);
        ws.terminate();
      }
      return;
    }
    switch (msg.t) {
      case 'principals':
        this.emit('principals', msg.list);
        return;
      case 'registered': {
        if (msg.wasFailed === true) this.emit('maybe-failed');
        this.isRegistered = true;
        this.attempt = 0;
        this.heartbeatMs = msg.heartbeatMs;
        const lease = this.options.lease;
        if (lease !== null && msg.fenceAfterMs !== undefined) {
          lease.setTerms(msg.fenceAfterMs);
          // Registering refreshed the liveness lease: it renews the ownership lease too.
          if (msg.wasFailed !== true) lease.renewed(this.registerSentAt, msg.epoch ?? 0);
        }
        ws.send(encodeMapMessage(this.tracker.subscribeMessage()));
        this.startHeartbeat(ws, msg.heartbeatMs);
        this.emit('registered', { url: this.url, dht: msg.dht ?? [] });
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
        this.sendHeartbeat(ws, msg.n);
        return;
      case 'err':
        this.emit('error', new KvError(isErrorCode(msg.code) ? msg.code : ErrorCode.UNAVAILABLE, `manager ${this.url}: ${msg.message}`));
        // A registration the manager could not take is tried again on a new connection.
        if (!this.isRegistered) ws.close();
        return;
      default: {
        const result = this.tracker.accept(msg);
        if (result.kind === 'resync') ws.send(encodeMapMessage({ t: 'fetch' }));
        else if (result.kind === 'map') {
          this.learnManagers(result.map);
          this.emit('map', result.map);
          this.sendHeartbeat(ws);
        }
      }
    }
  }

  /** Remember every manager the map lists; follow the leader (listed first). */
  private learnManagers(map: ClusterMap): void {
    const managers = map.managers;
    if (managers === undefined || managers.length === 0) return;
    for (const m of managers) {
      const url = mapServiceUrl(m.address);
      if (!this.candidates.includes(url)) this.candidates.push(url);
    }
    const leader = mapServiceUrl(managers[0]!.address);
    // A leader this link could not reach lately is likely the one that just died, still
    // listed until its successor writes a map: stay where the node is registered.
    const failed = this.failedAt.get(leader);
    if (failed !== undefined && performance.now() - failed < this.options.unreachableLeaderMs) return;
    if (leader !== this.url && this.isRegistered) this.switchTo(leader, 'following the leader');
  }

  /** Heartbeat now (the replication state just changed: a backfill finished). */
  heartbeatNow(): void {
    if (this.ws !== null) this.sendHeartbeat(this.ws);
  }

  private startHeartbeat(ws: WebSocket, everyMs: number): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => this.sendHeartbeat(ws), everyMs);
    // Right away: the lease should not wait a whole period for its first renewal here.
    this.sendHeartbeat(ws);
  }

  /** @param re the manager's `report` request this heartbeat answers */
  private sendHeartbeat(ws: WebSocket, re?: number): void {
    if (ws.readyState !== WebSocket.OPEN || !this.isRegistered || ws !== this.ws) return;
    // A manager that stopped acknowledging (paused, hung, cut off from the config store)
    // cannot renew the lease: move on while there is lease left.
    const unacked = this.seq - this.lastAckSeq;
    if (unacked > this.options.missedAcksBeforeSwitch && this.sentAt.size > 0) {
      const oldest = Math.min(...this.sentAt.values());
      if (performance.now() - oldest > this.options.missedAcksBeforeSwitch * this.heartbeatMs) {
        this.sentAt.clear();
        this.lastAckSeq = this.seq;
        this.switchTo(this.candidates[(this.index + 1) % this.candidates.length]!, 'heartbeats unacknowledged');
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
    ws.send(encodeMapMessage({
      t: 'hb', id: this.node.id, rev: cur?.rev ?? 0, epoch: cur?.epoch ?? 0, seq, ...(repl === null ? {} : { repl }), ...(load === undefined ? {} : { load }), ...extras,
      ...(re === undefined ? {} : { re }),
    }));
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

const CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

function isErrorCode(code: string): code is (typeof ErrorCode)[keyof typeof ErrorCode] {
  return CODES.has(code);
}
