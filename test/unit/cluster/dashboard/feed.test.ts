import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { DashboardFeed } from '../../../../cluster/manager/dashboard/feed.js';
import type { DashboardHost } from '../../../../cluster/manager/dashboard/contract.js';
import type { NodeRecord } from '../../../../cluster/manager/node-record.js';
import type { NodeLoadReport } from '../../../../shared/map-protocol.js';
import type { ClusterMap } from '../../../../shared/cluster-map.js';
import { NodeReports } from '../../../../cluster/manager/dashboard/node-reports.js';
import { MAX_PROBED_KEYS, type NodeEventReport } from '../../../../shared/map-protocol.js';

const test = suite('dashboard - what each tick reports');

const record = (id: string): NodeRecord => ({ id, address: `ws://${id}:1`, zone: '', weight: 1, peerKey: null, state: 'active' });
const load = (ops: number, at: number): NodeLoadReport & { at: number } => ({ ops, items: 1, memoryBytes: 2, p50Us: 3, p99Us: 4, hintsPending: 0, at });

function host(map: ClusterMap | null = null): DashboardHost & { loads: Map<string, NodeLoadReport & { at: number }>; repl: Map<string, { backfilling: number; seqnos: Record<number, number>; copiedBytes: number }> } {
  const loads = new Map<string, NodeLoadReport & { at: number }>();
  const repl = new Map<string, { backfilling: number; seqnos: Record<number, number>; copiedBytes: number }>();
  return {
    loads, repl, address: 'http://m', map, records: new Map([['a', record('a')], ['b', record('b')]]), live: new Set(['a']),
    appliedRev: new Map([['a', 3]]), replication: repl, load: loads, isLeader: true,
    progress: () => ({ rev: 1, applied: 1, total: 1, isDone: true, isRestoreHeld: false, moves: { isMoving: false, isStopped: false, unitsMoved: 0, unitsLeft: 0, batches: 0, bytesCopied: 0, lastWarning: null } }),
    onMap: () => () => undefined, events: null, auth: null, connections: null,
  };
}

test('ops/s is the rate between two load reports; a restarted node has none for that interval', () => {
  const h = host();
  const feed = new DashboardFeed(h);
  let [a, b] = feed.nodes();
  assert.equal({ id: a!.id, isLive: a!.isLive, appliedRev: a!.appliedRev, load: a!.load, ops: a!.opsPerSec }, { id: 'a', isLive: true, appliedRev: 3, load: null, ops: null });
  assert.equal({ isLive: b!.isLive, appliedRev: b!.appliedRev, backfilling: b!.backfilling }, { isLive: false, appliedRev: null, backfilling: null });
  h.loads.set('a', load(100, 1000));
  assert.is(feed.nodes()[0]!.opsPerSec, null, 'one report: no rate yet');
  h.loads.set('a', load(600, 2000));
  assert.is(feed.nodes()[0]!.opsPerSec, 500);
  assert.is(feed.nodes()[0]!.opsPerSec, 500, 'the same report again keeps its rate');
  h.loads.set('a', load(10, 3000));
  assert.is(feed.nodes()[0]!.opsPerSec, null, 'the counter went back: a restart');
  h.repl.set('b', { backfilling: 2, seqnos: {}, copiedBytes: 7 });
  [, b] = feed.nodes();
  assert.equal({ backfilling: b!.backfilling, copiedBytes: b!.copiedBytes }, { backfilling: 2, copiedBytes: 7 });
});

test("a followed unit lists every reported copy, and the chain's members even before they report", () => {
  const map: ClusterMap = {
    epoch: 1, rev: 1, bits: 2, unitBits: 1, nodes: [{ ...record('a'), state: 'active' }, { ...record('b'), state: 'active' }],
    chains: [[0, 1]], runStarts: [0], runChains: [0], moves: [],
  };
  const h = host(map);
  const feed = new DashboardFeed(h);
  assert.equal(feed.follow(1), { unit: 1, key: null, copies: [{ id: 'a', seqno: null, value: null }, { id: 'b', seqno: null, value: null }] });
  h.repl.set('b', { backfilling: 0, seqnos: { 1: 42 }, copiedBytes: 0 });
  assert.equal(feed.follow(1), { unit: 1, key: null, copies: [{ id: 'b', seqno: 42, value: null }, { id: 'a', seqno: null, value: null }] });
  assert.equal(feed.follow(99), { unit: 99, key: null, copies: [] }, 'a unit outside the map');
});

test("a followed key carries each copy's value size as its node last reported it", () => {
  const map: ClusterMap = {
    epoch: 1, rev: 1, bits: 2, unitBits: 1, nodes: [{ ...record('a'), state: 'active' }, { ...record('b'), state: 'active' }],
    chains: [[0, 1]], runStarts: [0], runChains: [0], moves: [],
  };
  let now = 1000;
  const reports = new NodeReports(null, () => now);
  const feed = new DashboardFeed({ ...host(map), keySizes: reports });
  const page = {};
  const key = Buffer.from('user:é', 'utf8');
  reports.watch(page, key);
  assert.equal(feed.follow(1, 'user:é').copies.map((c) => c.value), [null, null], 'no report yet');
  reports.onHeartbeat('a', [{ key, bytes: 1234 }], undefined);
  now = 2000;
  reports.onHeartbeat('b', [{ key, bytes: null }], undefined);
  assert.equal(feed.follow(1, 'user:é').copies, [{ id: 'a', seqno: null, value: { bytes: 1234, at: 1000 } }, { id: 'b', seqno: null, value: { bytes: null, at: 2000 } }]);
  reports.onHeartbeat('a', [{ key, bytes: 7 }], undefined);
  assert.equal(feed.follow(1, 'user:é').copies[0]!.value, { bytes: 7, at: 2000 }, 'a rewrite with another length');
  assert.equal(feed.follow(1, 'other').copies.map((c) => c.value), [null, null], 'another key: nothing');
  reports.watch(page, null);
  assert.is(reports.probe(), undefined, 'nobody follows: no probe');
  reports.onHeartbeat('a', [{ key, bytes: 9 }], undefined);
  assert.is(reports.sizesOf(key), undefined, 'a late answer for a key nobody follows is not kept');
});

test('probes are the distinct followed keys, at most MAX_PROBED_KEYS; relayed node events are written once each', () => {
  const written: Array<{ name: string; fields: Record<string, unknown> }> = [];
  const reports = new NodeReports({ record: (name, fields) => written.push({ name, fields }) });
  const pages = Array.from({ length: MAX_PROBED_KEYS + 5 }, () => ({}));
  pages.forEach((p, i) => reports.watch(p, Buffer.from(`k${i % (MAX_PROBED_KEYS + 3)}`)));
  assert.is(reports.probe()!.length, MAX_PROBED_KEYS);
  reports.watch(pages[0]!, Buffer.from('k1'));
  assert.ok(reports.probe()!.every((k, i, all) => all.findIndex((x) => Buffer.compare(x, k) === 0) === i), 'no key twice');
  const ev = (n: number, name = 'fence'): NodeEventReport => ({ n, at: Date.UTC(2026, 0, 1), name, fields: { epoch: 3, node: 'spoofed' } });
  reports.onHeartbeat('n1', undefined, [ev(1), ev(2, 'unfence')]);
  reports.onHeartbeat('n1', undefined, [ev(1), ev(2, 'unfence'), ev(3, 'rollback')]);
  assert.equal(written.map((w) => w.name), ['fence', 'unfence', 'rollback'], 'resent events are written once');
  assert.equal(written[0]!.fields, { node: 'n1', node_at: '2026-01-01T00:00:00.000Z', epoch: 3 }, "the reporting node's id, not a field it sent");
  reports.onHeartbeat('n2', undefined, [ev(1)]);
  assert.is(written.length, 4, 'numbers count per node');
  reports.onRegister('n1');
  reports.onHeartbeat('n1', undefined, [ev(1, 'hint-replay')]);
  assert.is(written.at(-1)!.name, 'hint-replay', 'a restarted node counts from 1 again');
});

test.run();
