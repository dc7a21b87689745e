import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { EventEmitter } from 'eventemitter3';
import { ClusterBackup, type UnitSink } from '../../../sdk/backup/cluster-backup.js';
import type { MapSource, MapSourceEvents } from '../../../sdk/map-source.js';
import { runBackupOp, type BackupHost, type UnitHistory } from '../../../cluster/node/backup-op.js';
import { ChangeLog } from '../../../cluster/node/replication/change-log.js';
import { MemoryEngine } from '../../../cluster/node/engine/memory-engine.js';
import type { ReplRecord } from '../../../cluster/node/replication/records.js';
import { decodeRequests, decodeResponses, encodeMessage } from '../../../shared/protocol/codec.js';
import { Op } from '../../../shared/protocol/ops.js';
import type { Response } from '../../../shared/protocol/frames.js';
import type { ClusterMap } from '../../../shared/cluster-map.js';
import { bucketOfBinary } from '../../../shared/keystream.js';
import { activeRanges } from '../../../shared/cluster-map.js';
import type { BackupItem } from '../../../shared/backup/backup-format.js';

const test = suite('sdk - cluster backup (re-reads after a move, a split, an overtaken change log)');

const BITS = 8;

/** Node `i` active for half the buckets; `flip` swaps the halves (every unit moves). */
function mapOf(epoch: number, unitBits: number, flip = false): ClusterMap {
  return {
    epoch, rev: epoch, bits: BITS, unitBits,
    nodes: [0, 1].map((i) => ({ id: `n${i}`, address: `ws://node${i}`, peerKey: null, zone: '', weight: 1, state: 'active' as const })),
    chains: [[0], [1]], runStarts: [0, 128], runChains: flip ? [1, 0] : [0, 1], moves: [],
  };
}

class Source extends EventEmitter<MapSourceEvents> implements MapSource {
  constructor(public map: ClusterMap) { super(); }
  current(): ClusterMap { return this.map; }
  refresh(): Promise<ClusterMap> { return Promise.resolve(this.map); }
  ready(): Promise<ClusterMap> { return Promise.resolve(this.map); }
  close(): void {}
}

/** Both nodes hold every key (as replicas would); each numbers units at the map it follows. */
class FakeNode implements UnitHistory {
  readonly engine = new MemoryEngine({ memorySizeMb: 16 });
  readonly seqs = new Map<number, number>();
  readonly log: ChangeLog;
  map: ClusterMap;
  constructor(readonly index: number, map: ClusterMap, logBytes: number) {
    this.map = map;
    this.log = new ChangeLog(logBytes);
  }
  write(key: string, value: string | null): void {
    if (value === null) this.engine.delete(key);
    else this.engine.set(key, Buffer.from(value), 3, 0);
    const unit = Math.floor(bucketOfBinary(key, BITS) / 2 ** (BITS - this.map.unitBits));
    const seq = (this.seqs.get(unit) ?? 0) + 1;
    this.seqs.set(unit, seq);
    const it = this.engine.peek(key);
    const r: ReplRecord = [unit, seq, Buffer.from(key, 'latin1'), it?.value ?? null, it?.flags ?? 0, it?.expAt ?? 0];
    this.log.append(r);
  }
  unitSeq(unit: number): number { return this.seqs.get(unit) ?? 0; }
  unitChangesSince(unit: number, since: number): { seq: number; records: readonly ReplRecord[] } | null {
    const seq = this.seqs.get(unit) ?? 0;
    const records = this.log.since(unit, since, seq);
    return records === null ? null : { seq, records };
  }
  host(): BackupHost {
    return { epoch: this.map.epoch, bits: BITS, activeRanges: () => activeRanges(this.map, this.index), isServing: () => true, unitBits: () => this.map.unitBits, history: () => this };
  }
  answer(frame: unknown[]): Response {
    // The lane numbers frames; the builders leave id 0.
    const req = decodeRequests(encodeMessage([[1, ...frame.slice(1)]])).requests[0]!;
    return decodeResponses(encodeMessage([runBackupOp(req, this.engine, this.host())]))![0]!;
  }
}

class Sink implements UnitSink {
  readonly entries: Array<{ unit: number; unitBits: number; node: string; items: BackupItem[] }> = [];
  writeUnit(unit: number, unitBits: number, _seq: number, _epoch: number, node: string, items: readonly BackupItem[]): void {
    this.entries.push({ unit, unitBits, node, items: [...items] });
  }
  /** key → value of everything written, checking the entries cover every bucket once. */
  contents(): Map<string, string> {
    const sorted = [...this.entries].sort((a, b) => a.unit / 2 ** a.unitBits - b.unit / 2 ** b.unitBits);
    let covered = 0;
    for (const e of sorted) {
      assert.is(e.unit / 2 ** e.unitBits, covered, `unit ${e.unit} of 2^${e.unitBits} tiles`);
      covered = (e.unit + 1) / 2 ** e.unitBits;
    }
    assert.is(covered, 1);
    const out = new Map<string, string>();
    for (const e of sorted) for (const it of e.items) out.set(Buffer.from(it.key).toString('latin1'), Buffer.from(it.value).toString());
    return out;
  }
}

function engineContents(e: MemoryEngine): Map<string, string> {
  const out = new Map<string, string>();
  const p = e.page(null, 1_000_000, 1_000_000, () => true);
  for (const it of p.items) out.set(it.key, Buffer.from(it.value).toString());
  return out;
}

function setup(logBytes = 1 << 20): { source: Source; nodes: FakeNode[]; writeAll: (k: string, v: string | null) => void } {
  const source = new Source(mapOf(1, 2));
  const nodes = [0, 1].map((i) => new FakeNode(i, source.map, logBytes));
  const writeAll = (k: string, v: string | null): void => { for (const n of nodes) n.write(k, v); };
  for (let i = 0; i < 400; i++) writeAll(`key:${i}`, `v${i}`);
  return { source, nodes, writeAll };
}

test('units whose change log was overtaken between their pages and their changes are read again and end exact', async () => {
  const { source, nodes, writeAll } = setup(4000);
  const sink = new Sink();
  let pagesSeen = 0;
  const request = async (address: string, frame: unknown[]): Promise<Response> => {
    const node = nodes[address === 'ws://node0' ? 0 : 1]!;
    if (frame[1] === Op.BACKUP_PAGE && ++pagesSeen <= 2) {
      // A burst of writes while the first passes page: far more than the log keeps.
      for (let i = 0; i < 300; i++) writeAll(`key:${i}`, `w${pagesSeen}.${i}`);
    }
    return node.answer(frame);
  };
  const backup = new ClusterBackup(source, request, sink, { backoffMs: [1] });
  const r = await backup.run();
  assert.ok(r.retries > 0, `${r.retries} re-reads`);
  assert.equal(sink.contents(), engineContents(nodes[0]!.engine));
});

test('units that moved (NOT_MY_BUCKET) are read from their new active, and units split by raised unit bits at the new bits', async () => {
  const { source, nodes, writeAll } = setup();
  const sink = new Sink();
  let requests = 0;
  // Keys of units 1 and 3 (at 2 unit bits): not cut before the move (the first passes cut 0 and 2).
  const unit2 = (k: string): number => Math.floor(bucketOfBinary(k, BITS) / 64);
  const keys = Array.from({ length: 400 }, (_, i) => `key:${i}`);
  const changed = keys.find((k) => unit2(k) === 3)!;
  const removed = keys.find((k) => unit2(k) === 1)!;
  const request = async (address: string, frame: unknown[]): Promise<Response> => {
    requests++;
    if (requests === 5) {
      // Every unit moves to the other node and the unit bits go from 2 to 3, at epoch 2.
      source.map = mapOf(2, 3, true);
      for (const n of nodes) n.map = source.map;
      writeAll(changed, 'after the move');
      writeAll(removed, null);
    }
    return nodes[address === 'ws://node0' ? 0 : 1]!.answer(frame);
  };
  const backup = new ClusterBackup(source, request, sink, { backoffMs: [1], unitsPerPass: 1 });
  const r = await backup.run();
  const bits = new Set(sink.entries.map((e) => e.unitBits));
  assert.equal([...bits].sort(), [2, 3], 'entries at both unit bits');
  assert.ok(r.retries > 0);
  const movedFrom0 = sink.entries.filter((e) => e.unitBits === 3 && e.unit < 4 && e.node === 'n1').length;
  assert.ok(movedFrom0 > 0, 'units of the first half read from node 1 after the move');
  const got = sink.contents();
  const want = engineContents(nodes[0]!.engine);
  const diff = [...new Set([...got.keys(), ...want.keys()])].filter((k) => got.get(k) !== want.get(k)).map((k) => `${k}: ${got.get(k)} vs ${want.get(k)}`);
  assert.equal(diff, []);
  assert.is(got.get(changed), 'after the move');
  assert.is(got.has(removed), false);
});

test.run();
