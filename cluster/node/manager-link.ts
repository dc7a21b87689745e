import { EventEmitter } from 'eventemitter3';
import WebSocket from 'ws';
import type { ClusterMap } from '../../shared/cluster-map.js';
import { MapTracker } from '../../shared/map-tracker.js';
import { decodeServerMessage, encodeMapMessage, mapServiceUrl, type NodeLoadReport, type NodeRegistration, type ReplicationReport } from '../../shared/map-protocol.js';
import { MapAuthSession } from '../../shared/map-auth.js';
import type { Credentials, KeyPair } from '../../shared/auth/index.js';

export interface ManagerLinkOptions {
  /** Reconnect schedule in ms, jittered ±20 %. @default [50, 100, 250, 500, 1000] */
  reconnectBackoffMs: number[];
  /** An admin principal to authenticate with; null when the manager runs `--insecure`. @default null */
  credentials: Credentials | null;
  /** The manager's key (hex) to require; null trusts the key it presents. @default null */
  managerKey: string | null;
  /** Replication state to send with each heartbeat; null when the node does not replicate. @default null */
  report: (() => ReplicationReport) | null;
  /** Load figures to send with each heartbeat (for the dashboard); null sends none. @default null */
  load: (() => NodeLoadReport) | null;
}

export interface ManagerLinkEvents {
  map: (map: ClusterMap) => void;
  registered: () => void;
  /**
   * The manager may have declared this node failed while it was away (its lease ran out,
   * or the manager says so on registration): copies it holds may be behind.
   */
  'maybe-failed': () => void;
  /** The principal list, pushed by the manager on subscribe and on every change. */
  principals: (list: unknown[]) => void;
  error: (err: Error) => void;
}

/** Close code of a manager that no longer holds this node's lease. */
const LEASE_EXPIRED = 4000;

/**
 * A node's link to the manager: registers, heartbeats (which keeps its liveness
 * lease), and follows the map. Reconnects with backoff and registers again.
 */
export class ManagerLink extends EventEmitter<ManagerLinkEvents> {
  readonly tracker = new MapTracker();
  private ws: WebSocket | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private reconnect: NodeJS.Timeout | null = null;
  private attempt = 0;
  private isClosed = false;
  private isRegistered = false;
  private readonly url: string;
  private readonly options: ManagerLinkOptions;
  private session: MapAuthSession | null = null;
  private readonly derivedKeys = new Map<string, KeyPair>();

  constructor(address: string, private readonly node: NodeRegistration, options: Partial<ManagerLinkOptions> = {}) {
    super();
    this.url = mapServiceUrl(address);
    this.options = { reconnectBackoffMs: [50, 100, 250, 500, 1000], credentials: null, managerKey: null, report: null, load: null, ...options };
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
    const ws = new WebSocket(this.url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    this.ws = ws;
    ws.on('open', () => {
      this.isRegistered = false;
      const creds = this.options.credentials;
      if (creds === null) {
        this.attempt = 0;
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
      if (code === LEASE_EXPIRED) this.emit('maybe-failed');
      if (this.ws === ws) this.ws = null;
      if (this.isClosed) return;
      const schedule = this.options.reconnectBackoffMs;
      const base = schedule[Math.min(this.attempt++, schedule.length - 1)]!;
      this.reconnect = setTimeout(() => {
        this.reconnect = null;
        if (!this.isClosed) this.open();
      }, Math.round(base * (0.8 + 0.4 * Math.random())));
    });
  }

  /**
   * Register, and subscribe only once registered: the answer says whether the manager had
   * failed this node, which must be known before the node applies any map.
   */
  private afterAuth(ws: WebSocket): void {
    ws.send(encodeMapMessage({ t: 'register', node: this.node }));
  }

  private onMessage(ws: WebSocket, data: Buffer): void {
    const msg = decodeServerMessage(data);
    if (msg === null) {
      ws.terminate();
      return;
    }
    if (this.session !== null && !this.session.isAuthenticated) {
      try {
        const step = this.session.onMessage(msg);
        if (step.kind === 'send') ws.send(encodeMapMessage(step.message));
        else if (step.kind === 'done') {
          this.attempt = 0;
          this.afterAuth(ws);
        }
      } catch (err) {
        this.emit('error', err as Error);
        ws.terminate();
      }
      return;
    }
    if (msg.t === 'principals') {
      this.emit('principals', msg.list);
      return;
    }
    if (msg.t === 'registered') {
      if (msg.wasFailed === true) this.emit('maybe-failed');
      this.isRegistered = true;
      ws.send(encodeMapMessage(this.tracker.subscribeMessage()));
      this.startHeartbeat(ws, msg.heartbeatMs);
      this.emit('registered');
      return;
    }
    if (msg.t === 'err') {
      this.emit('error', new Error(`manager: ${msg.code}: ${msg.message}`));
      // A registration the manager could not take is tried again on a new connection.
      if (!this.isRegistered) ws.close();
      return;
    }
    const result = this.tracker.accept(msg);
    if (result.kind === 'resync') ws.send(encodeMapMessage({ t: 'fetch' }));
    else if (result.kind === 'map') {
      this.emit('map', result.map);
      this.sendHeartbeat(ws);
    }
  }

  /** Heartbeat now (the replication state just changed: a backfill finished). */
  heartbeatNow(): void {
    if (this.ws !== null) this.sendHeartbeat(this.ws);
  }

  private startHeartbeat(ws: WebSocket, everyMs: number): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => this.sendHeartbeat(ws), everyMs);
  }

  private sendHeartbeat(ws: WebSocket): void {
    if (ws.readyState !== WebSocket.OPEN || !this.isRegistered) return;
    const cur = this.tracker.current;
    const repl = this.options.report?.();
    const load = this.options.load?.();
    ws.send(encodeMapMessage({
      t: 'hb', id: this.node.id, rev: cur?.rev ?? 0, epoch: cur?.epoch ?? 0, ...(repl === undefined ? {} : { repl }), ...(load === undefined ? {} : { load }),
    }));
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
