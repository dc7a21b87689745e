import { Op } from './ops.js';
import { requestFrame, type RequestFrame } from './frames.js';

/** Builders of the backup ops' request frames (docs/protocol.md §5); arguments in backup-args.ts. */

/**
 * A BACKUP_PAGE request: the items of `units` after the key `after` (exclusive; null from
 * the first), at most `limit`. The caller sets the epoch.
 */
export function backupPageRequest(after: Uint8Array | null, units: readonly number[], bits: number, unitBits: number, limit: number): RequestFrame {
  return requestFrame(Op.BACKUP_PAGE, 0, after, null, 0, 0, 0, { units, bits, unitBits, limit });
}

/** A BACKUP_CHANGES request: the records of each of `units` after the seqno at the same place in `since`. */
export function backupChangesRequest(units: readonly number[], since: readonly number[], bits: number, unitBits: number): RequestFrame {
  return requestFrame(Op.BACKUP_CHANGES, 0, null, null, 0, 0, 0, { units, since, bits, unitBits });
}
