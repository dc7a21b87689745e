import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { runBackupOp, type BackupHost, type UnitHistory } from '../../../cluster/node/backup-op.js';
import { ChangeLog } from '../../../cluster/node/replication/change-log.js';
import { MemoryEngine } from '../../../cluster/node/engine/memory-engine.js';
import type { ReplRecord } from '../../../cluster/node/replication/records.js';
import { decodeRequests, encodeMessage } from '../../../shared/protocol/codec.js';
import { backupChangesRequest, backupPageRequest } from '../../../shared/protocol/backup-frames.js';
import type { Request } from '../../../shared/protocol/frames.js';
import { bucketOfBinary } from '../../../shared/keystream.js';
import { Status } from '../../../shared/status.js';
import { UnitSnapshot } from '../../../shared/backup/unit-snapshot.js';

const test = suite('cluster node - backup ops (page at a seqno, change records)');

const BITS = 8;
const UNIT_BITS = 2;
const unitOfKey = (key: string): number => Math.floor(bucketOfBinary(key, BITS) / 2 ** (BITS - UNIT_BITS));

/** An engine and a replicator-like history: every write gets its unit's next seqno and a record. */
class Fixture implements UnitHistory {
  readonly engine = new MemoryEngine({ memorySizeMb: 16 });
  readonly seqs = new Map<number, number>();
  readonly log: ChangeLog;
  copying = new Set<number>();

  constructor(logBytes = 1 << 20) {
    this.log = new ChangeLog(logBytes);
  }

  set(key: string, value: string | null, flags = 0, expAt = 0): void {
    if (value === null) this.engine.delete(key);
    else this.engine.set(key, Buffer.from(value), flags, expAt);
    const unit = unitOfKey(key);
    const seq = (this.seqs.get(unit) ?? 0) + 1;
    this.seqs.set(unit, seq);
    const it = this.engine.peek(key);
    const r: ReplRecord = [unit, seq, Buffer.from(key, 'latin1'), it?.value ?? null, it?.flags ?? 0, it?.expAt ?? 0];
    this.log.append(r);
  }

  unitSeq(unit: number): number | null {
    return this.copying.has(unit) ? null : this.seqs.get(unit) ?? 0;
  }

  unitChangesSince(unit: number, since: number): { seq: number; records: readonly ReplRecord[] } | null {
    if (this.copying.has(unit)) return null;
    const seq = this.seqs.get(unit) ?? 0;
    const records = this.log.since(unit, since, seq);
    return records === null ? null : { seq, records };
  }
}

function hostOf(f: Fixture | null, over: Partial<BackupHost> = {}): BackupHost {
  return { epoch: 5, bits: BITS, activeRanges: () => [[0, 128]], isServing: () => true, unitBits: () => UNIT_BITS, history: () => f, ...over };
}

function req(frame: unknown[], epoch = 5): Request {
  frame[0] = 1;
  frame[2] = epoch;
  const out = decodeRequests(encodeMessage([frame]));
  if (out.requests.length !== 1) throw new Error(JSON.stringify(out));
  return out.requests[0]!;
}

const page = (units: number[], after: Uint8Array | null = null, limit = 100): unknown[] => backupPageRequest(after, units, BITS, UNIT_BITS, limit);

test('refusals read nothing: other epoch, no lease, not active for a unit, another layout (NOT_MY_BUCKET); no map or no history (UNAVAILABLE); a unit being copied (BUSY)', () => {
  const f = new Fixture();
  f.set('a', '1');
  const nmb = (frame: unknown[]): void => assert.is(frame[1], Status.NOT_MY_BUCKET);
  nmb(runBackupOp(req(page([0]), 4), f.engine, hostOf(f)));
  nmb(runBackupOp(req(page([0])), f.engine, hostOf(f, { isServing: () => false })));
  // Active for units 0 and 1 only (buckets [0, 128) of 256).
  assert.is(runBackupOp(req(page([1])), f.engine, hostOf(f))[1], Status.OK);
  nmb(runBackupOp(req(page([1, 2])), f.engine, hostOf(f)));
  nmb(runBackupOp(req(backupPageRequest(null, [0], BITS, 3, 10)), f.engine, hostOf(f)));
  nmb(runBackupOp(req(backupChangesRequest([3], [0], BITS, UNIT_BITS)), f.engine, hostOf(f)));
  const noMap = runBackupOp(req(page([0])), f.engine, hostOf(f, { unitBits: () => null }));
  assert.is(noMap[1], Status.UNAVAILABLE);
  const noHistory = runBackupOp(req(page([0])), f.engine, hostOf(null));
  assert.is(noHistory[1], Status.UNAVAILABLE);
  assert.match(String((noHistory[5] as { message: string }).message), /peer plane/);
  f.copying.add(0);
  assert.is(runBackupOp(req(page([0])), f.engine, hostOf(f))[1], Status.BUSY);
  assert.equal(runBackupOp(req(backupChangesRequest([0], [0], BITS, UNIT_BITS)), f.engine, hostOf(f))[2], [[0, null, null]]);
});

test('pages hold only the asked units, each item once, with the seqnos read in the same turn', () => {
  const f = new Fixture();
  for (let i = 0; i < 500; i++) f.set(`key:${i}`, `v${i}`, i % 3);
  const host = hostOf(f, { activeRanges: () => [[0, 256]] });
  const seen: string[] = [];
  let after: Uint8Array | null = null;
  let seqs: unknown = null;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 100);
    const a = runBackupOp(req(page([1, 3], after, 37)), f.engine, host);
    assert.is(a[1], Status.OK);
    const flat = a[2] as unknown[];
    assert.ok(flat.length / 4 <= 37);
    for (let i = 0; i < flat.length; i += 4) seen.push(Buffer.from(flat[i] as Uint8Array).toString('latin1'));
    const extra = a[5] as { next: Uint8Array | null; seqs: number[]; epoch: number };
    assert.is(extra.epoch, 5);
    seqs ??= extra.seqs;
    if (extra.next === null) break;
    after = extra.next;
  }
  const want = Array.from({ length: 500 }, (_, i) => `key:${i}`).filter((k) => [1, 3].includes(unitOfKey(k))).sort();
  assert.equal(seen, want);
  assert.equal(seqs, [1, f.seqs.get(1), 3, f.seqs.get(3)]);
});

test('a page is cut short at its byte budget and resumes after its last item', () => {
  const f = new Fixture();
  for (let i = 0; i < 50; i++) f.set(`big:${i}`, 'x'.repeat(1000));
  const host = hostOf(f, { activeRanges: () => [[0, 256]] });
  const a = runBackupOp(req(page([0, 1, 2, 3], null, 1000)), f.engine, host, { maxPageBytes: 5000, maxChangeBytes: 1 << 20, extraKeysPerPage: 100 });
  const n = (a[2] as unknown[]).length / 4;
  assert.ok(n >= 5 && n < 50, `${n} items`);
  assert.ok((a[5] as { next: unknown }).next instanceof Uint8Array);
});

test('pages from S0 plus the records (S0, S1] give the unit exactly as it is at S1, writes between pages included', () => {
  const f = new Fixture();
  for (let i = 0; i < 300; i++) f.set(`k${i}`, `a${i}`, 1);
  const host = hostOf(f, { activeRanges: () => [[0, 256]] });
  const unit = 2;
  let snap: UnitSnapshot | null = null;
  let after: Uint8Array | null = null;
  let step = 0;
  for (;;) {
    const a = runBackupOp(req(page([unit], after, 10)), f.engine, host);
    const extra = a[5] as { next: Uint8Array | null; seqs: number[] };
    snap ??= new UnitSnapshot(unit, extra.seqs[1]!);
    const flat = a[2] as unknown[];
    for (let i = 0; i < flat.length; i += 4) snap.put(flat[i] as Uint8Array, flat[i + 1] as Uint8Array, flat[i + 2] as number, flat[i + 3] as number);
    // Writes while the unit is paged: overwrites, deletes, new keys on both sides of the cursor.
    f.set(`k${step * 7}`, `b${step}`, 2);
    f.set(`k${step * 11 + 1}`, null);
    f.set(`new${step}`, `n${step}`, 3);
    step++;
    if (extra.next === null) break;
    after = extra.next;
  }
  const c = runBackupOp(req(backupChangesRequest([unit], [snap!.startSeq], BITS, UNIT_BITS)), f.engine, host);
  const [[u, seq, recs]] = c[2] as Array<[number, number, unknown[]]>;
  assert.is(u, unit);
  assert.is(seq, f.seqs.get(unit));
  for (let i = 0; i < recs.length; i += 4) snap!.apply(recs[i] as Uint8Array, recs[i + 1] as Uint8Array | null, recs[i + 2] as number, recs[i + 3] as number);
  const got = snap!.sorted(0).map((it) => `${Buffer.from(it.key).toString()}=${Buffer.from(it.value).toString()}/${it.flags}`).sort();
  const want: string[] = [];
  for (let next: string | null = ''; next !== null;) {
    const p = f.engine.page(next === '' ? null : next, 1000, 100_000, (k) => unitOfKey(k) === unit);
    for (const it of p.items) want.push(`${it.key}=${Buffer.from(it.value).toString()}/${it.flags}`);
    next = p.next;
  }
  assert.ok(step > 3, `${step} pages`);
  assert.equal(got, want.sort());
});

test('changes: null for a unit whose log no longer reaches back, units past the byte budget left out', () => {
  const f = new Fixture(2000);
  for (let i = 0; i < 200; i++) f.set(`k${i}`, 'x'.repeat(40));
  const host = hostOf(f, { activeRanges: () => [[0, 256]] });
  const a = runBackupOp(req(backupChangesRequest([0, 1, 2, 3], [0, 0, 0, 0], BITS, UNIT_BITS)), f.engine, host);
  for (const [, seq, recs] of a[2] as Array<[number, unknown, unknown]>) {
    assert.is(seq, null);
    assert.is(recs, null);
  }
  const g = new Fixture();
  for (let i = 0; i < 200; i++) g.set(`k${i}`, 'x'.repeat(40));
  const b = runBackupOp(req(backupChangesRequest([0, 1, 2, 3], [0, 0, 0, 0], BITS, UNIT_BITS)), g.engine, hostOf(g, { activeRanges: () => [[0, 256]] }), { maxPageBytes: 1 << 20, maxChangeBytes: 3000, extraKeysPerPage: 100 });
  const answered = (b[2] as Array<[number]>).map(([u]) => u);
  assert.ok(answered.length >= 1 && answered.length < 4, `answered ${answered.join(',')}`);
  assert.equal(answered, [0, 1, 2, 3].slice(0, answered.length));
});

test.run();
