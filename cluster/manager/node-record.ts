import type { NodeState } from '../../shared/cluster-map.js';
import { checkRegistration, type NodeRegistration } from '../../shared/map-protocol.js';

/** What the manager keeps about a node in the config store. */
export interface NodeRecord extends NodeRegistration {
  state: NodeState;
}

const STATES: readonly NodeState[] = ['active', 'joining', 'leaving', 'failed'];

export function encodeRecord(r: NodeRecord): Uint8Array {
  return Buffer.from(JSON.stringify({ id: r.id, address: r.address, zone: r.zone, weight: r.weight, peerKey: r.peerKey, state: r.state }));
}

/** @throws TypeError when the stored record is malformed */
export function decodeRecord(bytes: Uint8Array): NodeRecord {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new TypeError('node record is not JSON');
  }
  const problem = checkRegistration(v);
  if (problem !== null) throw new TypeError(`bad node record: ${problem}`);
  const r = v as NodeRecord;
  if (!STATES.includes(r.state)) throw new TypeError(`bad node state ${String(r.state)}`);
  return { id: r.id, address: r.address, zone: r.zone, weight: r.weight, peerKey: r.peerKey, state: r.state };
}

/** Cluster settings kept next to the map. */
export interface ClusterSettings {
  redundancy: number;
  /** A rebalance was stopped (`cluster rebalance --stop`): no leader moves data until `cluster rebalance`. */
  isRebalanceStopped?: boolean;
}

export function encodeSettings(s: ClusterSettings): Uint8Array {
  return Buffer.from(JSON.stringify(s));
}

export function decodeSettings(bytes: Uint8Array): ClusterSettings {
  const v = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<ClusterSettings>;
  if (typeof v.redundancy !== 'number' || !Number.isInteger(v.redundancy) || v.redundancy < 1) throw new TypeError('bad settings');
  return v.isRebalanceStopped === true ? { redundancy: v.redundancy, isRebalanceStopped: true } : { redundancy: v.redundancy };
}
