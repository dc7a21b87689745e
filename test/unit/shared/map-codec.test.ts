import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Decoder, Encoder } from 'cbor-x';
import { staticMap, type ClusterMap } from '../../../shared/cluster-map.js';
import { applyDelta, decodeDelta, decodeMap, diffMaps, encodeDelta, encodeMap, runsFromUnits, unitChains } from '../../../shared/map-codec.js';
import { MapTracker, diffSummary } from '../../../shared/map-tracker.js';
import { decodeClientMessage, decodeServerMessage, encodeMapMessage } from '../../../shared/map-protocol.js';

const test = suite('shared - map codec, deltas and tracker');

/** A map with `nodes` nodes and per-unit chains drawn from `pick`. */
function mapWith(nodes: number, unitBits: number, bits: number, pick: (u: number) => number, rev = 1, epoch = 1): ClusterMap {
  const base = staticMap(Array.from({ length: nodes }, (_, i) => `ws://127.0.0.1:${7000 + i}`), bits);
  const units = new Int32Array(2 ** unitBits);
  for (let u = 0; u < units.length; u++) units[u] = pick(u) % nodes;
  return { ...base, epoch, rev, unitBits, chains: base.nodes.map((_, i) => [i]), ...runsFromUnits(units, unitBits, bits) };
}

test('a map survives an encode/decode round trip', () => {
  const m = mapWith(5, 8, 20, (u) => (u * 7) >> 3);
  m.moves = [{ unit: 3, from: 0, to: 1, phase: 'backfill' }];
  assert.equal(decodeMap(encodeMap(m)), m);
});

test('a map for 2^20 buckets and 100 nodes stays within tens of KiB', () => {
  const m = mapWith(100, 14, 20, (u) => (u * 2654435761) >>> 7);
  const bytes = encodeMap(m).length;
  assert.ok(bytes < 64 * 1024, `${bytes} bytes`);
});

test('a delta turns the base map into the next one', () => {
  fc.assert(fc.property(fc.array(fc.nat(), { minLength: 64, maxLength: 64 }), fc.array(fc.nat(), { minLength: 64, maxLength: 64 }), (a, b) => {
    const base = mapWith(4, 6, 12, (u) => a[u]!, 3, 2);
    const next = mapWith(4, 6, 12, (u) => b[u]!, 4, 3);
    const delta = diffMaps(base, next)!;
    const applied = applyDelta(base, decodeDelta(encodeDelta(delta)));
    assert.equal(applied, next);
  }), { numRuns: 100 });
});

test('a delta is refused when the grid changed or the base is another rev', () => {
  const a = mapWith(2, 4, 10, (u) => u);
  const b = mapWith(2, 5, 10, (u) => u, 2);
  assert.is(diffMaps(a, b), null);
  const c = mapWith(2, 4, 10, (u) => u + 1, 2);
  const d = diffMaps(a, c)!;
  assert.throws(() => applyDelta({ ...a, rev: 9 }, d), TypeError);
});

test('malformed maps and deltas raise TypeError, never anything else', () => {
  const good = encodeMap(mapWith(3, 4, 8, (u) => u));
  const inputs: Uint8Array[] = [new Uint8Array([]), new Uint8Array([0xff]), Buffer.from([0x80]), good.subarray(0, good.length - 3)];
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    for (const fn of [decodeMap, decodeDelta]) {
      try {
        fn(bytes);
      } catch (err) {
        assert.instance(err, TypeError);
      }
    }
  }), { numRuns: 500 });
  for (const bytes of inputs) assert.throws(() => decodeMap(bytes), TypeError);
  // Chains that point at missing nodes, runs out of order.
  const m = mapWith(2, 4, 8, (u) => u);
  assert.throws(() => decodeMap(encodeMap({ ...m, chains: [[0], [5]] })), TypeError);
  assert.throws(() => decodeMap(encodeMap({ ...m, runStarts: [0, 32, 16, 48], runChains: [0, 1, 0, 1] })), TypeError);
});

test('unitChains and runsFromUnits are inverses', () => {
  const m = mapWith(3, 6, 16, (u) => Math.floor(u / 5));
  assert.equal(runsFromUnits(unitChains(m), m.unitBits, m.bits), { runStarts: m.runStarts, runChains: m.runChains });
});

test('the tracker keeps only strictly newer maps and asks for a full map when a delta does not fit', () => {
  const t = new MapTracker();
  const m1 = mapWith(2, 4, 8, (u) => u, 1, 1);
  const m2 = mapWith(2, 4, 8, (u) => u + 1, 2, 2);
  assert.is(t.accept({ t: 'delta', delta: encodeDelta(diffMaps(m1, m2)!) }).kind, 'resync');
  assert.is(t.accept({ t: 'full', map: encodeMap(m1) }).kind, 'map');
  assert.is(t.accept({ t: 'full', map: encodeMap(m1) }).kind, 'stale');
  const r = t.accept({ t: 'delta', delta: encodeDelta(diffMaps(m1, m2)!) });
  assert.is(r.kind, 'map');
  assert.equal(t.current, m2);
  assert.is(t.accept({ t: 'full', map: new Uint8Array([1, 2, 3]) }).kind, 'resync');
  assert.equal(t.subscribeMessage(), { t: 'sub', rev: 2, epoch: 2 });
});

test('the map diff counts buckets whose active node changed', () => {
  const a = mapWith(2, 4, 8, () => 0);
  const b = mapWith(2, 4, 8, (u) => (u < 4 ? 1 : 0), 2, 2);
  const d = diffSummary(a, b);
  assert.is(d.movedBuckets, 4 * 16);
  assert.ok(d.epochChanged);
});

test('map-service messages are validated field by field', () => {
  assert.equal(decodeClientMessage(encodeMapMessage({ t: 'sub', rev: 3, epoch: 1 })), { t: 'sub', rev: 3, epoch: 1 });
  const node = { id: 'n1', address: 'ws://127.0.0.1:1', zone: '', weight: 1, peerKey: null };
  assert.equal(decodeClientMessage(encodeMapMessage({ t: 'register', node })), { t: 'register', node });
  const bad: unknown[] = [
    { t: 'sub', rev: -1, epoch: 0 }, { t: 'sub' }, { t: 'nope' }, [1, 2], 'text',
    { t: 'register', node: { ...node, id: '' } }, { t: 'register', node: { ...node, address: 'http://x' } },
    { t: 'register', node: { ...node, weight: 0 } }, { t: 'register', node: { ...node, peerKey: 'zz' } },
    { t: 'hb', id: 'n1', rev: 'x', epoch: 0 },
    { t: 'hb', id: 'n1', rev: 1, epoch: 0, re: -1 }, { t: 'hb', id: 'n1', rev: 1, epoch: 0, re: 'x' }, { t: 'hb', id: 'n1', rev: 1, epoch: 0, re: 1.5 },
  ];
  for (const b of bad) assert.is(decodeClientMessage(encodeMapMessage(b as never)), null, JSON.stringify(b));
  assert.is(decodeClientMessage(new Uint8Array([0xff, 0x00])), null);
  assert.is(decodeServerMessage(encodeMapMessage({ t: 'full', map: 'x' } as never)), null);
  assert.equal(decodeServerMessage(encodeMapMessage({ t: 'registered', id: 'n1', heartbeatMs: 100 })), { t: 'registered', id: 'n1', heartbeatMs: 100 });
  assert.equal(decodeServerMessage(encodeMapMessage({ t: 'registered', id: 'n1', heartbeatMs: 100, wasFailed: true })), { t: 'registered', id: 'n1', heartbeatMs: 100, wasFailed: true });
  assert.equal(decodeClientMessage(encodeMapMessage({ t: 'hb', id: 'n1', rev: 1, epoch: 0, seq: 2, re: 7 })), { t: 'hb', id: 'n1', rev: 1, epoch: 0, seq: 2, re: 7 });
  assert.equal(decodeServerMessage(encodeMapMessage({ t: 'report', n: 3 })), { t: 'report', n: 3 });
  for (const n of [-1, 'x', null, 2 ** 60, 0.5]) assert.is(decodeServerMessage(encodeMapMessage({ t: 'report', n } as never)), null, `report n ${String(n)}`);
  for (const wasFailed of ['yes', 1, null, {}]) {
    assert.is(decodeServerMessage(encodeMapMessage({ t: 'registered', id: 'n1', heartbeatMs: 100, wasFailed } as never)), null, `wasFailed ${JSON.stringify(wasFailed)}`);
  }
});


test('the manager list travels with the map and its deltas, the leader first', () => {
  const m = mapWith(3, 4, 10, (u) => u);
  m.managers = [
    { id: 'a1', address: 'http://127.0.0.1:9001', publicKey: 'ab'.repeat(32) },
    { id: 'b2', address: 'http://127.0.0.1:9002', publicKey: null },
  ];
  assert.equal(decodeMap(encodeMap(m)), m);
  const next = { ...m, rev: m.rev + 1, managers: [m.managers[1]!] };
  assert.equal(applyDelta(m, decodeDelta(encodeDelta(diffMaps(m, next)!))), next);
});

test('a map written in format 1 (no manager list) still decodes', () => {
  const m = mapWith(2, 4, 10, (u) => u);
  const wire = decoderFor(encodeMap(m));
  // Format 1: no managers element in the header.
  const old = [1, ...wire.slice(1, 8), ...wire.slice(9)];
  assert.equal(decodeMap(reencode(old)), m);
});

test('hostile manager lists are refused with a TypeError', () => {
  const m = mapWith(2, 4, 10, (u) => u);
  const wire = decoderFor(encodeMap(m));
  const bad: unknown[] = [
    'x', [['id']], [[1, 'http://127.0.0.1:1', null]], [['', 'http://127.0.0.1:1', null]], [['a', 'ftp://x', null]],
    [['a', 'http://127.0.0.1:1', 'zz']], Array.from({ length: 65 }, (_, i) => [`m${i}`, 'http://127.0.0.1:1', null]),
  ];
  for (const managers of bad) {
    const copy = [...wire];
    copy[8] = managers;
    assert.throws(() => decodeMap(reencode(copy)), TypeError, JSON.stringify(managers).slice(0, 40));
  }
  assert.throws(() => decodeMap(reencode([3, ...wire.slice(1)])), /unknown map format/);
});

function decoderFor(bytes: Uint8Array): unknown[] {
  return new Decoder({ useRecords: false, mapsAsObjects: true }).decode(bytes) as unknown[];
}

function reencode(v: unknown[]): Uint8Array {
  return new Encoder({ useRecords: false, variableMapSize: true, tagUint8Array: false }).encode(v);
}

test.run();
