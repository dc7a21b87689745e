import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ClusterMap } from '../../shared/cluster-map.js';
import { diffMaps, encodeDelta, encodeMap } from '../../shared/map-codec.js';
import { decodeClientMessage, encodeMapMessage, type MapClientMessage } from '../../shared/map-protocol.js';
import type { Membership } from './membership.js';
import { authFailureLine, encodePrincipal, hasRole, type AuthServer, type Role } from '../../shared/auth/index.js';
import type { ManagerAuth } from './manager-auth.js';
import { Op } from '../../shared/protocol/ops.js';
import { ErrorCode, KvError } from '../../shared/errors.js';

function errorCodeOf(err: Error): string {
  return err instanceof KvError ? err.code : ErrorCode.UNAVAILABLE;
}
import type { HttpConnGuard } from '../../shared/http-conn-guard.js';
import type { NodeReportSink } from './dashboard/node-reports.js';

interface Subscriber {
  ws: WebSocket;
  rev: number;
  epoch: number;
  nodeId: string | null;
  /** This connection's handshake; null when the manager runs `--insecure`. */
  auth: AuthServer | null;
  remote: string;
}

// Without a connection guard (which has its own pre-auth deadline), a connection that
// does not authenticate in this long is dropped.
const AUTH_DEADLINE_MS = 30_000;

/** What a registering node is told besides its heartbeat period. */
export interface NodeTerms {
  /** How long a node may serve after sending a heartbeat this manager acknowledged. */
  fenceAfterMs: number;
  /** Peer-plane bootstrap for nodes given no `--dht`. */
  dht: () => string[];
}

/** Counters for /metrics. */
export interface MapServiceCounters {
  subscribers: number;
  fullSent: number;
  deltasSent: number;
  badMessages: number;
  authFailures: number;
}

/**
 * `/map`: the full map on subscribe, then a delta per change. A subscriber that comes
 * back with its rev gets only what changed since (if that rev is still in the history).
 * Nodes register and heartbeat on the same connection.
 */
export class MapService {
  readonly wss: WebSocketServer;
  readonly counters: MapServiceCounters = { subscribers: 0, fullSent: 0, deltasSent: 0, badMessages: 0, authFailures: 0 };
  private readonly subscribers = new Set<Subscriber>();
  /** Number of the last `report` request sent, and who waits for the answers to each. */
  private reportRequests = 0;
  private readonly reportWaiters = new Map<number, (nodeId: string) => void>();
  private readonly history: ClusterMap[] = [];
  private current: ClusterMap | null = null;
  private encodedFull: Uint8Array | null = null;
  /** When the current map was published (ms since the epoch), sent along for lag metrics. */
  private publishedAt = 0;
  /** The listener's connection limits: told of upgrades and authentications. */
  connGuard: HttpConnGuard | null = null;
  /** The dashboard's probes and relayed node events, carried by heartbeats and their acks. */
  reports: NodeReportSink | null = null;

  constructor(
    private readonly membership: Membership,
    private readonly heartbeatMs: number,
    private readonly historySize: number,
    private readonly auth: ManagerAuth | null = null,
    private readonly terms: NodeTerms = { fenceAfterMs: 0, dht: () => [] },
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
    this.wss.on('connection', this.onConnection);
    auth?.on('change', this.onPrincipalsChanged);
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

  /**
   * A node's liveness lease ran out: close its connection (it must register again, and is
   * told so), so no map published after this point reaches it on a session the manager
   * has already given up on.
   */
  dropNode(id: string): void {
    for (const s of this.subscribers) {
      if (s.nodeId === id && s.ws.readyState === s.ws.OPEN) s.ws.close(4000, 'lease expired; register again');
    }
  }

  /**
   * Ask the nodes `ids` connected here for a heartbeat made now, and wait until each has
   * answered or `ms` passed. Their replication reports (seqnos) are then as of after the
   * request: what promotion needs once a failed node has fenced itself.
   * @returns the nodes that answered
   */
  askReports(ids: readonly string[], ms: number): Promise<Set<string>> {
    const n = ++this.reportRequests;
    const waiting = new Set<string>();
    for (const s of this.subscribers) {
      if (s.nodeId === null || !ids.includes(s.nodeId) || s.ws.readyState !== s.ws.OPEN) continue;
      s.ws.send(encodeMapMessage({ t: 'report', n }));
      waiting.add(s.nodeId);
    }
    const answered = new Set<string>();
    if (waiting.size === 0) return Promise.resolve(answered);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.reportWaiters.delete(n);
        resolve(answered);
      };
      const timer = setTimeout(done, ms);
      this.reportWaiters.set(n, (id) => {
        if (!waiting.has(id)) return;
        answered.add(id);
        if (answered.size === waiting.size) done();
      });
    });
  }

  handleUpgrade(req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  close(): void {
    this.auth?.off('change', this.onPrincipalsChanged);
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

  private readonly onConnection = (ws: WebSocket, req: IncomingMessage): void => {
    const s: Subscriber = { ws, rev: -1, epoch: -1, nodeId: null, auth: this.auth?.newServer() ?? null, remote: req.socket.remoteAddress ?? '?' };
    this.subscribers.add(s);
    this.counters.subscribers = this.subscribers.size;
    this.connGuard?.upgraded(req.socket, ws);
    const authTimer = s.auth === null || this.connGuard !== null ? null : setTimeout(() => {
      if (!s.auth!.isAuthenticated) ws.close(4001, 'not authenticated in time');
    }, AUTH_DEADLINE_MS);
    authTimer?.unref();
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (authTimer !== null) clearTimeout(authTimer);
      s.auth?.close();
      this.subscribers.delete(s);
      this.counters.subscribers = this.subscribers.size;
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const msg = isBinary ? decodeClientMessage(data) : null;
      if (msg === null) {
        this.counters.badMessages++;
        ws.send(encodeMapMessage({ t: 'err', code: ErrorCode.BAD_REQUEST, message: 'malformed map-service message' }));
        ws.close(1007, 'malformed message');
        return;
      }
      this.onMessage(s, msg);
      if (s.auth?.isAuthenticated === true && this.connGuard !== null) this.connGuard.authenticated(req.socket);
    });
  };

  /** May this connection do `msg`? Answers the refusal itself; true when allowed. */
  private isAllowed(s: Subscriber, msg: MapClientMessage): boolean {
    if (s.auth === null) return true;
    if (msg.t === 'hello' || msg.t === 'auth') return true;
    if (!s.auth.isAuthenticated) {
      this.sendError(s, ErrorCode.AUTH_NEEDED, 'authenticate first: send hello');
      return false;
    }
    const p = s.auth.principal;
    if (p === null) {
      // Removed or re-keyed since it authenticated.
      s.ws.close(4001, 'principal changed');
      return false;
    }
    const needs: Role = msg.t === 'register' || msg.t === 'hb' ? 'admin' : 'read';
    if (!hasRole(p.roles, needs) && !(needs === 'read' && (hasRole(p.roles, 'write') || hasRole(p.roles, 'scan')))) {
      this.sendError(s, ErrorCode.FORBIDDEN, `principal lacks the ${needs} role`);
      return false;
    }
    return true;
  }

  private sendError(s: Subscriber, code: string, message: string): void {
    if (s.ws.readyState === s.ws.OPEN) s.ws.send(encodeMapMessage({ t: 'err', code, message }));
  }

  private handshake(s: Subscriber, msg: MapClientMessage & { t: 'hello' | 'auth' }): void {
    const auth = s.auth;
    if (auth === null) {
      this.sendError(s, ErrorCode.BAD_REQUEST, 'this manager runs --insecure: no authentication');
      return;
    }
    if (msg.t === 'hello') {
      try {
        const c = auth.challenge(msg.principal ?? undefined);
        s.ws.send(encodeMapMessage({ t: 'challenge', challenge: { ...c } }));
      } catch {
        s.ws.close(4003, 'too many failed attempts');
      }
      return;
    }
    const r = auth.respond(msg.auth);
    if (r.ok) {
      s.ws.send(encodeMapMessage({ t: 'authed', serverSignature: r.serverSignature, serverPublicKey: r.serverPublicKey, roles: [...r.principal.roles] }));
      return;
    }
    this.counters.authFailures++;
    this.auth!.log(authFailureLine('pandakv manager /map', s.remote, msg.auth.principal, r.reason));
    this.sendError(s, r.error.code, r.error.message);
    if (r.isLocked) s.ws.close(4003, 'too many failed attempts');
  }

  private sendPrincipals(s: Subscriber): void {
    if (this.auth === null || s.ws.readyState !== s.ws.OPEN) return;
    const p = s.auth?.principal;
    if (p === null || p === undefined || !hasRole(p.roles, 'admin')) return;
    s.ws.send(encodeMapMessage({ t: 'principals', list: this.auth.list().map((x) => ({ ...encodePrincipal(x) })) }));
  }

  // A subscriber whose principal was removed or re-keyed loses the map at once, even if it only listens.
  private readonly onPrincipalsChanged = (): void => {
    for (const s of this.subscribers) {
      if (s.auth !== null && s.auth.isAuthenticated && s.auth.authorize(Op.STATS).ok === false && !s.auth.isAuthenticated) {
        s.ws.close(4001, 'principal changed');
        continue;
      }
      if (s.rev >= 0) this.sendPrincipals(s);
    }
  };

  private onMessage(s: Subscriber, msg: MapClientMessage): void {
    if (!this.isAllowed(s, msg)) return;
    switch (msg.t) {
      case 'hello':
      case 'auth':
        this.handshake(s, msg);
        return;
      case 'sub':
        s.rev = msg.rev;
        s.epoch = msg.epoch;
        this.sendPrincipals(s);
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
        this.reports?.onRegister(msg.node.id);
        this.membership.register(msg.node).then(
          (wasFailed) => {
            if (s.ws.readyState !== s.ws.OPEN) return;
            const dht = this.terms.dht();
            s.ws.send(encodeMapMessage({
              t: 'registered', id: msg.node.id, heartbeatMs: this.heartbeatMs, ...(wasFailed ? { wasFailed } : {}),
              // The registration renewed the node's liveness lease: it counts as an acknowledged heartbeat at this epoch.
              epoch: this.current?.epoch ?? 0,
              ...(this.terms.fenceAfterMs > 0 ? { fenceAfterMs: this.terms.fenceAfterMs } : {}),
              ...(dht.length > 0 ? { dht } : {}),
            }));
          },
          (err: Error) => {
            if (s.ws.readyState === s.ws.OPEN) s.ws.send(encodeMapMessage({ t: 'err', code: errorCodeOf(err), message: `registration failed: ${err.message}` }));
          },
        );
        return;
      case 'hb':
        if (s.nodeId !== msg.id) return;
        const renewal = this.membership.heartbeat(msg.id, msg.rev, msg.repl, msg.load);
        // Its report is recorded as soon as the call starts: an answer to `report` is in.
        if (msg.re !== undefined) this.reportWaiters.get(msg.re)?.(msg.id);
        void renewal.then((ok) => {
          if (!ok) {
            s.ws.close(4000, 'lease expired; register again');
            return;
          }
          // Acknowledged only once the lease was renewed in the config store. The epoch is the
          // newest this manager has sent this connection: every map up to it went out first.
          this.reports?.onHeartbeat(msg.id, msg.sizes, msg.events);
          const probe = this.reports?.probe();
          if (msg.seq !== undefined && s.ws.readyState === s.ws.OPEN) {
            s.ws.send(encodeMapMessage({ t: 'hb-ack', seq: msg.seq, epoch: s.epoch < 0 ? (this.current?.epoch ?? 0) : s.epoch, ...(probe === undefined ? {} : { probe }) }));
          }
        });
        return;
    }
  }
}
