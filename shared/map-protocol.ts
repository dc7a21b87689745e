import { KvError } from './errors.js';
import { Decoder, Encoder } from 'cbor-x';

/**
 * Messages of the map service (`ws://manager/map`), CBOR maps with a `t` tag.
 * Subscribers (SDKs, proxies) send `sub`; nodes also `register` and heartbeat (`hb`).
 */
export type MapClientMessage =
  | { t: 'sub'; rev: number; epoch: number }
  | { t: 'fetch' }
  | { t: 'register'; node: NodeRegistration }
  /** `seq` asks for an `hb-ack`: the node's ownership lease is renewed only by acks (DESIGN §4). */
  | {
    t: 'hb'; id: string; rev: number; epoch: number; seq?: number; repl?: ReplicationReport; load?: NodeLoadReport;
    /** Value sizes of the keys the last `hb-ack` probed (the dashboard's "follow a key"). */
    sizes?: KeySizeReport[];
    /** Node events for the manager's timeline (fence, unfence, rollback, hint-replay), resent until acknowledged. */
    events?: NodeEventReport[];
    /** Answers the manager's `report` request `n`: this heartbeat was made after it arrived. */
    re?: number;
  }
  /** Ask for a challenge; naming the principal gets its password salt (DESIGN §9). */
  | { t: 'hello'; principal: string | null }
  /** The AUTH message answering the last challenge (checked by the auth core). */
  | { t: 'auth'; auth: Record<string, unknown> };

export type MapServerMessage =
  | { t: 'full'; map: Uint8Array; at?: number }
  | { t: 'delta'; delta: Uint8Array; at?: number }
  /**
   * Registration done. `wasFailed`: the manager had declared this node failed, so what it
   * holds may be behind (it must verify its copies before serving them).
   */
  | {
    t: 'registered'; id: string; heartbeatMs: number; wasFailed?: boolean;
    /** The map epoch the manager holds: the registration renews the node's lease at it. */
    epoch?: number;
    /** How long the node may serve after a renewal it sent was acknowledged (the lease). */
    fenceAfterMs?: number;
    /** Peer-plane bootstrap (`host:port`) the node joins when it was given no `--dht`. */
    dht?: string[];
  }
  /**
   * The liveness lease was renewed for the heartbeat `seq`, at map `epoch`. The node may
   * serve until `fenceAfterMs` after it sent that heartbeat.
   */
  | {
    t: 'hb-ack'; seq: number; epoch: number;
    /**
     * Keys whose value size the node reports with its next heartbeats (absent: none); the
     * value itself never travels. Older nodes ignore the field.
     */
    probe?: Uint8Array[];
  }
  | { t: 'err'; code: string; message: string }
  /**
   * Send a heartbeat now, tagged `re: n`: before promoting replicas the leader needs each
   * one's seqnos as they are after the failed node fenced itself, not as last reported.
   */
  | { t: 'report'; n: number }
  /** AUTH_NEEDED: the challenge to sign (checked by the auth core). */
  | { t: 'challenge'; challenge: Record<string, unknown> }
  /** Authenticated: the manager's signature over the client nonce, its key, and the principal's roles. */
  | { t: 'authed'; serverSignature: Uint8Array; serverPublicKey: Uint8Array; roles: string[] }
  /** Every principal (public material only); sent to admin subscribers on subscribe and on change. */
  | { t: 'principals'; list: unknown[] };

/** A replicating node's state, sent with its heartbeats: what moves and failover need. */
export interface ReplicationReport {
  /** Units being backfilled now (0 = caught up on every unit it holds). */
  backfilling: number;
  /** Highest seqno per unit held, flattened `[unit, seqno, unit, seqno, …]`. */
  seqnos: number[];
  /** Key and value bytes this node has copied by backfill since it started. */
  copiedBytes?: number;
}

/**
 * A node's load, sent with its heartbeats for the dashboard (optional: older nodes send
 * none). Counters are cumulative; latencies cover the interval since the last report.
 */
export interface NodeLoadReport {
  /** Requests executed since the node started. */
  ops: number;
  /** Items held (active and replica copies). */
  items: number;
  /** Bytes of keys and values held. */
  memoryBytes: number;
  /** Median and 99th percentile of request service time over the interval, µs; 0 when idle. */
  p50Us: number;
  p99Us: number;
  /** Hints kept for replicas that were unreachable. */
  hintsPending: number;
  /** True while the node refuses requests because it cannot prove its lease. */
  isFenced?: boolean;
}

/** Most keys one heartbeat acknowledgement probes. */
export const MAX_PROBED_KEYS = 32;
/** Longest probed key, bytes (the longest key the SDK sends). */
export const MAX_PROBED_KEY_BYTES = 250;
/** Most node events one heartbeat carries. */
export const MAX_REPORTED_EVENTS = 32;
/** Most fields of one reported node event. */
export const MAX_EVENT_FIELDS = 16;

/** The value size of a probed key in this node's copy; `bytes` null: the node holds no value for it. */
export interface KeySizeReport {
  key: Uint8Array;
  bytes: number | null;
}

/**
 * A cluster event a node recorded (its event log), relayed to the manager's timeline.
 * `n` counts the node's relayed events since it started: the manager drops repeats.
 */
export interface NodeEventReport {
  n: number;
  /** When the node recorded it, ms since the epoch. */
  at: number;
  name: string;
  fields: Record<string, string | number | boolean | null>;
}

function isProbeKey(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && v.length > 0 && v.length <= MAX_PROBED_KEY_BYTES;
}

/** Valid probed keys, or null. */
function decodeProbe(v: unknown): Uint8Array[] | null {
  return Array.isArray(v) && v.length <= MAX_PROBED_KEYS && v.every(isProbeKey) ? v : null;
}

/** Valid key sizes, or null. */
function decodeSizes(v: unknown): KeySizeReport[] | null {
  if (!Array.isArray(v) || v.length > MAX_PROBED_KEYS) return null;
  const out: KeySizeReport[] = [];
  for (const x of v) {
    if (!isMap(x) || !isProbeKey(x.key) || !(x.bytes === null || isUint(x.bytes))) return null;
    out.push({ key: x.key, bytes: x.bytes });
  }
  return out;
}

function isEventValue(v: unknown): v is string | number | boolean | null {
  return v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.length <= 256);
}

/** Valid node events, or null. */
function decodeEvents(v: unknown): NodeEventReport[] | null {
  if (!Array.isArray(v) || v.length > MAX_REPORTED_EVENTS) return null;
  const out: NodeEventReport[] = [];
  for (const x of v) {
    if (!isMap(x) || !isUint(x.n) || !isUint(x.at) || !str(x.name, 64) || !/^[a-z][a-z0-9-]*$/.test(x.name) || !isMap(x.fields)) return null;
    const keys = Object.keys(x.fields);
    if (keys.length > MAX_EVENT_FIELDS) return null;
    const fields: Record<string, string | number | boolean | null> = {};
    for (const k of keys) {
      const f = x.fields[k];
      if (!/^[a-z][a-z0-9_]{0,63}$/.test(k) || !isEventValue(f)) return null;
      fields[k] = f;
    }
    out.push({ n: x.n, at: x.at, name: x.name, fields });
  }
  return out;
}

const LOAD_FIELDS = ['ops', 'items', 'memoryBytes', 'p50Us', 'p99Us', 'hintsPending'] as const;

/** A valid load report, or null. */
function decodeLoad(v: unknown): NodeLoadReport | null {
  if (!isMap(v)) return null;
  const out: Partial<NodeLoadReport> = {};
  for (const k of LOAD_FIELDS) {
    const x = v[k];
    if (!isUint(x)) return null;
    out[k] = x;
  }
  if (v.isFenced !== undefined && typeof v.isFenced !== 'boolean') return null;
  return v.isFenced === undefined ? out as NodeLoadReport : { ...out as NodeLoadReport, isFenced: v.isFenced };
}

/** Most units a heartbeat reports seqnos for. */
export const MAX_REPORTED_UNITS = 1 << 16;

/** What a node tells the manager about itself. */
export interface NodeRegistration {
  id: string;
  address: string;
  zone: string;
  weight: number;
  peerKey: string | null;
}

const encoder = new Encoder({ useRecords: false, variableMapSize: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

export function encodeMapMessage(m: MapClientMessage | MapServerMessage): Uint8Array {
  return encoder.encode(m);
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function str(v: unknown, max = 1024): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= max;
}

/** Validate a node registration. @returns an error text, or null when valid */
export function checkRegistration(n: unknown): string | null {
  if (n === null || typeof n !== 'object') return 'node must be a map';
  const r = n as Record<string, unknown>;
  if (!str(r.id, 128) || !/^[A-Za-z0-9._:-]+$/.test(r.id)) return 'node id must be 1..128 chars of [A-Za-z0-9._:-]';
  if (!str(r.address, 256) || !/^wss?:\/\/\S+$/.test(r.address)) return 'node address must be ws://host:port';
  if (typeof r.zone !== 'string' || r.zone.length > 64) return 'zone must be a string of at most 64 chars';
  if (typeof r.weight !== 'number' || !(r.weight > 0) || r.weight > 1000) return 'weight must be in (0, 1000]';
  if (r.peerKey !== null && !(typeof r.peerKey === 'string' && /^[0-9a-f]{64}$/.test(r.peerKey))) return 'peerKey must be null or 64 hex digits';
  return null;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function decode(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const v: unknown = decoder.decode(bytes);
    return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Decode a message from a subscriber or node; null when malformed. */
export function decodeClientMessage(bytes: Uint8Array): MapClientMessage | null {
  const m = decode(bytes);
  if (m === null) return null;
  switch (m.t) {
    case 'sub':
      return isUint(m.rev) && isUint(m.epoch) ? { t: 'sub', rev: m.rev, epoch: m.epoch } : null;
    case 'fetch':
      return { t: 'fetch' };
    case 'register': {
      if (checkRegistration(m.node) !== null) return null;
      const n = m.node as NodeRegistration;
      return { t: 'register', node: { id: n.id, address: n.address, zone: n.zone, weight: n.weight, peerKey: n.peerKey } };
    }
    case 'hb': {
      if (!str(m.id, 128) || !isUint(m.rev) || !isUint(m.epoch)) return null;
      if (m.seq !== undefined && !isUint(m.seq)) return null;
      if (m.re !== undefined && !isUint(m.re)) return null;
      const hb: MapClientMessage = { t: 'hb', id: m.id, rev: m.rev, epoch: m.epoch, ...(m.seq === undefined ? {} : { seq: m.seq }), ...(m.re === undefined ? {} : { re: m.re }) };
      if (m.repl !== undefined) {
        const r = m.repl as { backfilling?: unknown; seqnos?: unknown } | null;
        if (r === null || typeof r !== 'object' || !isUint(r.backfilling) || !Array.isArray(r.seqnos)) return null;
        if (r.seqnos.length > 2 * MAX_REPORTED_UNITS || r.seqnos.length % 2 !== 0 || !r.seqnos.every(isUint)) return null;
        const copied = (r as { copiedBytes?: unknown }).copiedBytes;
        if (copied !== undefined && !isUint(copied)) return null;
        hb.repl = { backfilling: r.backfilling, seqnos: r.seqnos as number[], ...(copied === undefined ? {} : { copiedBytes: copied }) };
      }
      // The load report is for the dashboard only: a malformed one is dropped, never the
      // heartbeat (which keeps the node's lease).
      const load = m.load === undefined ? null : decodeLoad(m.load);
      if (load !== null) hb.load = load;
      // So are the dashboard's key sizes and the relayed events.
      const sizes = m.sizes === undefined ? null : decodeSizes(m.sizes);
      if (sizes !== null) hb.sizes = sizes;
      const events = m.events === undefined ? null : decodeEvents(m.events);
      if (events !== null) hb.events = events;
      return hb;
    }
    case 'hello':
      if (m.principal === undefined || m.principal === null) return { t: 'hello', principal: null };
      return str(m.principal, 256) ? { t: 'hello', principal: m.principal } : null;
    case 'auth':
      return isMap(m.auth) ? { t: 'auth', auth: m.auth } : null;
    default:
      return null;
  }
}

/** `at`: when the manager published the map (ms since the epoch), for propagation lag. */
function publishedAt(at: unknown): { at?: number } {
  return typeof at === 'number' && Number.isFinite(at) && at > 0 ? { at } : {};
}

/** Decode a message from the manager; null when malformed. */
export function decodeServerMessage(bytes: Uint8Array): MapServerMessage | null {
  const m = decode(bytes);
  if (m === null) return null;
  switch (m.t) {
    case 'full':
      return m.map instanceof Uint8Array ? { t: 'full', map: m.map, ...publishedAt(m.at) } : null;
    case 'delta':
      return m.delta instanceof Uint8Array ? { t: 'delta', delta: m.delta, ...publishedAt(m.at) } : null;
    case 'registered': {
      if (!str(m.id, 128) || !isUint(m.heartbeatMs) || (m.wasFailed !== undefined && typeof m.wasFailed !== 'boolean')) return null;
      if ((m.epoch !== undefined && !isUint(m.epoch)) || (m.fenceAfterMs !== undefined && !isUint(m.fenceAfterMs))) return null;
      if (m.dht !== undefined && !(Array.isArray(m.dht) && m.dht.length <= 16 && m.dht.every((d) => typeof d === 'string' && /^[^\s:]{1,253}:\d{1,5}$/.test(d)))) return null;
      return {
        t: 'registered', id: m.id, heartbeatMs: m.heartbeatMs,
        ...(m.wasFailed === true ? { wasFailed: true } : {}),
        ...(m.epoch === undefined ? {} : { epoch: m.epoch }),
        ...(m.fenceAfterMs === undefined ? {} : { fenceAfterMs: m.fenceAfterMs }),
        ...(m.dht === undefined ? {} : { dht: m.dht as string[] }),
      };
    }
    case 'hb-ack': {
      if (!isUint(m.seq) || !isUint(m.epoch)) return null;
      // A malformed probe is dropped, never the acknowledgement (it renews the lease).
      const probe = m.probe === undefined ? null : decodeProbe(m.probe);
      return probe === null ? { t: 'hb-ack', seq: m.seq, epoch: m.epoch } : { t: 'hb-ack', seq: m.seq, epoch: m.epoch, probe };
    }
    case 'err':
      return typeof m.code === 'string' && typeof m.message === 'string' ? { t: 'err', code: m.code, message: m.message } : null;
    case 'report':
      return isUint(m.n) ? { t: 'report', n: m.n } : null;
    case 'challenge':
      return isMap(m.challenge) ? { t: 'challenge', challenge: m.challenge } : null;
    case 'authed':
      return m.serverSignature instanceof Uint8Array && m.serverPublicKey instanceof Uint8Array && Array.isArray(m.roles) && m.roles.every((r) => typeof r === 'string')
        ? { t: 'authed', serverSignature: m.serverSignature, serverPublicKey: m.serverPublicKey, roles: m.roles as string[] }
        : null;
    case 'principals':
      return Array.isArray(m.list) ? { t: 'principals', list: m.list } : null;
    default:
      return null;
  }
}

/**
 * Seed addresses of the manager tier: one string with commas, or a list of them.
 * @throws KvError INVALID_ARGUMENT naming the first address that is not a usable http(s)/ws(s) URL
 */
export function parseSeedUrls(seeds: string | readonly string[]): string[] {
  const parts = (typeof seeds === 'string' ? [seeds] : seeds).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw KvError.invalidArgument('no manager address given');
  const out: string[] = [];
  for (const p of parts) {
    let url: URL;
    try {
      url = new URL(p);
    } catch {
      throw KvError.invalidArgument(`not a URL: "${p}" (expected http://host:port)`);
    }
    if (!/^(https?|wss?):$/.test(url.protocol) || url.hostname === '') throw KvError.invalidArgument(`not an http(s) or ws(s) URL: "${p}"`);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** `http://host:port`, `ws://host:port` or either with `/map` → the map service URL. */
export function mapServiceUrl(address: string): string {
  const url = new URL(address.replace(/^http/, 'ws'));
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/map';
  return url.toString();
}
