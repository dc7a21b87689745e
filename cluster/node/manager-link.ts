import { EventEmitter } from 'eventemitter3';
import WebSocket from 'ws';
import type { ClusterMap } from '../../shared/cluster-map.js';
import { MapTracker } from '../../shared/map-tracker.js';
import { decodeServerMessage, encodeMapMessage, mapServiceUrl, type NodeRegistration } from '../../shared/map-protocol.js';

export interface ManagerLinkOptions {
  /** Reconnect schedule in ms, jittered ±20 %. @default [50, 100, 250, 500, 1000] */
  reconnectBackoffMs: number[];
}

export interface ManagerLinkEvents {
  map: (map: ClusterMap) => void;
  registered: () => void;
  error: (err: Error) => void;
}

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

  constructor(address: string, private readonly node: NodeRegistration, options: Partial<ManagerLinkOptions> = {}) {
    super();
    this.url = mapServiceUrl(address);
    this.options = { reconnectBackoffMs: [50, 100, 250, 500, 1000], ...options };
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
      this.attempt = 0;
      this.isRegistered = false;
      ws.send(encodeMapMessage({ t: 'register', node: this.node }));
      ws.send(encodeMapMessage(this.tracker.subscribeMessage()));
    });
    ws.on('message', (data: Buffer) => this.onMessage(ws, data));
    ws.on('error', (err: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    ws.on('close', () => {
      this.stopHeartbeat();
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

  private onMessage(ws: WebSocket, data: Buffer): void {
    const msg = decodeServerMessage(data);
    if (msg === null) {
      ws.terminate();
      return;
    }
    if (msg.t === 'registered') {
      this.isRegistered = true;
      this.startHeartbeat(ws, msg.heartbeatMs);
      this.emit('registered');
      return;
    }
    if (msg.t === 'err') {
      this.emit('error', new Error(`manager: ${msg.code}: ${msg.message}`));
      return;
    }
    const result = this.tracker.accept(msg);
    if (result.kind === 'resync') ws.send(encodeMapMessage({ t: 'fetch' }));
    else if (result.kind === 'map') {
      this.emit('map', result.map);
      this.sendHeartbeat(ws);
    }
  }

  private startHeartbeat(ws: WebSocket, everyMs: number): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => this.sendHeartbeat(ws), everyMs);
  }

  private sendHeartbeat(ws: WebSocket): void {
    if (ws.readyState !== WebSocket.OPEN || !this.isRegistered) return;
    const cur = this.tracker.current;
    ws.send(encodeMapMessage({ t: 'hb', id: this.node.id, rev: cur?.rev ?? 0, epoch: cur?.epoch ?? 0 }));
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
