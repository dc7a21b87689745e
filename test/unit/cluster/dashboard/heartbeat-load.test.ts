import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import {
  decodeClientMessage, decodeServerMessage, encodeMapMessage, MAX_PROBED_KEYS, MAX_REPORTED_EVENTS, type KeySizeReport, type NodeEventReport,
} from '../../../../shared/map-protocol.js';
import { LoadMeter } from '../../../../cluster/node/load-meter.js';
import { DashboardReporter, MAX_PENDING_EVENTS } from '../../../../cluster/node/dashboard-report.js';
import { MemoryEngine } from '../../../../cluster/node/engine/memory-engine.js';
import { EventLog } from '../../../../shared/event-log.js';

const test = suite('dashboard - heartbeat load report and the node load meter');

const load = { ops: 10, items: 3, memoryBytes: 300, p50Us: 20, p99Us: 90, hintsPending: 0 };

test('a heartbeat carries an optional load report, checked field by field; a bad one is dropped, not the heartbeat', () => {
  const hb = { t: 'hb', id: 'n1', rev: 1, epoch: 1 } as const;
  assert.equal(decodeClientMessage(encodeMapMessage(hb)), hb, 'no report: still valid (older nodes)');
  assert.equal(decodeClientMessage(encodeMapMessage({ ...hb, load })), { ...hb, load });
  assert.equal(decodeClientMessage(encodeMapMessage({ ...hb, load: { ...load, isFenced: true } })), { ...hb, load: { ...load, isFenced: true } });
  const bad: unknown[] = [
    null, 'x', [], {}, { ...load, ops: -1 }, { ...load, items: 1.5 }, { ...load, memoryBytes: '1' }, { ...load, p99Us: Number.MAX_VALUE },
    { ...load, isFenced: 'no' }, { ...load, hintsPending: undefined },
  ];
  for (const b of bad) assert.equal(decodeClientMessage(encodeMapMessage({ ...hb, load: b } as never)), hb, JSON.stringify(b));
});

const key = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

test("a heartbeat's key sizes and node events are checked; bad ones are dropped, never the heartbeat", () => {
  const hb = { t: 'hb', id: 'n1', rev: 1, epoch: 1, seq: 4 } as const;
  const sizes: KeySizeReport[] = [{ key: key('user:42'), bytes: 10 }, { key: key('gone'), bytes: null }];
  const events: NodeEventReport[] = [{ n: 1, at: 1_700_000_000_000, name: 'fence', fields: { epoch: 3, late_ms: 12, reason: 'x', ok: false, none: null } }];
  const back = decodeClientMessage(encodeMapMessage({ ...hb, sizes, events })) as { sizes: Array<{ key: Uint8Array; bytes: number | null }>; events: unknown };
  assert.equal(back.sizes.map((x) => [Buffer.from(x.key).toString(), x.bytes]), [['user:42', 10], ['gone', null]]);
  assert.equal(back.events, events);
  const badSizes: unknown[] = [
    null, 'x', {}, [{ key: 'user:42', bytes: 1 }], [{ key: key(''), bytes: 1 }], [{ key: new Uint8Array(251), bytes: 1 }],
    [{ key: key('k'), bytes: -1 }], [{ key: key('k'), bytes: 1.5 }], [{ key: key('k') }],
    Array.from({ length: MAX_PROBED_KEYS + 1 }, () => ({ key: key('k'), bytes: 1 })),
  ];
  for (const b of badSizes) assert.equal(decodeClientMessage(encodeMapMessage({ ...hb, sizes: b } as never)), hb, `sizes ${JSON.stringify(b)}`);
  const e = events[0]!;
  const badEvents: unknown[] = [
    null, {}, [null], [{ ...e, n: -1 }], [{ ...e, at: 'now' }], [{ ...e, name: 'Fence!' }], [{ ...e, name: 'x'.repeat(65) }], [{ ...e, fields: [] }],
    [{ ...e, fields: { 'Bad Key': 1 } }], [{ ...e, fields: { a: { nested: 1 } } }], [{ ...e, fields: { a: 'x'.repeat(257) } }],
    [{ ...e, fields: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`f${i}`, i])) }],
    Array.from({ length: MAX_REPORTED_EVENTS + 1 }, () => e),
  ];
  for (const b of badEvents) assert.equal(decodeClientMessage(encodeMapMessage({ ...hb, events: b } as never)), hb, `events ${JSON.stringify(b)}`);
});

test("an acknowledgement's probe is checked; a bad one is dropped, never the acknowledgement", () => {
  const ack = { t: 'hb-ack', seq: 3, epoch: 2 } as const;
  assert.equal(decodeServerMessage(encodeMapMessage(ack)), ack);
  const withProbe = decodeServerMessage(encodeMapMessage({ ...ack, probe: [key('a'), key('b')] })) as { probe: Uint8Array[] };
  assert.equal(withProbe.probe.map((k) => Buffer.from(k).toString()), ['a', 'b']);
  const bad: unknown[] = [null, 'a', {}, ['a'], [key('')], [new Uint8Array(251)], Array.from({ length: MAX_PROBED_KEYS + 1 }, () => key('a'))];
  for (const b of bad) assert.equal(decodeServerMessage(encodeMapMessage({ ...ack, probe: b } as never)), ack, JSON.stringify(b));
});

test("the node answers a probe with its copy's value size, never the value, and resends its events until acknowledged", () => {
  const engine = new MemoryEngine({ memorySizeMb: 8 });
  const log = new EventLog({ component: 'node', write: () => undefined });
  const r = new DashboardReporter(engine, log);
  try {
    assert.equal(r.forHeartbeat(1), {}, 'nothing probed, nothing to relay');
    engine.set('user:42', new Uint8Array(1234), 0, 0);
    engine.set('old', new Uint8Array(5), 0, -1);
    r.onAck(1, [key('user:42'), key('missing'), key('old')]);
    const sizes = r.forHeartbeat(2).sizes!;
    assert.equal(sizes.map((s) => s.bytes), [1234, null, null], 'held, not held, expired');
    assert.ok(sizes.every((s) => Object.keys(s).join() === 'key,bytes'), 'only the key and its size travel');
    engine.set('user:42', new Uint8Array(7), 0, 0);
    assert.is(r.forHeartbeat(3).sizes![0]!.bytes, 7, 'a rewrite with another length');
    const hits = engine.stats().hits;
    r.forHeartbeat(4);
    assert.is(engine.stats().hits, hits, 'a probe is not a read');
    r.onAck(4, undefined);
    assert.is(r.forHeartbeat(5).sizes, undefined, 'an ack without a probe stops it');

    log.record('fence', { epoch: 2 });
    log.record('manager-switch', { from: 'a', to: 'b' });
    log.record('unfence', { epoch: 2 });
    assert.equal(r.forHeartbeat(6).events!.map((e) => [e.n, e.name]), [[1, 'fence'], [2, 'unfence']], 'only timeline events');
    assert.is(r.forHeartbeat(7).events!.length, 2, 'resent while unacknowledged');
    log.record('rollback', { units: 1 });
    r.onAck(6, undefined);
    assert.equal(r.forHeartbeat(8).events!.map((e) => e.name), ['rollback'], 'acknowledged ones are dropped');
    r.onAck(8, undefined);
    assert.is(r.forHeartbeat(9).events, undefined);
    for (let i = 0; i < MAX_PENDING_EVENTS + 10; i++) log.record('hint-replay', { delivered: i });
    const batch = r.forHeartbeat(10).events!;
    assert.is(batch.length, MAX_REPORTED_EVENTS, 'a heartbeat carries a bounded batch');
    assert.is(batch[0]!.fields.delivered, 10, 'the oldest are dropped past the bound');
  } finally {
    r.close();
  }
});

test('the load meter counts requests and reports percentiles per interval', () => {
  const m = new LoadMeter();
  assert.equal(m.takePercentiles(), { p50Us: 0, p99Us: 0 }, 'idle');
  for (let i = 0; i < 98; i++) m.record(10);
  m.record(1000, 2);
  assert.is(m.ops, 100);
  const p = m.takePercentiles();
  assert.ok(p.p50Us >= 10 && p.p50Us <= 11, `p50 ${p.p50Us}`);
  assert.ok(p.p99Us >= 1000 && p.p99Us <= 1100, `p99 ${p.p99Us}`);
  assert.equal(m.takePercentiles(), { p50Us: 0, p99Us: 0 }, 'a new interval starts empty');
  assert.is(m.ops, 100, 'the request count is cumulative');
  m.record(0.2);
  m.record(1e12);
  m.record(5, 0);
  assert.is(m.ops, 102);
  assert.ok(m.takePercentiles().p99Us > 0);
});

test.run();
