import * as assert from 'uvu/assert';
import { suite } from '../../helpers/suite.js';
import { until } from '../../helpers/deadline.js';
import type { ClusterMap } from '../../../shared/cluster-map.js';
import { Handover, type HandoverHost } from '../../../cluster/node/replication/takeover.js';
import { LeftSeqnos, handedSeqnos } from '../../../cluster/node/replication/handed-seqnos.js';
import { newReplicationCounters } from '../../../cluster/node/replication/records.js';

const test = suite('cluster - the handover at a switch (takeover.ts)');

const BITS = 4;
/** Peer keys of nodes A, R, B (indexes 0, 1, 2). */
const KEYS = ['a'.repeat(64), 'r'.repeat(64), 'b'.repeat(64)];
const [A, R] = KEYS as [string, string, string];
const B = 2;

/** A map at `epoch` whose unit u (of 2^unitBits) has chain `chains[u]`. */
function mapOf(epoch: number, chains: number[][], unitBits = 1): ClusterMap {
  const per = 2 ** (BITS - unitBits);
  return {
    epoch, rev: epoch, bits: BITS, unitBits,
    nodes: KEYS.map((peerKey, i) => ({ id: `n${i}`, address: `ws://127.0.0.1:${i + 1}`, peerKey, zone: 'z', weight: 1, state: 'active' as const })),
    chains, runStarts: chains.map((_, u) => u * per), runChains: chains.map((_, u) => u), moves: [],
  };
}

/** The replicator's side, faked: what the handover asked for and was told. */
class FakeHost implements HandoverHost {
  readonly counters = newReplicationCounters();
  readonly asks: Array<[string, number]> = [];
  readonly answers: string[] = [];
  readonly catchUps: Array<[string, number[]]> = [];
  readonly copying = new Set<number>();
  readonly seqs = new Map<number, number>();
  readonly streamFrom = new Map<number, string>();
  held: ReadonlySet<number> = new Set();
  wait = 60_000;
  /** Whether links take requests (false: refused, as by a full link). */
  isLinkTaking = true;
  ask(peer: string, epoch: number): boolean {
    this.asks.push([peer, epoch]);
    return this.isLinkTaking;
  }
  answer(peer: string): void { this.answers.push(peer); }
  onHeld(units: ReadonlySet<number>): void { this.held = units; }
  waitMs(): number { return this.wait; }
  isCopying(unit: number): boolean { return this.copying.has(unit); }
  seqOf(unit: number): number { return this.seqs.get(unit) ?? 0; }
  streamedFrom(unit: number): string | undefined { return this.streamFrom.get(unit); }
  isKept = true;
  /** Peers that keep a copy, whatever `isKept` says of the others (the replicas). */
  readonly keptBy = new Set<string>();
  keepsCopy(peer: string): boolean { return this.isKept || this.keptBy.has(peer); }
  copyHolders(): string[] { return [R]; }
  catchUp(peer: string, units: number[]): void { this.catchUps.push([peer, units]); }
}

/** B (node 2) follows a move's switch: A (0) was the active of both units, with R (1) and B as replicas; now B is. */
function switched(host: FakeHost): Handover {
  const h = new Handover(host);
  const staged = mapOf(1, [[0, 1, 2], [0, 1, 2]]);
  h.follow(null, staged, B);
  h.follow(staged, mapOf(2, [[2, 1], [2, 1]]), B);
  assert.equal([...h.held].sort(), [0, 1], 'both units held');
  assert.equal(host.asks, [[A, 2]], 'A asked at the switch\'s epoch');
  return h;
}

test('a unit handed over while it is being copied here is served only once the copy ends', () => {
  const host = new FakeHost();
  const h = switched(host);
  // A gap made B copy unit 0 from A; then A hands both units over.
  host.copying.add(0);
  h.onMessage(A, { t: 'ep', e: 2, s: [] });
  assert.equal([...h.held], [0], 'unit 1 served, unit 0 held while its copy runs');
  host.copying.delete(0);
  h.onCopied([0]);
  assert.equal([...h.held], [], 'served once the copy ended');
  h.close();
});

test('a wait that runs out during a copy serves the unit only once the copy ends, and refuses the old active\'s late records', async () => {
  const host = new FakeHost();
  host.wait = 20;
  const h = switched(host);
  host.copying.add(0);
  await until(() => host.held.size === 1, 5000, 'unit 1 released by the wait');
  assert.equal([...host.held], [0], 'unit 0 is still copied: held');
  assert.is(host.counters.handoverTimeouts, 1);
  host.copying.delete(0);
  h.onCopied([0]);
  assert.equal([...h.held], []);
  assert.is(host.counters.handoverTimeouts, 2);
  assert.ok(h.isLate(0, A, 1), 'A\'s record sent before the switch comes late');
  assert.ok(h.isLate(1, A, 1));
  assert.not.ok(h.isLate(0, A, 2), 'one sent at the switch\'s epoch is not');
  h.close();
});

test('a unit whose last records from the old active went another way is copied from it before it is served', () => {
  const host = new FakeHost();
  const h = switched(host);
  host.seqs.set(0, 7).set(1, 4);
  host.streamFrom.set(0, A).set(1, A);
  // A's records 8..9 of unit 0 were refused by the link and hinted: its answer came first.
  h.onMessage(A, { t: 'ep', e: 2, s: [0, 9, 1, 4] });
  assert.equal([...h.held], [0], 'unit 0 held: B lacks records A has');
  assert.equal(host.catchUps, [[A, [0]]], 'copied from A');
  host.copying.add(0);
  h.onCopied([1]);
  assert.equal([...h.held], [0]);
  host.copying.delete(0);
  host.seqs.set(0, 9);
  h.onCopied([0]);
  assert.equal([...h.held], [], 'served once caught up');
  assert.is(host.catchUps.length, 1);
  h.close();
});

test('a unit behind the old active, which no longer keeps a copy, is copied from a replica that has its records', () => {
  const host = new FakeHost();
  host.isKept = false;
  host.keptBy.add(R);
  const h = switched(host);
  host.seqs.set(0, 7).set(1, 4);
  h.onMessage(A, { t: 'ep', e: 2, s: [0, 9, 1, 4] });
  assert.equal([...h.held], [0], 'unit 0 held: B lacks records A had');
  assert.equal(host.asks, [[A, 2], [R, 2]], 'the replica is asked for its seqnos');
  // An answer from a replica that lacks them too changes nothing.
  h.onMessage(R, { t: 'ep', e: 2, s: [0, 8] });
  assert.equal(host.catchUps, []);
  h.onMessage(R, { t: 'ep', e: 2, s: [0, 9, 1, 4] });
  assert.equal(host.catchUps, [[R, [0]]], 'copied from the replica');
  host.copying.add(0);
  h.onMessage(R, { t: 'ep', e: 2, s: [0, 9] });
  assert.is(host.catchUps.length, 1, 'once');
  host.copying.delete(0);
  host.seqs.set(0, 9);
  h.onCopied([0]);
  assert.equal([...h.held], [], 'served once caught up');
  assert.is(host.counters.handoverTimeouts, 0);
  h.close();
});

test('a unit behind the old active is served as soon as its seqno gets there another way (a hint replayed)', () => {
  const host = new FakeHost();
  host.isKept = false;
  const h = switched(host);
  host.seqs.set(0, 7).set(1, 4);
  h.onMessage(A, { t: 'ep', e: 2, s: [0, 9, 1, 4] });
  assert.equal([...h.held], [0]);
  host.seqs.set(0, 8);
  h.advanced(0);
  assert.equal([...h.held], [0], 'still one record short');
  host.seqs.set(0, 9);
  h.advanced(0);
  assert.equal([...h.held], [], 'served');
  assert.is(host.counters.handoverTimeouts, 0);
  h.close();
});

test('a request for a handover that a live link did not take is sent again until the unit is handed over', async () => {
  const host = new FakeHost();
  host.isLinkTaking = false;
  const h = new Handover(host);
  const staged = mapOf(1, [[0, 1, 2], [0, 1, 2]]);
  h.follow(null, staged, B);
  h.follow(staged, mapOf(2, [[2, 1], [2, 1]]), B);
  await until(() => host.asks.length >= 3, 5000, 'asked again');
  assert.ok(host.asks.every(([peer, e]) => peer === A && e === 2));
  host.isLinkTaking = true;
  await until(() => host.asks.length >= 4, 5000, 'asked once more, taken');
  h.onMessage(A, { t: 'ep', e: 2, s: [] });
  assert.equal([...h.held], []);
  const asked = host.asks.length;
  host.isLinkTaking = false;
  h.onPeerUp(A);
  assert.is(host.asks.length, asked, 'nothing held: nothing asked');
  h.close();
});

test('a unit behind the old active, which no longer keeps a copy to copy from, is held until the wait ends', async () => {
  const host = new FakeHost();
  host.wait = 30;
  host.isKept = false;
  const h = switched(host);
  host.seqs.set(0, 7);
  h.onMessage(A, { t: 'ep', e: 2, s: [0, 9] });
  assert.equal([...h.held], [0], 'not served behind');
  h.onMessage(R, { t: 'ep', e: 2, s: [0, 9] });
  assert.equal(host.catchUps, [], 'the replica keeps no copy either');
  await until(() => host.held.size === 0, 5000, 'released by the wait');
  assert.is(host.counters.handoverTimeouts, 1);
  assert.ok(h.isLate(0, A, 1), 'A\'s records from before the switch are refused now');
  h.close();
});

test('records and acknowledgements at the new epoch do not hand a unit over: only the answer does', () => {
  const host = new FakeHost();
  const h = switched(host);
  h.onMessage(A, { t: 'rep', r: [], e: 2 });
  h.onMessage(A, { t: 'ack', a: [], e: 3 });
  assert.equal([...h.held].sort(), [0, 1]);
  h.onMessage(A, { t: 'ep', e: 1, s: [] });
  assert.equal([...h.held].sort(), [0, 1], 'an answer from before the switch does not either');
  h.onMessage(A, { t: 'ep', e: 2 });
  assert.equal([...h.held], [], 'an answer without seqnos (an older node) does');
  h.close();
});

test('an answer whose seqnos are below what the old active streamed here does not hand the unit over', () => {
  const host = new FakeHost();
  const h = switched(host);
  host.seqs.set(0, 50).set(1, 50);
  host.streamFrom.set(0, A).set(1, R);
  // A restarted without its data: its seqnos started over.
  h.onMessage(A, { t: 'ep', e: 2, s: [0, 3, 1, 3] });
  assert.equal([...h.held], [0], 'unit 0 (streamed from A up to 50) stays held; unit 1 is served');
  assert.equal(host.catchUps, []);
  h.close();
});

test('a peer that asked at two epochs is answered at the first as soon as this node reaches it', () => {
  const host = new FakeHost();
  const h = new Handover(host);
  const m1 = mapOf(1, [[0, 1], [0, 1]]);
  h.follow(null, m1, 0);
  h.onMessage(KEYS[2]!, { t: 'hand?', at: 2 });
  h.onMessage(KEYS[2]!, { t: 'hand?', at: 3 });
  const m2 = mapOf(2, [[2, 1], [0, 1]]);
  h.follow(m1, m2, 0);
  assert.equal(host.answers, [KEYS[2]], 'answered at 2');
  h.follow(m2, mapOf(3, [[2, 1], [2, 1]]), 0);
  assert.equal(host.answers, [KEYS[2], KEYS[2]], 'and at 3');
  h.close();
});

test('splitting units keeps every hold and late-record guard, on the units the buckets now belong to', () => {
  const host = new FakeHost();
  const h = switched(host);
  h.applied(0, KEYS[2]!, 2);
  // The first staged map of a rebalance splits units, at the same epoch.
  const split = { ...mapOf(2, [[2, 1], [2, 1], [2, 1], [2, 1]], 2), rev: 3 };
  h.follow(mapOf(2, [[2, 1], [2, 1]]), split, B);
  assert.equal([...h.held].sort(), [0, 1, 2, 3], 'units 0, 1 are units 0..3 now: all still held');
  assert.ok(h.isLate(1, A, 1), 'old unit 0 is units 0 and 1: A\'s late records of it refused');
  assert.not.ok(h.isLate(2, A, 1));
  h.onMessage(A, { t: 'ep', e: 2, s: [] });
  assert.equal([...h.held], []);
  h.close();
});

test('a map that splits units and changes their actives holds what it hands over', () => {
  const host = new FakeHost();
  const h = new Handover(host);
  const before = mapOf(1, [[0, 1, 2], [0, 1, 2]]);
  h.follow(null, before, B);
  h.follow(before, mapOf(2, [[2, 1], [0, 1], [0, 1], [0, 1]], 2), B);
  assert.equal([...h.held], [0], 'the quarter that B takes over from A is held');
  assert.equal(host.asks, [[A, 2]]);
  h.close();
});

test('a node that missed maps holds every unit it is the active of, also those it was the active of before', () => {
  const host = new FakeHost();
  const h = new Handover(host);
  const m1 = mapOf(1, [[2, 1], [0, 1]]);
  h.follow(null, m1, B);
  // Away while unit 0 went to A and came back: A may have taken writes meanwhile.
  h.follow(m1, mapOf(4, [[2, 1], [0, 1]]), B);
  assert.equal([...h.held], [0], 'unit 0 held');
  assert.equal(host.asks.map(([p]) => p).sort(), [A, R].sort(), 'every live node asked');
  h.onMessage(A, { t: 'ep', e: 4, s: [] });
  h.onMessage(R, { t: 'ep', e: 4, s: [] });
  assert.equal([...h.held], []);
  h.close();
});

test('an answer reports the seqnos of units this node left lately, while units keep their size', () => {
  let now = 0;
  const left = new LeftSeqnos(() => 100, () => now);
  const map = mapOf(2, [[2, 1], [2, 1]]);
  left.note(0, 9, 1);
  left.note(1, 4, 2);
  assert.equal(handedSeqnos(map, B, new Map(), left), [0, 9], 'unit 1 left when units were another size');
  assert.equal(handedSeqnos(map, B, new Map([[0, 11]]), left), [0, 11], 'a seqno held now comes first');
  assert.equal(handedSeqnos(map, 1, new Map(), left), [], 'only units the asker is the active of');
  now = 101;
  assert.equal(handedSeqnos(map, B, new Map(), left), [], 'forgotten after the keep time');
  left.note(0, 3, 1);
  now = 300;
  left.prune();
  assert.is(left.size, 0);
});

test('hostile or malformed handover messages change nothing, and requests kept per peer are bounded', () => {
  const host = new FakeHost();
  const h = switched(host);
  host.seqs.set(0, 7).set(1, 4);
  const junk: unknown[] = [
    null, 1, 'ep', [], { t: 'ep' }, { t: 'ep', e: -1, s: [] }, { t: 'ep', e: 1.5, s: [] }, { t: 'ep', e: '2', s: [] },
    { t: 'ep', e: 1, s: [] }, { t: 'hand?' }, { t: 'hand?', at: -3 }, { t: 'hand?', at: Number.NaN }, { t: 'hand?', at: 'x' },
    { t: 'zz', e: 2 }, { t: 'ep', e: 2 ** 60, s: [] },
  ];
  // From a node the units do not wait on: nothing.
  for (const m of junk) h.onMessage(R, m);
  assert.equal([...h.held].sort(), [0, 1], 'still held');
  // Seqno lists that are not lists of [unit, seqno] pairs are read as far as they make sense.
  h.onMessage(A, { t: 'ep', e: 2, s: [0, -9, 1, 'x', 'y', 5, 0] });
  assert.equal([...h.held], [], 'an answer at the epoch releases them; the junk in its list is skipped');
  assert.equal(host.catchUps, []);
  // A peer asking at ever newer epochs is kept to a bounded list.
  for (let e = 3; e < 10_003; e++) h.onMessage(R, { t: 'hand?', at: e });
  assert.ok(h.waitingAsks <= 16, `kept ${h.waitingAsks}`);
  h.close();
});

test('the time units were held is counted, in all and at most', () => {
  let now = 1000;
  const host = new FakeHost();
  const h = new Handover(host, () => now);
  const staged = mapOf(1, [[0, 1, 2], [0, 1, 2]]);
  h.follow(null, staged, B);
  h.follow(staged, mapOf(2, [[2, 1], [2, 1]]), B);
  now += 40;
  h.onMessage(A, { t: 'ep', e: 2, s: [] });
  assert.equal([...h.held], []);
  assert.is(host.counters.handoverHeldMs, 80, 'two units, 40 ms each');
  assert.is(host.counters.handoverHeldMsMax, 40);
  h.close();
});

test.run();
