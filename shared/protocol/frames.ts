import type { OpCode } from './ops.js';
import type { StatusCode } from '../status.js';

/**
 * Positions of the request frame array on the wire:
 * `[id, op, epoch, key, value, flags, exptime, cas, extra]`; trailing fields may be
 * omitted. `extra` is a small map of op-specific arguments (see docs/protocol.md).
 */
export const RequestField = Object.freeze({ ID: 0, OP: 1, EPOCH: 2, KEY: 3, VALUE: 4, FLAGS: 5, EXPTIME: 6, CAS: 7, EXTRA: 8 } as const);

/**
 * Positions of the response frame array: `[id, status, value, cas, flags, extra]`;
 * trailing fields may be omitted.
 */
export const ResponseField = Object.freeze({ ID: 0, STATUS: 1, VALUE: 2, CAS: 3, FLAGS: 4, EXTRA: 5 } as const);

/** Durability levels a write may ask for (DESIGN §7). */
export type Durability = 'none' | 'majority' | 'persist' | 'persistMajority';

/** Every durability level, as the wire spells it. */
export const DURABILITY_LEVELS: readonly Durability[] = Object.freeze(['none', 'majority', 'persist', 'persistMajority']);

/** True for the levels that wait for an fsync (only a disk engine can give them). */
export function isPersistLevel(d: Durability): boolean {
  return d === 'persist' || d === 'persistMajority';
}

/** A request frame after validation, as a node sees it. */
export interface Request {
  id: number;
  op: OpCode;
  epoch: number;
  /** Key bytes as a binary string (one char per byte); '' for key-less ops. */
  key: string;
  value: Uint8Array | null;
  flags: number;
  exptime: number;
  /** Compare-and-swap token; 0 = none. */
  cas: number;
  /** INCR/DECR amount. */
  delta: bigint;
  /** INCR/DECR: create the counter with this value when missing. */
  initial: bigint | undefined;
  /** SCAN: exclusive end key (binary string), or null for no end. */
  end: string | null;
  /** SCAN: most entries to return. */
  limit: number;
  /**
   * SCAN: the bucket ranges (flat `[start, end, …]` at `rangeBits`) the client reads from
   * this node, or null when it sent none (the node then answers for all it owns).
   */
  ranges: number[] | null;
  /** SCAN: the bucket bits `ranges` are expressed at. */
  rangeBits: number;
  /** SCAN through a proxy: the signed cursor to resume from, if any. */
  cursor: string | undefined;
  /** STATS: optional group name. */
  group: string | undefined;
  durability: Durability;
  /** GET: read from a replica copy (the node need not be the active). */
  isReplicaRead: boolean;
  /** AUTH: the `extra` map as sent, checked by the auth core. */
  auth: Readonly<Record<string, unknown>> | undefined;
}

/** A frame that failed validation but whose id could be read. */
export interface FrameError {
  id: number;
  status: StatusCode;
  message: string;
}

/** A response frame as a client sees it. */
export interface Response {
  id: number;
  status: number;
  value: unknown;
  cas: number;
  flags: number;
  extra: Readonly<Record<string, unknown>> | undefined;
}
