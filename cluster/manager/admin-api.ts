import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, KvError } from '../../shared/errors.js';
import { activeRanges } from '../../shared/cluster-map.js';
import type { ClusterState } from './cluster-state.js';
import type { Leader, OpResult } from './leader.js';
import type { Membership } from './membership.js';
import type { MapService } from './map-service.js';
import type { ManagerAuth } from './manager-auth.js';
import type { Cfg } from './cfg/cfg.js';
import { CfgKeys } from './keys.js';
import { AdminSessions, type AdminAuthOptions } from './admin-auth.js';
import { EventLog, type ClusterEvent } from '../../shared/event-log.js';

const MAX_BODY_BYTES = 64 * 1024;

/** HTTP status for each error code the admin API answers with. */
const HTTP_STATUS: Readonly<Record<string, number>> = {
  KV_ERR_NOT_FOUND: 404,
  KV_ERR_BAD_REQUEST: 400,
  KV_ERR_INVALID_ARGUMENT: 400,
  KV_ERR_TOO_LARGE: 413,
  KV_ERR_UNAVAILABLE: 503,
  KV_ERR_AUTH_NEEDED: 401,
  KV_ERR_AUTH_FAILED: 401,
  KV_ERR_FORBIDDEN: 403,
  KV_ERR_BUSY: 429,
};

/** The two routes a caller may use before it has a token. */
const AUTH_ROUTES: ReadonlySet<string> = new Set(['POST /api/auth/challenge', 'POST /api/auth']);

type Op = (body: Record<string, unknown>) => Promise<unknown>;

/**
 * The admin JSON API used by `pandakv cluster` and the dashboard. Reads work on every
 * manager; changes go to the leader (a follower answers 503 with the leader's address).
 * With `auth` (a secure manager) every route but the two of the handshake needs a bearer
 * token of an admin principal (see admin-auth.ts); without it (`--insecure`) anyone who
 * can reach the port may use it.
 */
export class AdminApi {
  /** Bearer tokens of the admin API (null on an `--insecure` manager); the dashboard checks its own with them. */
  readonly sessions: AdminSessions | null;

  constructor(
    private readonly state: ClusterState,
    private readonly leader: Leader,
    private readonly membership: Membership,
    private readonly mapService: MapService,
    auth: ManagerAuth | null = null,
    /** To name the leader to a caller that reached a follower. */
    private readonly cfg: Cfg | null = null,
    authOptions: Partial<AdminAuthOptions> = {},
    /** Served at `GET /api/events`. */
    private readonly events: EventLog = new EventLog({ component: 'manager', write: () => undefined }),
  ) {
    this.sessions = auth === null ? null : new AdminSessions(auth, authOptions);
  }

  /** Handle a request; false when the path is not the API's. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = `${req.method ?? 'GET'} ${url.pathname}`;
    const remote = req.socket.remoteAddress ?? '?';
    const op = this.route(route, remote, url.searchParams);
    if (op === null) return false;
    // The token is checked before the body is read, so a caller without one cannot make
    // the manager buffer a body.
    const run = async (): Promise<unknown> => {
      // Reads are open to monitors as well; every change needs an admin.
      if (this.sessions !== null && !AUTH_ROUTES.has(route)) this.sessions.authorize(req.headers.authorization, req.method === 'GET' ? 'monitor' : 'admin');
      return op(await readJson(req));
    };
    run().then(
      (body) => send(res, 200, body),
      (err: unknown) => this.sendError(res, route, err),
    ).catch(() => undefined);
    return true;
  }

  private async sendError(res: ServerResponse, route: string, err: unknown): Promise<void> {
    const kv = err instanceof KvError ? err : KvError.internal(err instanceof Error ? err.message : String(err));
    const status = HTTP_STATUS[kv.code] ?? 500;
    const extra: Record<string, unknown> = {};
    const headers: Record<string, string> = {};
    if (kv.code === ErrorCode.UNAVAILABLE && !this.leader.isLeader) extra.leader = await this.leaderUrl();
    if (this.sessions === null && AUTH_ROUTES.has(route)) extra.isInsecure = true;
    if (status === 401) headers['www-authenticate'] = 'Bearer realm="pandakv-admin"';
    if (kv.code === ErrorCode.BUSY && kv.details.retryAfterMs !== undefined) {
      extra.retryAfterMs = kv.details.retryAfterMs;
      headers['retry-after'] = String(Math.ceil(kv.details.retryAfterMs / 1000));
    }
    send(res, status, { error: { code: kv.code, message: kv.message }, ...extra }, headers);
  }

  private route(route: string, remote: string, query: URLSearchParams): Op | null {
    switch (route) {
      case 'POST /api/auth/challenge': return async (b) => this.requireSessions().challenge(b, remote);
      case 'POST /api/auth': return async (b) => this.requireSessions().login(b, remote);
      case 'GET /api/status': return async () => this.status();
      case 'GET /api/rebalance': return async () => this.progress();
      case 'POST /api/rebalance': return () => this.leader.rebalance().then((r) => this.withProgress(r));
      case 'POST /api/rebalance/stop': return () => this.leader.stopMoves().then((r) => ({ stopped: true, ...r, ...this.progress() }));
      case 'GET /api/events': return async () => this.recentEvents(query);
      case 'POST /api/nodes/add': return (b) => this.leader.addNode(nodeRef(b)).then((r) => this.withProgress(r));
      case 'POST /api/nodes/remove': return (b) => this.leader.removeNode(nodeRef(b)).then((r) => this.withProgress(r));
      case 'POST /api/nodes/failover': return (b) => {
        if (b.graceful !== undefined && typeof b.graceful !== 'boolean') throw KvError.badRequest('graceful must be a boolean');
        return (b.graceful === true ? this.leader.gracefulFailover(nodeRef(b)) : this.leader.failover(nodeRef(b))).then((r) => this.withProgress(r));
      };
      case 'POST /api/split': return () => this.leader.split().then((r) => this.withProgress(r));
      case 'POST /api/settings': return (b) => {
        const r = b.redundancy;
        if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > 8) throw KvError.badRequest('redundancy must be an integer 1..8');
        return this.leader.setRedundancy(r).then((x) => this.withProgress(x));
      };
      default: return null;
    }
  }

  private requireSessions(): AdminSessions {
    if (this.sessions === null) throw KvError.badRequest('this manager runs --insecure: no authentication');
    return this.sessions;
  }

  /** The leader's address: our own while we lead, else the election's current winner. */
  private async leaderUrl(): Promise<string | null> {
    const own = this.leader.leadership?.value;
    if (own !== undefined) return own;
    return this.cfg === null ? null : this.cfg.leader(CfgKeys.election).catch(() => null);
  }

  status(): Record<string, unknown> {
    const map = this.state.map;
    const nodes = [...this.state.records.values()].map((r) => {
      const index = map?.nodes.findIndex((n) => n.id === r.id) ?? -1;
      const buckets = map === null || index < 0 ? 0 : activeRanges(map, index).reduce((sum, [a, b]) => sum + b - a, 0);
      return {
        id: r.id, address: r.address, zone: r.zone, weight: r.weight, state: r.state,
        isLive: this.state.live.has(r.id),
        appliedRev: this.membership.appliedRev.get(r.id) ?? null,
        // From this manager's heartbeats: true once the node reports replication, false when it heartbeats without.
        isReplicating: this.membership.replication.has(r.id) ? true : this.membership.heardAt.has(r.id) ? false : null,
        activeShare: map === null ? 0 : buckets / 2 ** map.bits,
      };
    });
    return {
      isLeader: this.leader.isLeader,
      map: map === null ? null : {
        epoch: map.epoch, rev: map.rev, bits: map.bits, unitBits: map.unitBits,
        runs: map.runStarts.length, chains: map.chains.length, moves: map.moves.length,
      },
      settings: this.state.settings,
      rebalance: this.rebalanceState(),
      subscribers: this.mapService.counters.subscribers,
      nodes,
    };
  }

  /**
   * `GET /api/events?limit=N&after=SEQ`: the last N events (default 100, at most what the
   * ring keeps), oldest first; with `after`, only those recorded after that seq (to poll).
   */
  recentEvents(query: URLSearchParams): { events: ClusterEvent[]; total: number } {
    const limit = queryInt(query, 'limit') ?? 100;
    const after = queryInt(query, 'after') ?? 0;
    let events = this.events.recent(limit);
    if (after > 0) events = events.filter((e) => e.seq > after);
    return { events, total: this.events.total };
  }

  /** Rebalance state for `cluster status`: running, stopped or idle, with units moved and left. */
  private rebalanceState(): Record<string, unknown> {
    const m = this.leader.moveProgress;
    // A follower has no moves of its own: the stored flag says whether the leader's are stopped.
    const isStopped = m.isStopped || (!this.leader.isLeader && this.state.settings?.isRebalanceStopped === true);
    const state = isStopped ? 'stopped' : m.isMoving ? 'running' : 'idle';
    return { state, unitsMoved: m.unitsMoved, unitsLeft: m.unitsLeft, batches: m.batches, bytesCopied: m.bytesCopied, lastWarning: m.lastWarning };
  }

  /** How many active nodes have applied the current map. */
  progress(): { rev: number; applied: number; total: number; isDone: boolean; isRestoreHeld: boolean; moves: Leader['moveProgress'] } {
    const map = this.state.map;
    const moves = { ...this.leader.moveProgress };
    const isRestoreHeld = this.leader.isRestoreHeld;
    if (map === null) return { rev: 0, applied: 0, total: 0, isDone: true, isRestoreHeld, moves };
    const active = map.nodes.filter((n) => n.state === 'active' && this.state.live.has(n.id));
    const applied = active.filter((n) => (this.membership.appliedRev.get(n.id) ?? -1) >= map.rev).length;
    // Done when every node applied the map and no data move is under way.
    return { rev: map.rev, applied, total: active.length, isDone: applied === active.length && !moves.isMoving, isRestoreHeld, moves };
  }

  private withProgress(r: OpResult): Record<string, unknown> {
    return { ...r, progress: this.progress() };
  }
}

/** A non-negative integer query parameter (at most 9 digits); undefined when absent. */
function queryInt(query: URLSearchParams, name: string): number | undefined {
  const all = query.getAll(name);
  if (all.length === 0) return undefined;
  const text = all[0]!;
  if (all.length > 1 || !/^\d{1,9}$/.test(text)) throw KvError.badRequest(`${name} must be a non-negative integer`);
  return Number(text);
}

function nodeRef(body: Record<string, unknown>): string {
  const ref = body.node;
  if (typeof ref !== 'string' || ref.length === 0 || ref.length > 256) throw KvError.badRequest('body must be {"node": "<id or address>"}');
  return ref;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (req.method === 'GET') return {};
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw KvError.tooLarge(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw KvError.badRequest('request body is not JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw KvError.badRequest('request body must be a JSON object');
  return v as Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(text);
}
