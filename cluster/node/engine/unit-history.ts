/**
 * The recent history of each unit as the disk keeps it: per record, its seqno, its
 * fingerprint and the key it wrote (not the value). Written in the same commit as the
 * items and unit marks, so after SIGKILL a node knows which of its last records it may
 * have to roll back and which earlier points of its history it can prove: a copy whose
 * newest records its active never had rolls back to the newest point both share and
 * re-reads only the keys written after it (delta), instead of copying the unit in full.
 *
 * One lmdb record per commit, key = commit number (u64 big-endian), value = parts:
 *   [u32 unit][u8 kind][f64 seq][u8 print length][print, latin1]
 *   kind 0 (reset): the unit's history starts again at `seq` (a full copy, or records the
 *                   change log no longer had); no key follows
 *   kind 1 (record): the record at `seq`, then [u16 key length][key bytes]
 * all little-endian but the commit number. See docs/engine.md, "Unit history".
 */

/** A point of a unit's history: seqno, fingerprint of its record there, the key it wrote (null: an anchor, no key known). */
export type HistoryEntry = [seq: number, print: string | null, key: Uint8Array | null];

/** What one commit adds to the history of one unit. */
export interface HistoryPart {
  unit: number;
  /** The unit's history starts again at this point (written before `records`). */
  reset: [seq: number, print: string | null] | null;
  /** Records in seqno order, each following the previous one. */
  records: Array<[seq: number, print: string, key: Uint8Array]>;
}

const KIND_RESET = 0;
const KIND_RECORD = 1;
const MAX_KEY_BYTES = 0xffff;

/** Bytes `parts` take encoded. */
function encodedBytes(parts: readonly HistoryPart[]): number {
  let n = 0;
  for (const p of parts) {
    if (p.reset !== null) n += 14 + (p.reset[1]?.length ?? 0);
    for (const r of p.records) n += 16 + r[1].length + r[2].length;
  }
  return n;
}

export function encodeHistory(parts: readonly HistoryPart[]): Buffer {
  const out = Buffer.allocUnsafe(encodedBytes(parts));
  let at = 0;
  const head = (unit: number, kind: number, seq: number, print: string | null): void => {
    out.writeUInt32LE(unit >>> 0, at);
    out[at + 4] = kind;
    out.writeDoubleLE(seq, at + 5);
    const len = print === null ? 0 : print.length;
    out[at + 13] = len;
    if (print !== null) out.write(print, at + 14, 'latin1');
    at += 14 + len;
  };
  for (const p of parts) {
    if (p.reset !== null) head(p.unit, KIND_RESET, p.reset[0], p.reset[1]);
    for (const [seq, print, key] of p.records) {
      head(p.unit, KIND_RECORD, seq, print);
      out.writeUInt16LE(key.length, at);
      out.set(key, at + 2);
      at += 2 + key.length;
    }
  }
  return out;
}

/** One decoded part: a reset (key null, `isReset`) or a record. */
export interface HistoryItem {
  unit: number;
  isReset: boolean;
  seq: number;
  print: string | null;
  key: Uint8Array | null;
}

/** Decode one commit's record; null when it is malformed (the caller then trusts none of it). */
export function decodeHistory(b: Uint8Array): HistoryItem[] | null {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.length);
  const out: HistoryItem[] = [];
  let at = 0;
  while (at < buf.length) {
    if (at + 14 > buf.length) return null;
    const unit = buf.readUInt32LE(at);
    const kind = buf[at + 4]!;
    const seq = buf.readDoubleLE(at + 5);
    const len = buf[at + 13]!;
    if ((kind !== KIND_RESET && kind !== KIND_RECORD) || !Number.isSafeInteger(seq) || seq < 0 || at + 14 + len > buf.length) return null;
    const print = len === 0 ? null : buf.toString('latin1', at + 14, at + 14 + len);
    at += 14 + len;
    if (kind === KIND_RESET) {
      out.push({ unit, isReset: true, seq, print, key: null });
      continue;
    }
    if (at + 2 > buf.length || print === null || seq === 0) return null;
    const keyLen = buf.readUInt16LE(at);
    if (keyLen === 0 || at + 2 + keyLen > buf.length) return null;
    out.push({ unit, isReset: false, seq, print, key: Buffer.from(buf.subarray(at + 2, at + 2 + keyLen)) });
    at += 2 + keyLen;
  }
  return out;
}

/** True when a key may be kept in the history (the engine's keys always may). */
export function isHistoryKey(key: Uint8Array): boolean {
  return key.length > 0 && key.length <= MAX_KEY_BYTES;
}

/**
 * Each unit's history from the commits' records in commit order, kept only where it is
 * whole up to the unit's mark: a reset starts it again at its point, a record that does
 * not follow the one before starts it again at itself (the point before it unknown), and
 * a history that does not end at the unit's seqno on disk is dropped.
 */
export function rebuildHistories(commits: Iterable<HistoryItem[]>, marks: ReadonlyMap<number, number>): Map<number, HistoryEntry[]> {
  const byUnit = new Map<number, HistoryEntry[]>();
  for (const items of commits) {
    for (const it of items) {
      if (!marks.has(it.unit)) continue;
      const list = byUnit.get(it.unit);
      if (it.isReset) {
        byUnit.set(it.unit, [[it.seq, it.print, null]]);
        continue;
      }
      const last = list === undefined || list.length === 0 ? null : list[list.length - 1]![0];
      if (list !== undefined && last === it.seq - 1) list.push([it.seq, it.print, it.key]);
      else byUnit.set(it.unit, [[it.seq - 1, null, null], [it.seq, it.print, it.key]]);
    }
  }
  for (const [unit, list] of byUnit) {
    const last = list[list.length - 1]![0];
    if (last !== marks.get(unit) || list.length < 2) byUnit.delete(unit);
  }
  return byUnit;
}
