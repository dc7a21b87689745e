import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { decodeClientMessage, encodeMapMessage } from '../../../../shared/map-protocol.js';
import { LoadMeter } from '../../../../cluster/node/load-meter.js';

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
