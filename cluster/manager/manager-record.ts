import type { MapManager } from '../../shared/cluster-map.js';

/**
 * What a manager publishes about itself in the config store, under its own lease: the
 * entry the leader copies into the map's manager list, and where its peer-plane
 * bootstrap listens (nodes given no `--dht` join the peer plane through it).
 */
export interface ManagerRecord extends MapManager {
  /** `host:port` of the DHT bootstrap it runs or names; null when it offers none. */
  dht: string | null;
  /** When it registered (ms since the epoch): the oldest live manager is listed first after the leader. */
  since: number;
}

export function encodeManagerRecord(r: ManagerRecord): Uint8Array {
  return Buffer.from(JSON.stringify({ id: r.id, address: r.address, publicKey: r.publicKey, dht: r.dht, since: r.since }));
}

/** @throws TypeError when the stored record is malformed */
export function decodeManagerRecord(bytes: Uint8Array): ManagerRecord {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new TypeError('manager record is not JSON');
  }
  const r = v as Partial<ManagerRecord> | null;
  if (r === null || typeof r !== 'object') throw new TypeError('manager record must be an object');
  if (typeof r.id !== 'string' || r.id === '' || r.id.length > 128) throw new TypeError('bad manager id');
  if (typeof r.address !== 'string' || !/^https?:\/\/\S{1,250}$/.test(r.address)) throw new TypeError('bad manager address');
  if (r.publicKey !== null && !(typeof r.publicKey === 'string' && /^[0-9a-f]{64}$/.test(r.publicKey))) throw new TypeError('bad manager key');
  if (r.dht !== null && !(typeof r.dht === 'string' && /^[^\s:]{1,253}:\d{1,5}$/.test(r.dht))) throw new TypeError('bad manager dht');
  if (typeof r.since !== 'number' || !Number.isFinite(r.since)) throw new TypeError('bad manager since');
  return { id: r.id, address: r.address, publicKey: r.publicKey, dht: r.dht, since: r.since };
}

/** The map's manager list: the leader first, then by age. */
export function mapManagers(records: Iterable<ManagerRecord>, leaderId: string | null): MapManager[] {
  return [...records]
    .sort((a, b) => (a.id === leaderId ? -1 : b.id === leaderId ? 1 : a.since - b.since || (a.id < b.id ? -1 : 1)))
    .map((r) => ({ id: r.id, address: r.address, publicKey: r.publicKey }));
}

/** True when two manager lists name the same managers in the same order. */
export function sameManagers(a: readonly MapManager[] | undefined, b: readonly MapManager[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((m, i) => m.id === y[i]!.id && m.address === y[i]!.address && m.publicKey === y[i]!.publicKey);
}
