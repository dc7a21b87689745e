import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ClusterMap } from '../../shared/cluster-map.js';
import { diffMaps, encodeDelta, encodeMap } from '../../shared/map-codec.js';
import { decodeClientMessage, encodeMapMessage, type MapClientMessage } from '../../shared/map-protocol.js';
import type { Membership } from './membership.js';

interface Subscriber {
  ws: WebSocket;
  rev: number;
  epoch: number;
  nodeId: string | null;
}

/** Counters for /metrics. */
export interface MapServiceCounters {
  subscribers: number;
  fullSent: number;
  deltasSent: number;
  badMessages: number;
}

/**
 * `/map`: the full map on subscribe, then a delta per change. A subscriber that comes
 * back with its rev gets only what changed since (if that rev is still in the history).
 * Nodes register and heartbeat on the same connection.
 */
export class MapService {
  readonly wss: WebSocketServer;
  readonly counters: MapServiceCounters = { subscribers: 0, fullSent: 0, deltasSent: 0, badMessages: 0 };
  private readonly subscribers = new Set<Subscriber>();
  private readonly history: ClusterMap[] = [];
  private current: ClusterMap | null = null;
  private encodedFull: Uint8Array | null = null;
  /** When the current map was published (ms since the epoch), sent along for lag metrics. */
  private publishedAt = 0;

  constructor(private readonly membership: Membership, private readonly heartbeatMs: number, private readonly historySize: number) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
    this.wss.on('connection', this.onConnection);
  }

  /** Publish a newer map to every subscriber. */
  publish(map: ClusterMap): void {
    if (this.current !== null && (map.epoch < this.current.epoch || (map.epoch === this.current.epoch && map.rev <= this.current.rev))) return;
    this.current = map;
    this.encodedFull = null;
    this.publishedAt = performance.timeOrigin + performance.now();
    this.history.push(map);
    if (this.history.length > this.historySize) this.history.shift();
    const deltas = new Map<number, Uint8Array | null>();
    for (const s of this.subscribers) this.sendUpdate(s, deltas);
  }

  handleUpgrade(req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  close(): void {
    for (const s of this.subscribers) s.ws.terminate();
    this.subscribers.clear();
    this.wss.close();
  }

  private fullMessage(): Uint8Array {
    this.encodedFull ??= encodeMapMessage({ t: 'full', map: encodeMap(this.current!), at: this.publishedAt });
    return this.encodedFull;
  }

  // Deltas are computed once per base rev per publish and shared by subscribers.
  private sendUpdate(s: Subscriber, deltas: Map<number, Uint8Array | null>): void {
    const map = this.current;
    // Only connections that subscribed get maps (a node that only registered does not).
    if (map === null || s.rev < 0 || s.ws.readyState !== s.ws.OPEN) return;
    if (s.rev === map.rev && s.epoch === map.epoch) return;
    let msg: Uint8Array | null | undefined = deltas.get(s.rev);
    if (msg === undefined) {
      const base = this.history.find((m) => m.rev === s.rev && m.epoch === s.epoch);
      const delta = base === undefined ? null : diffMaps(base, map);
      msg = delta === null ? null : encodeMapMessage({ t: 'delta', delta: encodeDelta(delta), at: this.publishedAt });
      // A delta that is not smaller than the full map is not worth applying.
      if (msg !== null && msg.length >= this.fullMessage().length) msg = null;
      deltas.set(s.rev, msg);
    }
    if (msg === null) {
      s.ws.send(this.fullMessage());
      this.counters.fullSent++;
    } else {
      s.ws.send(msg);
      this.counters.deltasSent++;
    }
    s.rev = map.rev;
    s.epoch = map.epoch;
  }

  private readonly onConnection = (ws: WebSocket): void => {
    const s: Subscriber = { ws, rev: -1, epoch: -1, nodeId: null };
    this.subscribers.add(s);
    this.counters.subscribers = this.subscribers.size;
    ws.on('error', () => undefined);
    ws.on('close', () => {
      this.subscribers.delete(s);
      this.counters.subscribers = this.subscribers.size;
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const msg = isBinary ? decodeClientMessage(data) : null;
      if (msg === null) {
        this.counters.badMessages++;
        ws.send(encodeMapMessage({ t: 'err', code: 'KV_ERR_BAD_REQUEST', message: 'malformed map-service message' }));
        ws.close(1007, 'malformed message');
        return;
      }
      this.onMessage(s, msg);
    });
  };

  private onMessage(s: Subscriber, msg: MapClientMessage): void {
    switch (msg.t) {
      case 'sub':
        s.rev = msg.rev;
        s.epoch = msg.epoch;
        this.sendUpdate(s, new Map());
        return;
      case 'fetch':
        if (this.current !== null) {
          s.ws.send(this.fullMessage());
          this.counters.fullSent++;
          s.rev = this.current.rev;
          s.epoch = this.current.epoch;
        }
        return;
      case 'register':
        s.nodeId = msg.node.id;
        this.membership.register(msg.node).then(
          () => s.ws.send(encodeMapMessage({ t: 'registered', id: msg.node.id, heartbeatMs: this.heartbeatMs })),
          (err: Error) => s.ws.send(encodeMapMessage({ t: 'err', code: 'KV_ERR_UNAVAILABLE', message: `registration failed: ${err.message}` })),
        );
        return;
      case 'hb':
        if (s.nodeId !== msg.id) return;
        void this.membership.heartbeat(msg.id, msg.rev).then((ok) => {
          if (!ok) s.ws.close(4000, 'lease expired; register again');
        });
        return;
    }
  }
}
