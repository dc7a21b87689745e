import { Op } from './ops.js';
import { Status, type StatusCode } from '../status.js';

/** The arguments of BACKUP_PAGE and BACKUP_CHANGES, from `extra` (docs/protocol.md §4). */
export interface BackupArgs {
  /** Units asked for: distinct, ascending, each below 2^`unitBits`. */
  units: number[];
  /** The map's unit bits the units are numbered at; must equal the node's. */
  unitBits: number;
  /** The map's bucket bits; must equal the node's. */
  bits: number;
  /** BACKUP_PAGE: most items in the answer. */
  limit: number;
  /** BACKUP_CHANGES: per unit (same order), the seqno after which records are wanted; null for BACKUP_PAGE. */
  since: number[] | null;
}

/** Most units one backup frame may name (every unit of a map with unitBits 16). */
export const MAX_BACKUP_UNITS = 65_536;

function isUint(v: unknown, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
}

/**
 * Validate a backup frame's `extra`. Returns the arguments, or the refusal: BAD_REQUEST
 * for a malformed field, TOO_LARGE for a `limit` over `maxLimit`.
 */
export function readBackupArgs(op: number, extra: Readonly<Record<string, unknown>>, maxLimit: number): BackupArgs | { status: StatusCode; message: string } {
  const bad = (message: string): { status: StatusCode; message: string } => ({ status: Status.BAD_REQUEST, message });
  const bits = field(extra, 'bits');
  if (!isUint(bits, 32)) return bad('bits must be an integer 0..32');
  const unitBits = field(extra, 'unitBits');
  if (!isUint(unitBits, bits)) return bad('unitBits must be an integer 0..bits');
  const units = field(extra, 'units');
  if (!Array.isArray(units) || units.length === 0) return bad('units must be a non-empty array');
  if (units.length > MAX_BACKUP_UNITS) return bad(`at most ${MAX_BACKUP_UNITS} units per frame`);
  const count = 2 ** unitBits;
  for (let i = 0; i < units.length; i++) {
    const u: unknown = units[i];
    if (!isUint(u) || u >= count) return bad(`units must be integers below 2^unitBits (${count})`);
    if (i > 0 && u <= (units[i - 1] as number)) return bad('units must be distinct and ascending');
  }
  const args: BackupArgs = { units: units as number[], unitBits, bits, limit: maxLimit, since: null };
  if (op === Op.BACKUP_PAGE) {
    const limit = field(extra, 'limit') ?? maxLimit;
    if (!isUint(limit) || limit === 0) return bad('limit must be a positive integer');
    if (limit > maxLimit) return { status: Status.TOO_LARGE, message: `backup page limit ${limit} exceeds ${maxLimit}` };
    args.limit = limit;
    return args;
  }
  const since = field(extra, 'since');
  if (!Array.isArray(since) || since.length !== units.length) return bad('since must be an array with one seqno per unit');
  for (const s of since as unknown[]) if (!isUint(s)) return bad('since must hold unsigned integers');
  args.since = since as number[];
  return args;
}

function field(obj: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : undefined;
}
