import { Status } from '../../shared/status.js';
import { Op } from '../../shared/protocol/ops.js';
import { answerFrame, errorAnswer, extraAnswer, type AnswerFrame, type Request } from '../../shared/protocol/frames.js';
import { bucketOfBinary } from '../../shared/keystream.js';
import { coversAcrossBits, everyBucket, fromPairs } from '../../shared/bucket-ranges.js';
import type { BackupArgs } from '../../shared/protocol/backup-args.js';
import type { ItemPage } from './engine/types.js';
import type { ReplRecord } from './replication/records.js';

/**
 * The node side of `pandakv backup` (docs/backup.md): BACKUP_PAGE reads a page of the
 * items of some units together with each unit's seqno, BACKUP_CHANGES the units' change
 * records after given seqnos. A backup pages a unit from seqno S0 on, then takes the
 * records (S0, S1]: applied over the pages they give the unit's exact state at S1.
 * Both ops run only on the units' active at the frame's epoch (else NOT_MY_BUCKET, and
 * nothing is read), like every data op.
 */

/** What the backup ops read items from: the engine's paged read (backfill uses it too). */
export interface BackupItemSource {
  page(after: string | null, limit: number, budget: number, accept: (key: string) => boolean): ItemPage;
}

/** A unit's position and recent history: the replicator's seqnos and change log. */
export interface UnitHistory {
  /** The unit's seqno now; null while the unit is being copied to this node. */
  unitSeq(unit: number): number | null;
  /**
   * The unit's seqno now and its records after `since`; null when the change log no
   * longer reaches back to `since` or the unit is being copied.
   */
  unitChangesSince(unit: number, since: number): { seq: number; records: readonly ReplRecord[] } | null;
}

/** What the backup ops need of the node. */
export interface BackupHost {
  readonly epoch: number;
  readonly bits: number;
  /** Ranges at `bits` the node is active for; null when it owns every bucket (no manager). */
  activeRanges(): ReadonlyArray<readonly [number, number]> | null;
  /** False while the node cannot prove its lease. */
  isServing(): boolean;
  /** The unit bits of the map the node follows; null without one. */
  unitBits(): number | null;
  /** The node's unit history; null when it keeps none (not on the peer plane). */
  history(): UnitHistory | null;
}

/** Limits of one answer; see `BACKUP_OP_DEFAULTS`. */
export interface BackupOpOptions {
  /** Bytes of keys and values after which a page is cut short. @default 4194304 */
  maxPageBytes: number;
  /** Bytes of change records one BACKUP_CHANGES answer carries; further units are left out. @default 4194304 */
  maxChangeBytes: number;
  /** Keys examined per page beyond 4 × its limit (items of other units are skipped). @default 16384 */
  extraKeysPerPage: number;
}

export const BACKUP_OP_DEFAULTS: Readonly<BackupOpOptions> = Object.freeze({
  maxPageBytes: 4 * 1024 * 1024,
  maxChangeBytes: 4 * 1024 * 1024,
  extraKeysPerPage: 16_384,
});

/** Run a BACKUP_PAGE or BACKUP_CHANGES frame. */
export function runBackupOp(req: Request, items: BackupItemSource, host: BackupHost, options: BackupOpOptions = BACKUP_OP_DEFAULTS): AnswerFrame {
  const args = req.backup;
  if (args === undefined) return errorAnswer(req.id, Status.BAD_REQUEST, 'backup arguments missing');
  if (!host.isServing() || req.epoch !== host.epoch) return extraAnswer(req.id, Status.NOT_MY_BUCKET, { epoch: host.epoch });
  const unitBits = host.unitBits();
  if (unitBits === null) return errorAnswer(req.id, Status.UNAVAILABLE, 'this node follows no cluster map: nothing to back up by unit');
  if (args.bits !== host.bits || args.unitBits !== unitBits) {
    return extraAnswer(req.id, Status.NOT_MY_BUCKET, { epoch: host.epoch, message: `the node's map has 2^${host.bits} buckets in 2^${unitBits} units, not 2^${args.bits} in 2^${args.unitBits}` });
  }
  const owned = host.activeRanges();
  if (!coversAcrossBits(owned === null ? everyBucket(host.bits) : fromPairs(owned), host.bits, unitRanges(args.units), unitBits)) {
    return extraAnswer(req.id, Status.NOT_MY_BUCKET, { epoch: host.epoch, message: 'the node is not active for every unit of this frame' });
  }
  const history = host.history();
  if (history === null) {
    return errorAnswer(req.id, Status.UNAVAILABLE, 'this node keeps no unit history (it is not on the peer plane), so its units cannot be read at one seqno');
  }
  return req.op === Op.BACKUP_PAGE ? page(req, args, items, history, options) : changes(req, args, history, options);
}

function page(req: Request, args: BackupArgs, items: BackupItemSource, history: UnitHistory, o: BackupOpOptions): AnswerFrame {
  // Seqnos first, in the same turn as the items: every item read is at least this new.
  const seqs: number[] = [];
  for (const u of args.units) {
    const seq = history.unitSeq(u);
    if (seq === null) return extraAnswer(req.id, Status.BUSY, { message: `unit ${u} is being copied to this node`, retryAfterMs: 100 });
    seqs.push(u, seq);
  }
  const wanted = new Set(args.units);
  const shift = 2 ** (args.bits - args.unitBits);
  const accept = (key: string): boolean => wanted.has(Math.floor(bucketOfBinary(key, args.bits) / shift));
  const flat: unknown[] = [];
  let after: string | null = req.key === '' ? null : req.key;
  let count = 0;
  let bytes = 0;
  let budget = args.limit * 4 + o.extraKeysPerPage;
  let next: string | null = after;
  while (count < args.limit && bytes < o.maxPageBytes && budget > 0) {
    const chunk = Math.min(256, budget);
    // Few items per read while their size is unknown or large, so the byte budget holds.
    const room = count === 0 ? 16 : Math.floor(((o.maxPageBytes - bytes) * count) / bytes);
    const p = items.page(after, Math.max(1, Math.min(args.limit - count, 256, room)), chunk, accept);
    budget -= chunk;
    for (const it of p.items) {
      flat.push(Buffer.from(it.key, 'latin1'), it.value, it.flags, it.expAt);
      bytes += it.key.length + it.value.length;
      count++;
    }
    next = p.next;
    if (next === null) break;
    after = next;
  }
  return answerFrame(req.id, Status.OK, flat, 0, 0, { next: next === null ? null : Buffer.from(next, 'latin1'), epoch: req.epoch, seqs });
}

function changes(req: Request, args: BackupArgs, history: UnitHistory, o: BackupOpOptions): AnswerFrame {
  const out: unknown[] = [];
  let bytes = 0;
  for (let i = 0; i < args.units.length; i++) {
    const unit = args.units[i]!;
    const since = args.since![i]!;
    const h = history.unitChangesSince(unit, since);
    if (h === null) {
      out.push([unit, null, null]);
      continue;
    }
    let size = 0;
    for (const r of h.records) size += r[2].length + (r[3]?.length ?? 0) + 16;
    // Units past the budget are left out: the client asks again for them.
    if (bytes > 0 && bytes + size > o.maxChangeBytes) break;
    bytes += size;
    const flat: unknown[] = [];
    for (const r of h.records) flat.push(r[2], r[3], r[4], r[5]);
    out.push([unit, h.seq, flat]);
  }
  return answerFrame(req.id, Status.OK, out, 0, 0, { epoch: req.epoch });
}

/** The buckets of `units` (ascending) at unit bits, as a flat range set. */
function unitRanges(units: readonly number[]): number[] {
  const out: number[] = [];
  for (const u of units) {
    if (out.length > 0 && out[out.length - 1] === u) out[out.length - 1] = u + 1;
    else out.push(u, u + 1);
  }
  return out;
}
