import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { startDhtBootstrap } from '../../cluster/peer/dht-bootstrap.js';
import { PeerPlane } from '../../cluster/peer/peer-plane.js';
import { Replicator } from '../../cluster/node/replication.js';
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

test('a returning copy takes the records it missed, and drops writes the cluster lost', async () => {
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

      // Epoch 2: A is cut off; its last write on the torn unit never reaches B.
      a.applyMap(mapOf(2, keys, 0, ['active', 'failed']), 0);
      write(a, ea, torn[0]!, 'lost');
      // B is promoted and takes writes A misses, on both units (a delete too).
      const m2 = mapOf(2, keys, 1, ['failed', 'active'], [1]);
      b.applyMap(m2, 1);
      write(b, eb, torn[1]!, 'b2');
      write(b, eb, calm[1]!, 'b2');
      write(b, eb, calm[2]!, null);

      // Epoch 3: A comes back as B's replica and verifies what it holds.
      a.markSuspect();
      const m3 = mapOf(3, keys, 1, ['active', 'active']);
      b.applyMap(m3, 1);
      a.applyMap(m3, 0);
      await poll(async () => (a.backfilling === 0 && a.counters.deltaUnits + a.counters.fullResyncs >= 2 ? true : null), 15_000, 'A verified both units')
        .catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(a.counters)}`); });

      assert.is(a.counters.deltaUnits, 1, 'the calm unit came as a delta');
      assert.is(a.counters.fullResyncs, 1, 'the torn unit, with a write B never had, was copied again');
      assert.is(text(ea, torn[0]!), 'v1', 'the lost write is gone: A agrees with B');
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
      const refused = await planes[0]!.request(keys[1]!, { t: 'pull', units: 'all' }, 5000).then(() => null, (e: unknown) => e as { code?: string });
      assert.is(refused?.code, 'KV_ERR_BAD_REQUEST');
    })(), 60_000, 'test body');
  } finally {
    for (const r of replicators) r.close();
    for (const p of planes.reverse()) await withDeadline(p.close(), 5000, 'plane close');
    await boot.close();
  }
});

test.run();
