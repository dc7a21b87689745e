import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { startDhtBootstrap } from '../../cluster/peer/dht-bootstrap.js';
import { PeerPlane } from '../../cluster/peer/peer-plane.js';
import { Replicator } from '../../cluster/node/replication/replicator.js';
import { MemoryEngine } from '../../cluster/node/engine/memory-engine.js';
import { generateKeyPair } from '../../shared/auth/keys.js';
import { bucketOfBinary } from '../../shared/keystream.js';
import { unitOf, type ClusterMap, type NodeState } from '../../shared/cluster-map.js';
import { poll, withDeadline } from '../helpers/deadline.js';

const test = suite('integration - delta recovery between two replicators');

const BITS = 4;
const UNIT_BITS = 1;

/** Both nodes in every chain, `first` active; `states` per node. */
function mapOf(epoch: number, keys: string[], first: 0 | 1, states: [NodeState, NodeState], chain: number[] = first === 0 ? [0, 1] : [1, 0]): ClusterMap {
  return {
    epoch, rev: epoch, bits: BITS, unitBits: UNIT_BITS,
    nodes: keys.map((peerKey, i) => ({ id: `n${i}`, address: `ws://127.0.0.1:${i + 1}`, peerKey, zone: 'z', weight: 1, state: states[i]! })),
    chains: [chain], runStarts: [0], runChains: [0], moves: [],
  };
}

/** `count` keys whose bucket falls in `unit`. */
function keysIn(unit: number, prefix: string, count: number): string[] {
  const probe = mapOf(1, ['a', 'b'], 0, ['active', 'active']);
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const key = `${prefix}${i}`;
    if (unitOf(probe, bucketOfBinary(key, BITS)) === unit) out.push(key);
  }
  return out;
}

const text = (engine: MemoryEngine, key: string): string | null => {
  const item = engine.peek(key);
  return item === null ? null : Buffer.from(item.value).toString();
};

/** Two replicators (A and B), each with its peer plane and memory engine, joined through a local DHT bootstrap; torn down after `body`. */
async function withTwoNodes(body: (nodes: { a: Replicator; b: Replicator; ea: MemoryEngine; eb: MemoryEngine; keys: string[]; planes: PeerPlane[] }) => Promise<void>): Promise<void> {
  const boot = await startDhtBootstrap();
  const planes: PeerPlane[] = [];
  const replicators: Replicator[] = [];
  try {
    await withDeadline((async () => {
      const engines = [new MemoryEngine({ memorySizeMb: 16 }), new MemoryEngine({ memorySizeMb: 16 })];
      for (let i = 0; i < 2; i++) {
        const plane = new PeerPlane(generateKeyPair(), [boot.address], { backoffsMs: [100, 250, 500, 1000], backoffJitterMs: 20 });
        planes.push(plane);
        await plane.start();
        replicators.push(new Replicator(engines[i]!, plane));
      }
      const [a, b] = replicators as [Replicator, Replicator];
      const [ea, eb] = engines as [MemoryEngine, MemoryEngine];
      const keys = planes.map((p) => p.publicKey);
      await body({ a, b, ea, eb, keys, planes });
    })(), 60_000, 'test body');
  } finally {
    for (const r of replicators) r.close();
    for (const p of planes.reverse()) await withDeadline(p.close(), 5000, 'plane close');
    await boot.close();
  }
}

test('a returning copy takes the records it missed, and drops writes the cluster lost', async () => {
  await withTwoNodes(async ({ a, b, ea, eb, keys, planes }) => {
    const write = (r: Replicator, e: MemoryEngine, key: string, value: string | null): void => {
      if (value === null) e.delete(key);
      else e.set(key, Buffer.from(value), 0, 0);
      void r.onWrite(key, 'none');
    };
    const calm = keysIn(0, 'calm:', 20);
    const torn = keysIn(1, 'torn:', 20);

    // Epoch 1: A active, B its replica; B applies everything A writes.
    const m1 = mapOf(1, keys, 0, ['active', 'active']);
    a.applyMap(m1, 0);
    b.applyMap(m1, 1);
    for (const k of [...calm, ...torn]) write(a, ea, k, 'v1');
    await poll(async () => (text(eb, torn[19]!) === 'v1' && text(eb, calm[19]!) === 'v1' ? true : null), 10_000, 'B has every write');

    // Epoch 2: A is cut off; its last writes on the torn unit never reach B.
    a.applyMap(mapOf(2, keys, 0, ['active', 'failed']), 0);
    write(a, ea, torn[0]!, 'lost');
    write(a, ea, torn[3]!, null);
    write(a, ea, torn[4]!, 'lost');
    // B is promoted and takes writes A misses, on both units (a delete too).
    const m2 = mapOf(2, keys, 1, ['failed', 'active'], [1]);
    b.applyMap(m2, 1);
    write(b, eb, torn[1]!, 'b2');
    write(b, eb, torn[4]!, 'b2');
    write(b, eb, calm[1]!, 'b2');
    write(b, eb, calm[2]!, null);

    // Epoch 3: A comes back as B's replica and verifies what it holds.
    a.markSuspect();
    const m3 = mapOf(3, keys, 1, ['active', 'active']);
    b.applyMap(m3, 1);
    a.applyMap(m3, 0);
    await poll(async () => (a.backfilling === 0 && a.counters.deltaUnits + a.counters.fullResyncs >= 2 ? true : null), 15_000, 'A verified both units')
      .catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(a.counters)}`); });

    process.stdout.write(`    (A: ${a.counters.deltaUnits} units by delta, ${a.counters.rollbackUnits} of them rolled back (${a.counters.rollbackRecords} records discarded), ${a.counters.fullResyncs} copied in full)\n`);
    assert.is(a.counters.deltaUnits, 2, 'both units came as a delta');
    assert.is(a.counters.rollbackUnits, 1, 'the torn unit, with writes B never had, was rolled back to a point B shares');
    assert.ok(a.counters.rollbackRecords >= 3, 'the three lost records were discarded');
    assert.is(a.counters.fullResyncs, 0, 'nothing copied in full');
    assert.is(text(ea, torn[0]!), 'v1', 'the lost write is gone: A agrees with B');
    assert.is(text(ea, torn[3]!), 'v1', 'the lost delete is undone');
    assert.is(text(ea, torn[4]!), 'b2', 'a key both wrote takes B\'s value');
    assert.is(text(ea, torn[1]!), 'b2');
    assert.is(text(ea, calm[1]!), 'b2', 'delta: an overwrite');
    assert.is(text(ea, calm[2]!), null, 'delta: a delete');
    for (const k of [...calm, ...torn]) assert.is(text(ea, k), text(eb, k), k);
    // New writes stream on from where the copy left off.
    write(b, eb, torn[2]!, 'b3');
    await poll(async () => (text(ea, torn[2]!) === 'b3' ? true : null), 10_000, 'A follows the stream');

    // Hostile offers from a linked peer: ignored one by one, the page still served.
    const page = await planes[0]!.request(keys[1]!, {
      t: 'pull', units: [0], since: [[0, 'x', 'y'], 'junk', [99, 1, 'ab'], [0, 2 ** 40, 'zz'], null, [0, 0, ''], [0, 3]],
    }, 5000) as { items?: unknown[]; deltaUnits?: unknown };
    assert.ok(Array.isArray(page.items) && page.items.length > 0, 'a full page');
    assert.is(page.deltaUnits, undefined, 'no delta for offers that prove nothing');
    // A cursor in bucket order sent to a source without a bucket index: the copy starts over.
    const over = await planes[0]!.request(keys[1]!, { t: 'pull', units: [0], after: Buffer.from([0xff, 0xff, 1]), order: 'bucket' }, 5000) as { items?: unknown[] };
    assert.ok(Array.isArray(over.items) && over.items.length > 0, 'a full page from the start');
    const refused = await planes[0]!.request(keys[1]!, { t: 'pull', units: 'all' }, 5000).then(() => null, (e: unknown) => e as { code?: string });
    assert.is(refused?.code, 'KV_ERR_BAD_REQUEST');
    // Values for a rollback: only keys, only as bytes, only a bounded number of them.
    const code = (m: unknown): Promise<string | undefined> => planes[0]!.request(keys[1]!, m, 5000).then(() => undefined, (e: unknown) => (e as { code?: string }).code);
    assert.is(await code({ t: 'vals', keys: 'all' }), 'KV_ERR_BAD_REQUEST');
    assert.is(await code({ t: 'vals', keys: ['text', 7, null] }), 'KV_ERR_BAD_REQUEST', 'no key given as bytes');
    assert.is(await code({ t: 'vals', keys: Array.from({ length: 65_537 }, () => Buffer.from('k')) }), 'KV_ERR_BAD_REQUEST', 'too many keys');
    const vals = await planes[0]!.request(keys[1]!, { t: 'vals', keys: [Buffer.from(torn[1]!), Buffer.from('no-such-key'), 'junk'] }, 5000) as { items: unknown[][] };
    assert.is(vals.items.length, 2);
    assert.is(Buffer.from(vals.items[0]![1] as Uint8Array).toString(), text(eb, torn[1]!), 'a key\'s value as the source holds it now');
    assert.is(vals.items[1]![1], null, 'an absent key comes back as null');
  });
});

// A source that rewinds a unit to a point the copy never offered is not believed: the copy
// keeps its history until it has taken the unit again in full.
test('a rewind to a point that was not offered makes the copy take the unit in full, never drop history on a word', async () => {
  const boot = await startDhtBootstrap();
  const planes: PeerPlane[] = [];
  let a: Replicator | null = null;
  try {
    await withDeadline((async () => {
      const ea = new MemoryEngine({ memorySizeMb: 16 });
      for (let i = 0; i < 2; i++) {
        const plane = new PeerPlane(generateKeyPair(), [boot.address], { backoffsMs: [100, 250, 500, 1000], backoffJitterMs: 20 });
        planes.push(plane);
        await plane.start();
      }
      const keys = planes.map((p) => p.publicKey);
      a = new Replicator(ea, planes[0]!);
      const torn = keysIn(1, 'forged:', 20);
      // The fake source: first a delta from a point never offered, then a full page.
      const pulls: Array<{ since?: unknown }> = [];
      planes[1]!.on('message', (_peer: string, message: unknown, reply?: (r: unknown) => void) => {
        const m = message as { t?: string; since?: unknown };
        if (m.t !== 'pull' || reply === undefined) return;
        pulls.push(m);
        if (pulls.length === 1) reply({ items: [], next: null, seqs: [[1, 5, '']], delta: [], deltaUnits: [1], rewound: [[1, 10]] });
        else reply({ items: [[Buffer.from(torn[0]!), Buffer.from('f'), 0, 0]], next: null, seqs: [[1, 5, '']] });
      });
      planes[1]!.setPeers([keys[0]!]);
      a.applyMap(mapOf(1, keys, 0, ['active', 'active']), 0);
      for (const k of torn) {
        ea.set(k, Buffer.from('a'), 0, 0);
        void a.onWrite(k, 'none');
      }
      a.markSuspect();
      a.applyMap(mapOf(2, keys, 1, ['active', 'active']), 0);
      const r = a;
      await poll(async () => (r.backfilling === 0 && r.counters.fullResyncs >= 1 ? true : null), 15_000, 'the unit copied in full')
        .catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(r.counters)}`); });
      const offered = (pulls[0]!.since as unknown[][])[0]!;
      assert.ok(Array.isArray(offered[3]) && !(offered[3] as number[][]).some((p) => p[0] === 10), 'seqno 10 was not among the points offered');
      assert.is(pulls[1]!.since, undefined, 'the retry offers no history');
      assert.is(r.counters.rollbackUnits, 0);
      assert.is(text(ea, torn[0]!), 'f', 'the page was applied');
      assert.is(text(ea, torn[1]!), null, 'the unit\'s own items were cleared before it');
    })(), 60_000, 'test body');
  } finally {
    (a as Replicator | null)?.close();
    for (const p of planes.reverse()) await withDeadline(p.close(), 5000, 'plane close');
    await boot.close();
  }
});

test('a record for a unit this node does not hold yet is not applied: the copy that follows is a full one', async () => {
  await withTwoNodes(async ({ a, b, ea, eb, keys }) => {
    const half = 2 ** (BITS - 1);
    // Unit 0 is on both nodes throughout; unit 1 is on A alone, then B is added to it.
    const before: ClusterMap = { ...mapOf(1, keys, 0, ['active', 'active']), chains: [[0, 1], [0]], runStarts: [0, half], runChains: [0, 1] };
    const added: ClusterMap = { ...mapOf(1, keys, 0, ['active', 'active']), rev: 2, chains: [[0, 1]], runStarts: [0], runChains: [0] };
    a.applyMap(before, 0);
    b.applyMap(before, 1);
    const moved = keysIn(1, 'moved:', 20);
    const [probe] = keysIn(0, 'probe:', 1) as [string];
    const write = (key: string, value: string, durability: 'none' | 'majority'): Promise<void> | null => {
      ea.set(key, Buffer.from(value), 0, 0);
      return a.onWrite(key, durability);
    };
    await poll(async () => (await write(probe, 'up', 'majority')?.then(() => true, () => null)) ?? null, 20_000, 'the link up');
    // Unit 1 has a history on A before B is in its chain.
    for (const k of moved.slice(0, 19)) void write(k, 'old', 'none');
    // A adopts the map that adds B first and streams unit 1's next write to it while B
    // still follows the map without it (maps reach nodes in any order).
    a.applyMap(added, 0);
    void write(moved[19]!, 'new', 'none');
    // Records reach B in order on one link: the probe's majority ack comes after it.
    await write(probe, 'p', 'majority');
    b.applyMap(added, 1);
    await poll(async () => (b.backfilling === 0 ? true : null), 20_000, 'unit 1 copied to B');
    for (const k of moved.slice(0, 19)) assert.is(text(eb, k), 'old', `${k}: written before B held the unit`);
    assert.is(text(eb, moved[19]!), 'new');
    assert.is(b.counters.deltaUnits, 0, 'no delta from a history B never had');
  });
});

// A node cut off while it was a unit's active comes back still following the map that
// names it the active, and the unit's new active streams to it before it adopts the map
// that made it a replica. Continuing its own history with those records would hide what
// it wrote alone (and what it missed) from the check that follows: it refuses them,
// and hinted records too, until it has the newer map; then it rolls back.
test('a node behind on the map, still its unit\'s active there, refuses the new active\'s records until it has rolled back', async () => {
  await withTwoNodes(async ({ a, b, ea, eb, keys, planes }) => {
    const write = (r: Replicator, e: MemoryEngine, key: string, value: string): void => {
      e.set(key, Buffer.from(value), 0, 0);
      void r.onWrite(key, 'none');
    };
    const calm = keysIn(0, 'calm:', 5);
    const torn = keysIn(1, 'torn:', 5);
    const m1 = mapOf(1, keys, 0, ['active', 'active']);
    a.applyMap(m1, 0);
    b.applyMap(m1, 1);
    for (const k of [...calm, ...torn]) write(a, ea, k, 'v1');
    await poll(async () => (text(eb, torn[4]!) === 'v1' && text(eb, calm[4]!) === 'v1' ? true : null), 10_000, 'B has every write');

    // B is promoted; A, cut off, still follows epoch 1 and writes once more alone.
    b.applyMap(mapOf(2, keys, 1, ['failed', 'active'], [1]), 1);
    write(a, ea, torn[0]!, 'lost');
    write(b, eb, torn[1]!, 'b1');
    // Epoch 3 makes A B's replica. B adopts it first; its next record has the seqno that
    // would follow A's own last one.
    const m3 = mapOf(3, keys, 1, ['active', 'active']);
    b.applyMap(m3, 1);
    await poll(async () => (planes[1]!.isUp(keys[0]!) ? true : null), 10_000, 'the link from B to A');
    write(b, eb, torn[2]!, 'b2');
    await poll(async () => (a.counters.aheadRefused >= 1 || text(ea, torn[2]!) === 'b2' ? true : null), 10_000, 'B\'s record at A');
    assert.is(a.counters.aheadRefused, 1, 'the record is refused');
    assert.is(text(ea, torn[2]!), 'v1');
    // A hinted record with the seqno after A's last: retried later, not applied.
    const hinted = [1, 7, Buffer.from(torn[3]!), Buffer.from('hinted'), 0, 0];
    const res = await planes[1]!.request(keys[0]!, { t: 'hrep', r: [hinted], e: [3] }, 5000) as { s: number[] };
    assert.equal(res.s, [2], 'hint: retry');
    assert.is(text(ea, torn[3]!), 'v1');

    // A adopts epoch 3 and verifies: its lone write is rolled back, B's writes arrive.
    a.markSuspect();
    a.applyMap(m3, 0);
    await poll(async () => (a.backfilling === 0 && a.counters.deltaUnits + a.counters.fullResyncs >= 2 ? true : null), 15_000, 'A verified both units')
      .catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(a.counters)}`); });
    assert.is(a.counters.rollbackUnits, 1, 'the torn unit was rolled back');
    assert.is(text(ea, torn[0]!), 'v1', 'A\'s lone write is gone');
    assert.is(text(ea, torn[1]!), 'b1', 'the write B took alone is there');
    assert.is(text(ea, torn[2]!), 'b2');
    for (const k of [...calm, ...torn]) assert.is(text(ea, k), text(eb, k), k);
  });
});

test.run();
