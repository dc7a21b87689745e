import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { startDhtBootstrap } from '../../cluster/peer/dht-bootstrap.js';
import { PeerPlane } from '../../cluster/peer/peer-plane.js';
import { Replicator } from '../../cluster/node/replication/replicator.js';
import type { ReplicationOptions } from '../../cluster/node/replication/options.js';
import { MemoryEngine } from '../../cluster/node/engine/memory-engine.js';
import { Ownership } from '../../cluster/node/ownership.js';
import { Executor, type ResponseFrame } from '../../cluster/node/executor.js';
import { generateKeyPair } from '../../shared/auth/keys.js';
import { bucketOfBinary } from '../../shared/keystream.js';
import { unitOf, type ClusterMap } from '../../shared/cluster-map.js';
import type { Durability, Request } from '../../shared/protocol/frames.js';
import { Op } from '../../shared/protocol/ops.js';
import { Status } from '../../shared/status.js';
import { poll, until, withDeadline } from '../helpers/deadline.js';

const test = suite('integration - the switch of a move: the old active hands the unit over');

const BITS = 4;

/** Every unit on `chain` (indexes into A, R, B), at `epoch`. */
function mapOf(epoch: number, keys: string[], chain: number[]): ClusterMap {
  return {
    epoch, rev: epoch, bits: BITS, unitBits: 1,
    nodes: keys.map((peerKey, i) => ({ id: `n${i}`, address: `ws://127.0.0.1:${i + 1}`, peerKey, zone: 'z', weight: 1, state: 'active' as const })),
    chains: [chain], runStarts: [0], runChains: [0], moves: [],
  };
}

/** One node as a data node puts it together: engine, ownership, executor and replicator on a peer plane. */
interface TestNode {
  engine: MemoryEngine;
  plane: PeerPlane;
  rep: Replicator;
  own: Ownership;
  exec: Executor;
  /** Adopt `map` as a data node does: ownership first, then replication. */
  follow(map: ClusterMap): void;
  /** Run a request at the node's epoch. */
  run(op: number, key: string, value: string | null, durability?: Durability): ResponseFrame | Promise<ResponseFrame>;
  text(key: string): string | null;
  /** The units the replicator holds now (the last `held` event). */
  held: ReadonlySet<number>;
}

function request(op: number, key: string, epoch: number, value: string | null, durability: Durability): Request {
  return {
    id: 1, op: op as Request['op'], epoch, key, value: value === null ? null : Buffer.from(value), flags: 0, exptime: 0, cas: 0, delta: 0n, initial: undefined,
    end: null, limit: 0, ranges: null, rangeBits: 0, cursor: undefined, group: undefined, durability, isReplicaRead: false, auth: undefined,
  };
}

/** Nodes A (0, the unit's active), R (1, its replica) and B (2, the copy the move adds), joined through a local DHT bootstrap. */
async function withThreeNodes(body: (nodes: TestNode[], keys: string[]) => Promise<void>, options: Partial<ReplicationOptions> = {}): Promise<void> {
  const boot = await startDhtBootstrap();
  const nodes: TestNode[] = [];
  try {
    await withDeadline((async () => {
      for (let i = 0; i < 3; i++) {
        const plane = new PeerPlane(generateKeyPair(), [boot.address], { backoffsMs: [100, 250, 500, 1000], backoffJitterMs: 20 });
        await plane.start();
        const engine = new MemoryEngine({ memorySizeMb: 16 });
        const own = new Ownership(BITS, true);
        const exec = new Executor(engine, own, { nodeStats: () => ({}) });
        const rep = new Replicator(engine, plane, options);
        exec.replicator = rep;
        const self = i;
        const node: TestNode = {
          engine, plane, rep, own, exec,
          follow: (map) => {
            own.applyMap(map, self);
            rep.applyMap(map, self);
          },
          run: (op, key, value, durability = 'none') => exec.execute(request(op, key, own.epoch, value, durability)),
          text: (key) => {
            const item = engine.peek(key);
            return item === null ? null : Buffer.from(item.value).toString();
          },
          held: new Set(),
        };
        rep.on('held', (units) => {
          own.hold(units);
          node.held = units;
        });
        nodes.push(node);
      }
      await body(nodes, nodes.map((n) => n.plane.publicKey));
    })(), 60_000, 'test body');
  } finally {
    for (const n of nodes) n.rep.close();
    for (const n of nodes.reverse()) await withDeadline(n.plane.close(), 5000, 'plane close');
    await boot.close();
  }
}

/**
 * The staged map of a move (A active, R its replica, B the copy being added), adopted by
 * all three, B's copy done. Returns the switched map (B active, R its replica, A out).
 */
async function stagedAndCopied(nodes: TestNode[], keys: string[], key: string): Promise<ClusterMap> {
  const [a, r, b] = nodes as [TestNode, TestNode, TestNode];
  const staged = mapOf(1, keys, [0, 1, 2]);
  for (const n of nodes) n.follow(staged);
  await poll(async () => {
    const frame = await a.run(Op.SET, key, 'start', 'majority');
    return frame[1] === Status.OK ? true : null;
  }, 20_000, 'a majority write on the staged chain');
  await until(() => b.rep.backfilling === 0 && r.rep.backfilling === 0 && b.text(key) === 'start' && r.text(key) === 'start', 20_000, 'B and R have the unit');
  return mapOf(2, keys, [2, 1]);
}

function keyIn(unit: number): string {
  const probe = mapOf(1, ['a', 'b', 'c'], [0]);
  for (let i = 0; ; i++) if (unitOf(probe, bucketOfBinary(`k${i}`, BITS)) === unit) return `k${i}`;
}

// The switch reaches nodes in any order. B and R adopt it while A still follows the staged
// map, where it is the active: a client on that map writes through A (acknowledged at
// once), and then a client on the new map writes the same key through B, `majority`. A's
// record reaches B after that. Applied there, it reverted the later, acknowledged write on
// the unit's active, and R, which had A's record first, kept B's: the copies disagreed.
test('a write the new active takes after the switch is not reverted by a late record of the old active', async () => {
  await withThreeNodes(async (nodes, keys) => {
    const [a, r, b] = nodes as [TestNode, TestNode, TestNode];
    const key = keyIn(0);
    const switched = await stagedAndCopied(nodes, keys, key);
    const applied = b.rep.counters.recordsApplied;

    const old = a.run(Op.SET, key, 'old', 'none');
    assert.not.instance(old, Promise);
    assert.is((old as ResponseFrame)[1], Status.OK, 'A, still on the staged map, acknowledges');
    r.follow(switched);
    b.follow(switched);
    const next = b.run(Op.SET, key, 'new', 'majority');
    assert.is(b.text(key), 'start', 'B holds the write until A hands the unit over');
    // A's record reaches B; then A adopts the switched map.
    await until(() => b.rep.counters.recordsApplied > applied, 10_000, 'A\'s record at B');
    a.follow(switched);
    const frame = await withDeadline(Promise.resolve(next), 10_000, 'B\'s write');
    assert.is(frame[1], Status.OK, 'B acknowledges the write');
    await until(() => r.text(key) === b.text(key), 10_000, 'R as B');
    assert.is(b.text(key), 'new', 'the active keeps the later, acknowledged write');
    assert.is(r.text(key), 'new');
    const read = await b.run(Op.GET, key, null);
    assert.is(Buffer.from(read[2] as Uint8Array).toString(), 'new');
  });
});

// A's record reaches R only after B's records (another link, slower): B had it before it
// wrote, and may have overwritten it since. R refuses it and does not acknowledge it.
test('a copy refuses a record of the old active that comes after the new active\'s', async () => {
  await withThreeNodes(async (nodes, keys) => {
    const [a, r, b] = nodes as [TestNode, TestNode, TestNode];
    const key = keyIn(1);
    const switched = await stagedAndCopied(nodes, keys, key);
    for (const n of nodes) n.follow(switched);
    const frame = await withDeadline(Promise.resolve(b.run(Op.SET, key, 'new', 'majority')), 10_000, 'B\'s write');
    assert.is(frame[1], Status.OK);
    assert.is(r.text(key), 'new', 'R acknowledged B\'s write');
    const applied = r.rep.counters.recordsApplied;
    assert.ok(a.plane.send(keys[1]!, { t: 'rep', r: [[1, 1, Buffer.from(key, 'latin1'), Buffer.from('late'), 0, 0]], e: 1 }), 'sent');
    await until(() => r.rep.counters.lateRefused > 0 || r.rep.counters.recordsApplied > applied, 10_000, 'the late record at R');
    assert.is(r.rep.counters.lateRefused, 1);
    assert.is(r.text(key), 'new');
  });
});

// The old active adopts the switch first and has nothing more to send to B. B asks it for
// the handover once it adopts the switch itself, and serves at once. (Waiting for a
// message A had already sent, B held the unit for good: every request got NOT_MY_BUCKET.)
test('the new active adopting the switch after the old one is handed the unit when it asks', async () => {
  await withThreeNodes(async (nodes, keys) => {
    const [a, r, b] = nodes as [TestNode, TestNode, TestNode];
    const key = keyIn(0);
    const switched = await stagedAndCopied(nodes, keys, key);
    a.follow(switched);
    // Whatever A sent on adopting the switch is at B before B adopts it: a probe sent
    // after it on the same ordered link came in.
    const probed = new Promise<void>((resolve) => {
      b.plane.on('message', (peer, m) => { if (peer === keys[0] && (m as { t?: unknown }).t === 'probe') resolve(); });
    });
    await Promise.resolve();
    assert.ok(a.plane.send(keys[2]!, { t: 'probe' }), 'sent');
    await withDeadline(probed, 10_000, 'A\'s messages at B');
    r.follow(switched);
    b.follow(switched);
    const frame = await withDeadline(Promise.resolve(b.run(Op.SET, key, 'new', 'majority')), 10_000, 'B\'s write');
    assert.is(frame[1], Status.OK, 'B serves the unit');
    assert.is(b.rep.counters.handoverWaits, 2, 'both units were held');
    assert.is(b.rep.counters.handoverTimeouts, 0, 'handed over, not timed out');
    assert.is(r.text(key), 'new');
  });
});

// A node that missed maps cannot tell which node was the unit's active just before the
// switch: it waits until every live node follows the switch.
test('a new active whose previous map is not the one the switch came from waits for every live node', async () => {
  await withThreeNodes(async (nodes, keys) => {
    const [a, r, b] = nodes as [TestNode, TestNode, TestNode];
    const key = keyIn(0);
    await stagedAndCopied(nodes, keys, key);
    const skipped = mapOf(3, keys, [2, 1, 0]);
    r.follow(skipped);
    b.follow(skipped);
    // B went from epoch 1 to 3: it asked A and R.
    assert.equal(b.own.activeRanges(), [], 'B holds the units');
    const next = b.run(Op.SET, key, 'new', 'none');
    assert.instance(next, Promise, 'B waits: A has not handed over');
    assert.is((await next)[1], Status.NOT_MY_BUCKET, 'R alone does not release the unit');
    a.follow(skipped);
    await until(() => b.own.activeRanges()?.length === 1, 10_000, 'B serves once A follows the switch too');
    const frame = await withDeadline(Promise.resolve(b.run(Op.SET, key, 'new', 'majority')), 10_000, 'B\'s write');
    assert.is(frame[1], Status.OK);
    assert.is(b.rep.counters.handoverTimeouts, 0);
  });
});

// The old active never adopts the switch (it cannot reach the manager, so its lease runs
// out): the new active serves once the wait is over.
test('a unit is held at most the handover wait', async () => {
  await withThreeNodes(async (nodes, keys) => {
    const [, r, b] = nodes as [TestNode, TestNode, TestNode];
    const key = keyIn(0);
    const switched = await stagedAndCopied(nodes, keys, key);
    r.follow(switched);
    b.follow(switched);
    const heldAt = Date.now();
    await until(() => b.own.activeRanges()?.length === 1, 10_000, 'B serves the units');
    assert.ok(Date.now() - heldAt >= 250, 'not before the wait');
    assert.is(b.rep.counters.handoverTimeouts, 2);
    const frame = await withDeadline(Promise.resolve(b.run(Op.SET, key, 'new', 'majority')), 10_000, 'B\'s write');
    assert.is(frame[1], Status.OK);
  }, { handoverWaitMs: 300 });
});

// The old active's last record for B did not go on the link (refused: the link was down or
// its queue full; it went the hint path) while its answer did. B released the unit on the
// answer without it: the write A acknowledged was lost on the unit's new active, and R,
// which had it, disagreed with B. The answer carries A's seqnos: B copies what it lacks
// first. (A stays a replica here, as a gracefully failed-over node does, and keeps the
// unit's history to copy from.)
/**
 * A's record for B is refused by the link (it goes the hint path, and hints are off here);
 * R has it. Then all three adopt the switch to `chain` (B active). Returns once B serves
 * the units, having checked that B has A's acknowledged write.
 */
async function refusedThenSwitched(nodes: TestNode[], keys: string[], key: string, chain: number[]): Promise<void> {
  const [a, r, b] = nodes as [TestNode, TestNode, TestNode];
  await stagedAndCopied(nodes, keys, key);
  const switched = mapOf(2, keys, chain);
  const send = a.plane.send.bind(a.plane);
  a.plane.send = (peer, message) => (peer === keys[2] && (message as { t?: unknown }).t === 'rep' ? false : send(peer, message));
  const old = a.run(Op.SET, key, 'old', 'none');
  assert.is((old as ResponseFrame)[1], Status.OK, 'A acknowledges');
  await until(() => r.text(key) === 'old', 10_000, 'R has A\'s write');
  a.plane.send = send;
  r.follow(switched);
  b.follow(switched);
  a.follow(switched);
  await until(() => b.held.size === 0 && b.rep.backfilling === 0, 10_000, 'B serves the units');
  assert.is(b.text(key), 'old', 'B has the write A acknowledged');
  assert.is(b.rep.counters.handoverTimeouts, 0, 'not released by the wait');
}

test('the old active\'s records that its link refused are copied before the new active serves the unit', async () => {
  await withThreeNodes(async (nodes, keys) => {
    const [a, r, b] = nodes as [TestNode, TestNode, TestNode];
    const key = keyIn(0);
    await refusedThenSwitched(nodes, keys, key, [2, 1, 0]);
    const read = await b.run(Op.GET, key, null);
    assert.is(Buffer.from(read[2] as Uint8Array).toString(), 'old');
    const frame = await withDeadline(Promise.resolve(b.run(Op.SET, key, 'new', 'majority')), 10_000, 'B\'s write');
    assert.is(frame[1], Status.OK);
    await until(() => r.text(key) === 'new' && a.text(key) === 'new', 10_000, 'R and A as B');
  });
});

// A plain move: A leaves the unit's chain at the switch and forgets the unit. Its record
// for B was refused by the link; R has it. Before, A's answer no longer reported the unit
// and B served it at once, without A's acknowledged write.
test('the old active\'s records that its link refused are copied from a replica when the old active left the chain', async () => {
  await withThreeNodes(async (nodes, keys) => {
    const [, r, b] = nodes as [TestNode, TestNode, TestNode];
    const key = keyIn(0);
    await refusedThenSwitched(nodes, keys, key, [2, 1]);
    const frame = await withDeadline(Promise.resolve(b.run(Op.SET, key, 'new', 'majority')), 10_000, 'B\'s write');
    assert.is(frame[1], Status.OK);
    await until(() => r.text(key) === 'new', 10_000, 'R as B');
  }, { handoverWaitMs: 30_000 });
});

// B, holding the unit, saw a gap in A's records and copies the unit from A. A hands the unit
// over while the copy runs. Served at once, B's writes were overwritten by the copy's delta
// (and a full copy clears keys it did not bring). B serves the unit once the copy ended.
test('a unit being copied to its new active is not served before the copy ends', async () => {
  await withThreeNodes(async (nodes, keys) => {
    const [a, r, b] = nodes as [TestNode, TestNode, TestNode];
    const key = keyIn(0);
    const switched = await stagedAndCopied(nodes, keys, key);
    r.follow(switched);
    b.follow(switched);
    // B's pulls wait until the gate opens.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => { open = resolve; });
    const request = b.plane.request.bind(b.plane);
    b.plane.request = async (peer, message, ms) => {
      if ((message as { t?: unknown }).t === 'pull') await gate;
      return request(peer, message, ms);
    };
    // One record of A's for B is lost: the next one is a gap, and B copies the unit from A.
    const send = a.plane.send.bind(a.plane);
    let lost = 0;
    a.plane.send = (peer, message) => {
      if (peer === keys[2] && (message as { t?: unknown }).t === 'rep' && lost === 0) return ++lost > 0;
      return send(peer, message);
    };
    assert.is((a.run(Op.SET, key, 'one', 'none') as ResponseFrame)[1], Status.OK);
    await Promise.resolve();
    a.plane.send = send;
    assert.is((a.run(Op.SET, key, 'two', 'none') as ResponseFrame)[1], Status.OK);
    await until(() => b.rep.backfilling === 1, 10_000, 'B copies the unit from A');
    a.follow(switched);
    // A's answer is at B: a probe sent after it on the same link came in.
    const probed = new Promise<void>((resolve) => {
      b.plane.on('message', (peer, m) => { if (peer === keys[0] && (m as { t?: unknown }).t === 'probe') resolve(); });
    });
    await Promise.resolve();
    assert.ok(a.plane.send(keys[2]!, { t: 'probe' }), 'sent');
    await withDeadline(probed, 10_000, 'A\'s answer at B');
    assert.equal([...b.held], [0], 'unit 1 is served, unit 0 held while it is copied');
    open();
    await until(() => b.held.size === 0, 10_000, 'B serves the unit once the copy ended');
    assert.is(b.text(key), 'two');
    const frame = await withDeadline(Promise.resolve(b.run(Op.SET, key, 'new', 'majority')), 10_000, 'B\'s write');
    assert.is(frame[1], Status.OK);
    await until(() => r.text(key) === 'new', 10_000, 'R as B');
    assert.is(b.text(key), 'new');
  });
});

test.run();
