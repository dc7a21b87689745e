import type { UnitMarkSource } from '../engine/types.js';
import type { ChangeLog } from './change-log.js';

/**
 * What the disk engine commits with the data, read from replication's state: each unit's
 * seqno now, the fingerprint of its record at a seqno, and the records since the last
 * commit as the disk's unit history keeps them (seqno, fingerprint, key).
 */
export class ReplicationMarks implements UnitMarkSource {
  constructor(private readonly seqs: ReadonlyMap<number, number>, private readonly changes: ChangeLog) {}

  unitSeqs(): ReadonlyMap<number, number> {
    return this.seqs;
  }

  printAt(unit: number, seq: number): string | null {
    return this.changes.printAt(unit, seq);
  }

  /** The unit's records in (since, to]; null when the change log no longer holds them all. */
  historySince(unit: number, since: number, to: number): Array<[number, string, Uint8Array]> | null {
    const records = this.changes.since(unit, since, to);
    if (records === null) return null;
    const out: Array<[number, string, Uint8Array]> = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      out[i] = [r[1], this.changes.printOf(r), r[2]];
    }
    return out;
  }
}
