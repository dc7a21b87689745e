import type { IncomingMessage, ServerResponse } from 'node:http';
import { KvError } from '../../shared/errors.js';
import { activeRanges } from '../../shared/cluster-map.js';
import type { ClusterState } from './cluster-state.js';
import type { Leader, OpResult } from './leader.js';
import type { Membership } from './membership.js';
import type { MapService } from './map-service.js';

const MAX_BODY_BYTES = 64 * 1024;

/** HTTP status for each error code the admin API answers with. */
const HTTP_STATUS: Readonly<Record<string, number>> = {
  KV_ERR_NOT_FOUND: 404,
  KV_ERR_BAD_REQUEST: 400,
  KV_ERR_INVALID_ARGUMENT: 400,
  KV_ERR_TOO_LARGE: 413,
  KV_ERR_UNAVAILABLE: 503,
};

/**
 * The admin JSON API used by `pandakv cluster` and the dashboard. Reads work on every
 * manager; changes go to the leader (a follower answers 503 with the leader's address).
 */
export class AdminApi {
  constructor(
    private readonly state: ClusterState,
    private readonly leader: Leader,
    private readonly membership: Membership,
    private readonly mapService: MapService,
  ) {}

  /** Handle a request; false when the path is not the API's. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = `${req.method ?? 'GET'} ${url.pathname}`;
    const op = this.route(route);
    if (op === null) return false;
    void readJson(req).then(op).then(
      (body) => send(res, 200, body),
      (err: unknown) => {
        const kv = err instanceof KvError ? err : KvError.internal(err instanceof Error ? err.message : String(err));
        const extra = kv.code === 'KV_ERR_UNAVAILABLE' && !this.leader.isLeader ? { leader: this.leaderUrl() } : {};
        send(res, HTTP_STATUS[kv.code] ?? 500, { error: { code: kv.code, message: kv.message }, ...extra });
      },
    );
    return true;
  }

  private route(route: string): ((body: Record<string, unknown>) => Promise<unknown>) | null {
    switch (route) {
      case 'GET /api/status': return async () => this.status();
      case 'GET /api/rebalance': return async () => this.progress();
      case 'POST /api/rebalance': return () => this.leader.rebalance().then((r) => this.withProgress(r));
      case 'POST /api/rebalance/stop': return async () => ({ stopped: true, ...this.progress() });
      case 'POST /api/nodes/add': return (b) => this.leader.addNode(nodeRef(b)).then((r) => this.withProgress(r));
      case 'POST /api/nodes/remove': return (b) => this.leader.removeNode(nodeRef(b)).then((r) => this.withProgress(r));
      case 'POST /api/nodes/failover': return (b) => this.leader.failover(nodeRef(b)).then((r) => this.withProgress(r));
      case 'POST /api/split': return () => this.leader.split().then((r) => this.withProgress(r));
      case 'POST /api/settings': return (b) => {
        const r = b.redundancy;
        if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > 8) throw KvError.badRequest('redundancy must be an integer 1..8');
        return this.leader.setRedundancy(r).then((x) => this.withProgress(x));
      };
      default: return null;
    }
  }

  private leaderUrl(): string | null {
    return this.leader.leadership?.value ?? null;
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
      subscribers: this.mapService.counters.subscribers,
      nodes,
    };
  }

  /** How many active nodes have applied the current map. */
  progress(): { rev: number; applied: number; total: number; isDone: boolean } {
    const map = this.state.map;
    if (map === null) return { rev: 0, applied: 0, total: 0, isDone: true };
    const active = map.nodes.filter((n) => n.state === 'active' && this.state.live.has(n.id));
    const applied = active.filter((n) => (this.membership.appliedRev.get(n.id) ?? -1) >= map.rev).length;
    return { rev: map.rev, applied, total: active.length, isDone: applied === active.length };
  }

  private withProgress(r: OpResult): Record<string, unknown> {
    return { ...r, progress: this.progress() };
  }
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

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}
