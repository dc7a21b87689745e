import type { StoredItem } from '../engine/types.js';
import { fingerprint, type ChangeLog, type LogRecord } from './change-log.js';
import { recordBytes } from './records.js';

/**
 * Deltas through history a disk node restored after a restart.
 *
 * A disk node that comes back holds, per unit, the seqno, fingerprint and key of each
 * recent record (unit-history.ts), not the values. It cannot send those records as they
 * were, but a copy that stopped at one of them does not need every record after it: each
 * key's last record is enough to bring it to this node's state, and the engine holds
 * exactly the value that last record wrote (nothing wrote the key after it). So the delta
 * is each key's last record after the point, in seqno order, restored ones filled from
 * the engine. A filled record must have the fingerprint the history kept; if one does not
 * (the item expired since, say), the unit is copied in full instead, as before.
 *
 * The copy that applies such a delta ends at this node's seqno and record, with every key
 * equal; the seqnos it skipped start its own history again (change-log.ts, `append`).
 */

/**
 * Records a pull may visit in all the condensed deltas it asks for, each at most one
 * engine read: a little more than the disk's whole history holds (4 MiB, about 80,000
 * records), so an honest pull never runs out, and offers crafted to fail late (many
 * points, each far back) cannot keep a node's event loop for long.
 */
export const DELTA_VISITS_PER_PULL = 131_072;

/** What condensed deltas may still cost: records visited across one pull (counted down). */
export interface VisitBudget {
  left: number;
}

export interface DeltaFromLog {
  records: LogRecord[];
  /** The records went through restored history (condensed to each key's last one). */
  isRestored: boolean;
}

/**
 * The records after `since` that bring a copy holding the unit up to `since` to
 * `current`: the log's own when it has them with their values, else a condensed delta
 * through restored history. Null when neither can be made (a full copy then). A condensed
 * delta stops once it passes `maxBytes` (the caller's budget) or `visits` runs out.
 */
export function deltaSince(
  log: ChangeLog, peek: (key: string) => StoredItem | null, unit: number, since: number, current: number,
  maxBytes = Infinity, visits: VisitBudget = { left: Infinity },
): DeltaFromLog | null {
  const exact = log.since(unit, since, current);
  if (exact !== null) return { records: exact, isRestored: false };
  const through = log.sinceThroughRestored(unit, since, current);
  if (through === null) return null;
  const records = condense(log, peek, through, maxBytes, visits);
  return records === null ? null : { records, isRestored: true };
}

/**
 * Each key's last record of `records`, restored ones filled from `peek`; null when one
 * does not match its fingerprint, the records pass `maxBytes`, or `visits` runs out
 * (one per record looked at).
 */
export function condense(
  log: Pick<ChangeLog, 'isRestored' | 'printOf'>, peek: (key: string) => StoredItem | null, records: readonly LogRecord[],
  maxBytes = Infinity, visits: VisitBudget = { left: Infinity },
): LogRecord[] | null {
  const seen = new Set<string>();
  const out: LogRecord[] = [];
  let bytes = 0;
  for (let i = records.length - 1; i >= 0; i--) {
    if (--visits.left < 0) return null;
    const r = records[i]!;
    const key = Buffer.from(r[2].buffer, r[2].byteOffset, r[2].length).toString('latin1');
    if (seen.has(key)) continue;
    seen.add(key);
    let next = r;
    if (log.isRestored(r)) {
      const item = peek(key);
      next = [r[0], r[1], r[2], item?.value ?? null, item?.flags ?? 0, item?.expAt ?? 0];
      if (fingerprint(next) !== log.printOf(r)) return null;
    }
    bytes += recordBytes(next);
    if (bytes > maxBytes) return null;
    out.push(next);
  }
  return out.reverse();
}
