import type { CommitBatch } from './disk-store.js';
import type { UnitMark, UnitMarkSource } from './types.js';
import type { HistoryPart } from './unit-history.js';

/**
 * Which unit seqnos the disk holds, against what replication holds now: each commit
 * writes the marks that changed (and removes those of units no longer held), so a unit's
 * seqno is on disk in the same transaction as the items it numbers.
 */
export class UnitMarkLog {
  private source: UnitMarkSource | null = null;
  /** Unit seqnos as written to disk (or in the commit in flight, once it succeeds). */
  private written = new Map<number, number>();

  /** @param loaded the marks found on disk at open */
  constructor(private readonly loaded: readonly UnitMark[]) {
    for (const [unit, seq] of loaded) this.written.set(unit, seq);
  }

  /** The marks found on disk at open (copies). */
  loadedMarks(): UnitMark[] {
    return this.loaded.map((m) => [...m] as UnitMark);
  }

  setSource(source: UnitMarkSource | null): void {
    this.source = source;
  }

  /** True when some unit's seqno differs from what the disk holds. */
  hasChanged(): boolean {
    const seqs = this.source?.unitSeqs();
    if (seqs === undefined) return false;
    if (seqs.size !== this.written.size) return true;
    for (const [u, s] of seqs) if (this.written.get(u) !== s) return true;
    return false;
  }

  /**
   * The marks a commit starting now must write, and a function to call once it is on
   * disk (the seqnos of this moment are then the written ones).
   */
  take(): { marks: CommitBatch['marks']; history: HistoryPart[]; onCommitted: () => void } {
    const marks: CommitBatch['marks'] = [];
    const history: HistoryPart[] = [];
    const source = this.source;
    if (source === null) return { marks, history, onCommitted: noop };
    const now = new Map<number, number>();
    for (const [unit, seq] of source.unitSeqs()) {
      now.set(unit, seq);
      const was = this.written.get(unit);
      if (was === seq) continue;
      const print = source.printAt(unit, seq);
      marks.push([unit, seq, print]);
      // The records since the last commit (since 0 for a unit new here), with their keys;
      // when the change log does not hold them all (a full copy), the history starts again here.
      const records = was !== undefined && was > seq ? null : source.historySince(unit, was ?? 0, seq);
      history.push(records === null ? { unit, reset: [seq, print], records: [] } : { unit, reset: null, records });
    }
    for (const unit of this.written.keys()) if (!now.has(unit)) marks.push([unit, null, null]);
    return {
      marks,
      history,
      onCommitted: () => {
        this.written = now;
      },
    };
  }
}

function noop(): void {}
