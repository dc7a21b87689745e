import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { DiskEngine } from '../../../../cluster/node/engine/disk-engine.js';
import { decodeHistory, encodeHistory, rebuildHistories, type HistoryItem, type HistoryPart } from '../../../../cluster/node/engine/unit-history.js';
import type { UnitMarkSource } from '../../../../cluster/node/engine/types.js';

const test = suite('cluster - disk engine unit history');

const key = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const rec = (unit: number, seq: number, print = `p${seq}`): HistoryItem => ({ unit, isReset: false, seq, print, key: key(`k${seq}`) });
const reset = (unit: number, seq: number, print: string | null = `a${seq}`): HistoryItem => ({ unit, isReset: true, seq, print, key: null });

test('parts round-trip: resets with and without a fingerprint, records with binary keys', () => {
  const parts: HistoryPart[] = [
    { unit: 0, reset: [5, 'f00d'], records: [[6, 'aa', key('x')], [7, 'bb', key('\u0000\u00ff')]] },
    { unit: 4095, reset: [0, null], records: [] },
    { unit: 12, reset: null, records: [[2 ** 40, 'c'.repeat(255), Buffer.alloc(65_535, 7)]] },
  ];
  const items = decodeHistory(encodeHistory(parts))!;
  assert.equal(items.map((i) => [i.unit, i.isReset, i.seq, i.print, i.key === null ? null : Buffer.from(i.key).toString('latin1')]), [
    [0, true, 5, 'f00d', null],
    [0, false, 6, 'aa', 'x'],
    [0, false, 7, 'bb', '\u0000\u00ff'],
    [4095, true, 0, null, null],
    [12, false, 2 ** 40, 'c'.repeat(255), Buffer.alloc(65_535, 7).toString('latin1')],
  ]);
  assert.equal(decodeHistory(new Uint8Array(0)), []);
});

test('malformed records are refused, never half read: cut short anywhere, unknown kinds, bad seqnos, empty keys', () => {
  const good = encodeHistory([{ unit: 3, reset: [9, 'ab'], records: [[10, 'cd', key('key')], [11, 'ef', key('k2')]] }]);
  for (let cut = 1; cut < good.length; cut++) {
    const items = decodeHistory(good.subarray(0, cut));
    // A cut on a part boundary is a shorter, valid record; anywhere else it is refused.
    if (items !== null) assert.ok(items.length < 3, `cut at ${cut}`);
  }
  const kind = Buffer.from(good);
  kind[4] = 9;
  assert.is(decodeHistory(kind), null, 'unknown kind');
  const nan = Buffer.from(good);
  nan.writeDoubleLE(Number.NaN, 5);
  assert.is(decodeHistory(nan), null, 'seqno not an integer');
  const neg = Buffer.from(good);
  neg.writeDoubleLE(-1, 5);
  assert.is(decodeHistory(neg), null, 'negative seqno');
  const noKey = encodeHistory([{ unit: 1, reset: null, records: [[4, 'p', key('k')]] }]);
  noKey.writeUInt16LE(0, noKey.length - 3);
  assert.is(decodeHistory(noKey.subarray(0, noKey.length - 1)), null, 'a record with an empty key');
  const longKey = encodeHistory([{ unit: 1, reset: null, records: [[4, 'p', key('k')]] }]);
  longKey.writeUInt16LE(500, longKey.length - 3);
  assert.is(decodeHistory(longKey), null, 'a key longer than the record');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    const items = decodeHistory(bytes);
    return items === null || items.every((i) => Number.isSafeInteger(i.seq) && (i.isReset || (i.key !== null && i.key.length > 0)));
  }), { numRuns: 2000 });
});

test('histories are rebuilt whole up to each unit\'s mark: resets and gaps start them again, others are dropped', () => {
  const marks = new Map([[1, 6], [2, 3], [3, 9], [4, 2]]);
  const commits: HistoryItem[][] = [
    [rec(1, 1), rec(1, 2), rec(2, 1), rec(9, 1)],
    [rec(1, 3), reset(2, 1), rec(2, 2), rec(3, 4)],
    [rec(1, 4), rec(2, 3), rec(3, 8), rec(3, 9)],
    [rec(1, 5), rec(1, 6), rec(4, 1)],
  ];
  const h = rebuildHistories(commits, marks);
  assert.equal(h.get(1)!.map((e) => e[0]), [0, 1, 2, 3, 4, 5, 6]);
  assert.is(h.get(1)![0][1], null, 'the point before the first record has no known fingerprint');
  assert.equal(h.get(2)!.map((e) => [e[0], e[1]]), [[1, 'a1'], [2, 'p2'], [3, 'p3']], 'a reset is the anchor');
  assert.equal(h.get(3)!.map((e) => e[0]), [7, 8, 9], 'a gap starts the unit again at the record after it');
  assert.not.ok(h.has(4), 'history ends before the mark');
  assert.not.ok(h.has(9), 'a unit with no mark');
});

/** A replication stand-in: per unit a seqno and its records' fingerprints and keys. */
class FakeSource implements UnitMarkSource {
  readonly seqs = new Map<number, number>();
  readonly records = new Map<number, Array<[number, string, Uint8Array]>>();
  /** Units whose records the change log "lost" (history starts again at the mark). */
  readonly forgotten = new Set<number>();

  write(unit: number, k: string): void {
    const seq = (this.seqs.get(unit) ?? 0) + 1;
    this.seqs.set(unit, seq);
    const list = this.records.get(unit) ?? [];
    list.push([seq, `p${unit}.${seq}`, key(k)]);
    this.records.set(unit, list);
  }

  unitSeqs(): ReadonlyMap<number, number> {
    return this.seqs;
  }

  printAt(unit: number, seq: number): string | null {
    return seq === 0 ? null : `p${unit}.${seq}`;
  }

  historySince(unit: number, since: number, to: number): Array<[number, string, Uint8Array]> | null {
    if (this.forgotten.has(unit)) return null;
    return (this.records.get(unit) ?? []).filter(([s]) => s > since && s <= to);
  }
}

test('the engine commits each unit\'s history with its data, loads it back, and trims the oldest past its budget', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-history-test-'));
  try {
    const path = join(dir, 'engine');
    const src = new FakeSource();
    let engine = new DiskEngine({ path, nodeId: 'n', expirySweepIntervalMs: 0 });
    engine.setUnitMarkSource(src);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++) {
        const unit = i % 3;
        const k = `r${round}:${i}`;
        engine.set(k, key('v'), 0, 0);
        src.write(unit, k);
      }
      await engine.whenDurable();
    }
    src.forgotten.add(2);
    engine.set('late', key('v'), 0, 0);
    src.write(2, 'late');
    await engine.whenDurable();
    await engine.close();
    engine = new DiskEngine({ path, nodeId: 'n', expirySweepIntervalMs: 0 });
    const h = engine.unitHistories();
    const u0 = h.get(0)!;
    assert.is(u0.length, 1 + src.seqs.get(0)!, 'every record of unit 0 since it began, and the point before');
    assert.equal(u0.at(-1), [src.seqs.get(0)!, `p0.${src.seqs.get(0)!}`, key('r19:9')]);
    assert.equal(u0[1], [1, 'p0.1', key('r0:0')]);
    assert.not.ok(h.has(2), 'a unit whose history started again at its mark has nothing to roll back');
    await engine.close();
    // A budget of a few commits: the newest are kept, whole up to the marks.
    engine = new DiskEngine({ path, nodeId: 'n', expirySweepIntervalMs: 0, historyMaxBytes: 600 });
    engine.setUnitMarkSource(src);
    for (let i = 0; i < 30; i++) {
      engine.set(`more:${i}`, key('v'), 0, 0);
      src.write(1, `more:${i}`);
      await engine.whenDurable();
    }
    await engine.close();
    engine = new DiskEngine({ path, nodeId: 'n', expirySweepIntervalMs: 0 });
    const u1 = engine.unitHistories().get(1)!;
    assert.ok(u1.length > 5 && u1.length < 40, `unit 1 keeps ${u1.length} entries`);
    assert.is(u1.at(-1)![0], src.seqs.get(1));
    for (let i = 2; i < u1.length; i++) assert.is(u1[i]![0], u1[i - 1]![0] + 1);
    assert.not.ok(engine.unitHistories().has(0), 'unit 0\'s records were all trimmed');
    await engine.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
