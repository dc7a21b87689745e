import { EventEmitter } from 'eventemitter3';
import WebSocket from 'ws';
import { KvError } from '../shared/errors.js';
import type { ClusterMap } from '../shared/cluster-map.js';
import { MapTracker } from '../shared/map-tracker.js';
import { decodeServerMessage, encodeMapMessage, mapServiceUrl } from '../shared/map-protocol.js';
import type { MapSource, MapSourceEvents } from './map-source.js';
import { backoffDelay } from './backoff.js';

export interface ManagerMapSourceOptions {
  /** Reconnect schedule in ms, jittered. @default [50, 100, 250, 500, 1000, 2000] */
  reconnectBackoffMs: number[];
  /** Deadline for opening the subscription. @default 2000 */
  connectTimeoutMs: number;
}

export const MANAGER_MAP_SOURCE_DEFAULTS: Readonly<ManagerMapSourceOptions> = Object.freeze({
  reconnectBackoffMs: [50, 100, 250, 500, 1000, 2000],
  connectTimeoutMs: 2000,
});

interface Waiter {
  minEpoch: number;
  resolve: (m: ClusterMap) => void;
}

/**
 * The manager's live map over WebSocket: full map on subscribe, then deltas;
 * reconnects with jittered backoff and resubscribes from its rev, so only what
 * changed is sent again. Waiters for a newer epoch share one fetch.
 */
export class ManagerMapSource extends EventEmitter<MapSourceEvents> implements MapSource {
  private readonly tracker = new MapTracker();
  private readonly url: string;
  private readonly options: ManagerMapSourceOptions;
  private ws: WebSocket | null = null;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private waiters: Waiter[] = [];
  private isClosed = false;
  private isFetchPending = false;
  /** Whether the subscription is connected now. */
  isConnected = false;
  /** When the manager published the current map (ms since the epoch), if it said. */
  publishedAt: number | null = null;

  constructor(address: string, options: Partial<ManagerMapSourceOptions> = {}) {
    super();
    this.url = mapServiceUrl(address);
    this.options = { ...MANAGER_MAP_SOURCE_DEFAULTS, ...options };
    this.open();
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
    if (cur !== null && !this.isFetchPending && this.ws?.readyState === WebSocket.OPEN) {
      this.isFetchPending = true;
      this.ws.send(encodeMapMessage({ t: 'fetch' }));
    }
    return new Promise<ClusterMap>((resolve, reject) => {
      const waiter: Waiter = { minEpoch, resolve: (m) => { clearTimeout(timer); resolve(m); } };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(KvError.timeout(`no cluster map with epoch ≥ ${minEpoch} from ${this.url} before the deadline`, { isSafeToRetry: true }));
      }, Math.max(0, deadlineMs - Date.now()));
      this.waiters.push(waiter);
    });
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.ws?.terminate();
    this.ws = null;
    this.removeAllListeners();
  }

  private open(): void {
    const ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: this.options.connectTimeoutMs, maxPayload: 64 * 1024 * 1024 });
    this.ws = ws;
    ws.on('open', () => {
      this.attempt = 0;
      this.isConnected = true;
      this.emit('status', true);
      ws.send(encodeMapMessage(this.tracker.subscribeMessage()));
    });
    ws.on('message', (data: Buffer) => this.onMessage(ws, data));
    ws.on('error', (err: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    ws.on('close', () => {
      if (this.isConnected) this.emit('status', false);
      this.isConnected = false;
      this.isFetchPending = false;
      if (this.ws === ws) this.ws = null;
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.isClosed || this.reconnectTimer !== null) return;
    const wait = backoffDelay(this.options.reconnectBackoffMs, this.attempt++);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.isClosed) this.open();
    }, wait);
    this.reconnectTimer.unref();
  }

  private onMessage(ws: WebSocket, data: Buffer): void {
    const msg = decodeServerMessage(data);
    if (msg === null) {
      ws.terminate();
      return;
    }
    const result = this.tracker.accept(msg);
    if (msg.t === 'full') this.isFetchPending = false;
    if (result.kind === 'resync') {
      ws.send(encodeMapMessage({ t: 'fetch' }));
      return;
    }
    if (result.kind !== 'map') return;
    this.publishedAt = msg.t === 'full' || msg.t === 'delta' ? msg.at ?? null : null;
    this.emit('map', result.map, result.previous);
    const ready = this.waiters.filter((w) => result.map.epoch >= w.minEpoch);
    if (ready.length > 0) {
      this.waiters = this.waiters.filter((w) => result.map.epoch < w.minEpoch);
      for (const w of ready) w.resolve(result.map);
    }
  }
}
