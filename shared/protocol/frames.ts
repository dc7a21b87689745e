import { Op, type OpCode } from './ops.js';
import { Status, type StatusCode } from '../status.js';
import { errorFromStatus, type KvError, type KvErrorDetails } from '../errors.js';
import type { BackupArgs } from './backup-args.js';

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
  /** BACKUP_PAGE, BACKUP_CHANGES: the units and seqnos asked for (`key` is BACKUP_PAGE's exclusive start). */
  backup?: BackupArgs;
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

/** Op-specific arguments of a request, or the details of an answer: a small map. */
export type FrameExtra = Readonly<Record<string, unknown>>;

/** A key as a request carries it: bytes, or a string the node reads as UTF-8 (or binary). */
export type WireKey = Uint8Array | string;

/** A value as a request carries it: bytes, or a string the node stores as UTF-8. */
export type WireValue = Uint8Array | string;

/** A compare-and-swap token; 0 = none. Counters past 2^53 travel as bigint. */
export type WireCas = number | bigint;

/**
 * A request frame as it goes on the wire (see `RequestField`); trailing fields may be
 * omitted. The builders leave `id` and `epoch` at 0: the lane writes the id, the
 * dispatcher the epoch of the map it routed with.
 */
export type RequestFrame = [
  id: number, op: OpCode, epoch: number, key?: WireKey | null, value?: WireValue | null,
  flags?: number, exptime?: number, cas?: WireCas, extra?: FrameExtra | null,
];

/** An answer frame as it goes on the wire (see `ResponseField`); trailing fields may be omitted. */
export type AnswerFrame = [id: number, status: number, value?: unknown, cas?: number, flags?: number, extra?: FrameExtra | null];

/** A request with every field: `[0, op, epoch, key, value, flags, exptime, cas, extra]`. */
export function requestFrame(
  op: OpCode, epoch: number, key: WireKey | null, value: WireValue | null, flags: number, exptime: number, cas: WireCas, extra: FrameExtra | null,
): RequestFrame {
  return [0, op, epoch, key, value, flags, exptime, cas, extra];
}

/** A request that names only a key (GET): `[0, op, 0, key]`. */
export function keyRequest(op: OpCode, key: WireKey): RequestFrame {
  return [0, op, 0, key];
}

/** A request that names a key and a new expiry (GAT, TOUCH): `[0, op, 0, key, null, 0, exptime]`. */
export function expiryRequest(op: OpCode, key: WireKey, exptime: number): RequestFrame {
  return [0, op, 0, key, null, 0, exptime];
}

/** A GET from a replica copy: `[0, op, 0, key, null, 0, 0, 0, { replica: true }]`. */
export function replicaReadRequest(op: OpCode, key: WireKey): RequestFrame {
  return [0, op, 0, key, null, 0, 0, 0, REPLICA_EXTRA];
}

const REPLICA_EXTRA: FrameExtra = Object.freeze({ replica: true });

/**
 * A store (SET, ADD, REPLACE, APPEND, PREPEND): `[0, op, 0, key, value, flags, exptime, cas]`,
 * and `extra` last when given and not null.
 */
export function storeRequest(op: OpCode, key: WireKey, value: WireValue, flags: number, exptime: number, cas: WireCas, extra?: FrameExtra | null): RequestFrame {
  return extra == null ? [0, op, 0, key, value, flags, exptime, cas] : [0, op, 0, key, value, flags, exptime, cas, extra];
}

/**
 * A DELETE, conditional when `cas` is not 0: `[0, DELETE, 0, key, null, 0, 0, cas]`, and
 * `extra` last when given (null included).
 */
export function deleteRequest(key: WireKey, cas: WireCas, extra?: FrameExtra | null): RequestFrame {
  return extra === undefined ? [0, Op.DELETE, 0, key, null, 0, 0, cas] : [0, Op.DELETE, 0, key, null, 0, 0, cas, extra];
}

/** An INCR or DECR: `[0, op, 0, key, null, 0, exptime, 0, extra]` (`extra` holds the delta and initial value). */
export function counterRequest(op: OpCode, key: WireKey, exptime: number, extra: FrameExtra): RequestFrame {
  return [0, op, 0, key, null, 0, exptime, 0, extra];
}

/** A key-less request (PING, AUTH): `[0, op, 0]`, or with `extra` `[0, op, 0, null, null, 0, 0, 0, extra]`. */
export function controlRequest(op: OpCode, extra?: FrameExtra): RequestFrame {
  return extra === undefined ? [0, op, 0] : [0, op, 0, null, null, 0, 0, 0, extra];
}

/** An answer with every field: `[id, status, value, cas, flags, extra]`. */
export function answerFrame(id: number, status: number, value: unknown, cas: number, flags: number, extra: FrameExtra | null): AnswerFrame {
  return [id, status, value, cas, flags, extra];
}

/** An answer that is only a status (NOT_FOUND, a DELETE or TOUCH outcome): `[id, status]`. */
export function statusAnswer(id: number, status: number): AnswerFrame {
  return [id, status];
}

/** A found item: `[id, OK, value, cas, flags]`. */
export function itemAnswer(id: number, value: unknown, cas: number, flags: number): AnswerFrame {
  return [id, Status.OK, value, cas, flags];
}

/** OK with a value (STATS, a counter), and its cas when it has one: `[id, OK, value]` or `[id, OK, value, cas]`. */
export function valueAnswer(id: number, value: unknown, cas?: number): AnswerFrame {
  return cas === undefined ? [id, Status.OK, value] : [id, Status.OK, value, cas];
}

/** A stored write: `[id, OK, null, cas]`. */
export function casAnswer(id: number, cas: number): AnswerFrame {
  return [id, Status.OK, null, cas];
}

/** An answer whose details are all in `extra` (an error, NOT_MY_BUCKET, a PING's epoch): `[id, status, null, 0, 0, extra]`. */
export function extraAnswer(id: number, status: number, extra: FrameExtra): AnswerFrame {
  return [id, status, null, 0, 0, extra];
}

/** A refusal with a reason: `[id, status, null, 0, 0, { message }]`. */
export function errorAnswer(id: number, status: number, message: string): AnswerFrame {
  return [id, status, null, 0, 0, { message }];
}

/**
 * The `KvError` of a non-OK answer: its status, and the node's message when `extra`
 * carries one (a wrong-typed message is ignored). `errorFromStatus` does the mapping.
 */
export function errorFromAnswer(r: { status: number; extra?: FrameExtra | null }, details?: KvErrorDetails): KvError {
  const message = r.extra?.message;
  return errorFromStatus(r.status, typeof message === 'string' ? message : undefined, details);
}
