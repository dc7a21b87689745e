import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from '../helpers/suite.js';
import { withCluster } from '../helpers/cluster.js';
import { keysOn, replicatedCluster } from '../helpers/replicated.js';
import { poll } from '../helpers/deadline.js';
import { connect } from '../../sdk/index.js';
import { PeerPlane } from '../../cluster/peer/peer-plane.js';
import { loadOrCreateKeyFile } from '../../shared/auth/index.js';
import { chainOf, type ClusterMap } from '../../shared/cluster-map.js';
import { ErrorCode, KvError } from '../../shared/errors.js';

const test = suite('integration - a registered peer sending hostile requests');

/** What a node answers a pull (backfill.ts): only the parts this test reads. */
interface PullAnswer {
  items: unknown[];
  seqs: Array<[number, number, string]>;
  deltaUnits?: number[];
}

/** Units of `map` whose active is node `index`. */
function activeUnits(map: ClusterMap, index: number): number[] {
  const perUnit = 2 ** (map.bits - map.unitBits);
  const out: number[] = [];
  for (let u = 0; u < 2 ** map.unitBits; u++) if (chainOf(map, u * perUnit)[0] === index) out.push(u);
  return out;
}

/**
 * A member's key can be taken (a compromised or buggy node): a process holding it joins the
 * peer plane as that node and sends what it likes. The node serving it must bound the work
 * of every request, answer each (an error for what is malformed), and keep serving clients.
 */
test('a peer with a member\'s key floods a node with replayed delta pulls and malformed requests: every request answered, no client op fails', () => withCluster({
  nodes: 2, hasDht: true, deadlineMs: 180_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '600000'],
}, async ({ manager, nodes, dir, dht }) => {
  const db = await connect({ map: manager.address, timeoutMs: 5000 });
  let plane: PeerPlane | null = null;
  try {
    await replicatedCluster(db, manager.address, 2);
    const map = db.map!;
    const [target, victim] = nodes as [typeof nodes[0], typeof nodes[0]];
    const targetIndex = map.nodes.findIndex((n) => n.address === target.address);
    const targetKey = map.nodes[targetIndex]!.peerKey!;
    const units = activeUnits(map, targetIndex);
    // Keys the target is active for: they stay writable with the victim gone.
    const keys = keysOn(map, targetIndex, 'k:', 2000);
    for (const key of keys) await db.set(key, `v0:${key}`);

    // The victim is killed and stays in the map (no failover for 10 minutes); a process
    // holding its key takes its place on the peer plane.
    const victimId = readFileSync(join(dir, 'node-1', 'node-id'), 'utf8').trim();
    const victimKey = loadOrCreateKeyFile(join(dir, 'node-1', 'node.key'), victimId);
    await victim.stop('SIGKILL');
    const at = dht!.lastIndexOf(':');
    plane = new PeerPlane(victimKey, [{ host: dht!.slice(0, at), port: Number(dht!.slice(at + 1)) }], { requestTimeoutMs: 15_000, backoffsMs: [100, 250, 500, 1000], backoffJitterMs: 20 });
    // The target streams its writes to the victim's key: received, never acknowledged.
    plane.on('message', () => {});
    plane.on('link-error', () => {});
    await plane.start();
    plane.setPeers([targetKey]);
    const p = plane;
    await poll(async () => (p.upPeers().includes(targetKey) ? true : null), 30_000, 'the peer link to the target');
    const pull = (message: Record<string, unknown>): Promise<unknown> => p.request(targetKey, { t: 'pull', ...message });
    // What the victim would have offered had it come back: each unit's seqno and fingerprint now.
    const learned = await poll(async () => pull({ units, limit: 1 }).then((a) => a as PullAnswer, () => null), 30_000, 'a first pull');
    const offers = learned.seqs.filter(([, seq]) => seq > 0).map(([u, seq, print]) => [u, seq, print]);
    assert.ok(offers.length > 0, 'the target has history to offer against');
    for (let round = 1; round <= 3; round++) for (const key of keys) await db.set(key, `v${round}:${key}`);

    // Clients keep reading and writing the target's keys all along.
    let isFlooding = true;
    let clientOps = 0;
    let clientFailures = 0;
    let clientWrong = 0;
    let maxClientMs = 0;
    const client = async (w: number): Promise<void> => {
      for (let i = w; isFlooding; i += 4) {
        const key = keys[i % keys.length]!;
        const value = `c${i}:${key}`;
        const started = performance.now();
        try {
          await db.set(key, value);
          if (Buffer.from((await db.get(key))!).toString() !== value) clientWrong++;
          clientOps += 2;
        } catch {
          clientFailures++;
        }
        maxClientMs = Math.max(maxClientMs, performance.now() - started);
      }
    };
    const clients = Array.from({ length: 4 }, (_, w) => client(w));

    let answered = 0;
    let refused = 0;
    let unanswered = 0;
    let deltaAnswers = 0;
    let maxAnswerMs = 0;
    const ask = async (request: Promise<unknown>): Promise<unknown> => {
      const started = performance.now();
      try {
        const answer = await request;
        answered++;
        return answer;
      } catch (err) {
        if (err instanceof KvError && err.code !== 'KV_ERR_TIMEOUT') refused++;
        else unanswered++;
        return null;
      } finally {
        maxAnswerMs = Math.max(maxAnswerMs, performance.now() - started);
      }
    };
    // Replayed delta pulls: each makes the target walk its change log from the offered seqno.
    const replay = async (): Promise<void> => {
      for (let i = 0; i < 15; i++) {
        const answer = await ask(pull({ units, since: offers, limit: 4096 })) as PullAnswer | null;
        if ((answer?.deltaUnits?.length ?? 0) > 0) deltaAnswers++;
      }
    };
    const junk = randomBytes(64);
    const bogusEarlier = Array.from({ length: 4000 }, (_, i) => [i + 1, 'bogus']);
    const malformed: Array<Record<string, unknown>> = [
      { t: 'pull', units: 'all' },
      { t: 'pull', units: [] },
      { t: 'pull', units: [-1, 2 ** 40, 0.5, 'x'] },
      { t: 'pull', units: Array.from({ length: 100_000 }, (_, i) => i) },
      { t: 'pull', units, limit: 1e12, after: junk },
      { t: 'pull', units, limit: -5, after: 'not bytes', order: 'bucket' },
      { t: 'pull', units, after: junk, order: 'bucket' },
      { t: 'pull', units, since: 'junk' },
      { t: 'pull', units, since: units.map((u) => [u, 2 ** 52, 'x', bogusEarlier]) },
      { t: 'pull', units, since: Array.from({ length: 100_000 }, () => [units[0], 1, '', [[1, '']]]) },
      { t: 'vals', keys: Array.from({ length: 70_000 }, (_, i) => Buffer.from(`x${i}`)) },
      { t: 'vals', keys: 'x' },
      { t: 'vals', keys: keys.slice(0, 500).map((k) => Buffer.from(k)) },
      { t: 'hint', h: junk },
      { t: 'hrep', r: [[1, 2, 3], 'x', null], e: 'epoch' },
      { t: 'nope' },
    ];
    const hostile = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) for (const m of malformed) await ask(p.request(targetKey, m));
      // One-way messages with no reply expected: replication records and acks that make no sense.
      for (let i = 0; i < 200; i++) {
        p.send(targetKey, { t: 'rep', r: [[junk, i, 'x']], e: -1 });
        p.send(targetKey, { t: 'ack', a: { [String(units[0])]: 2 ** 60 }, e: 'x', p: junk });
      }
    };
    await Promise.all([replay(), replay(), replay(), replay(), hostile()]);
    isFlooding = false;
    await Promise.all(clients);

    // Nothing the target acknowledged was lost or changed by the flood.
    let lost = 0;
    for (const key of keys) {
      const v = await db.get(key);
      if (v === null || !/^(v3|c\d+):/.test(Buffer.from(v).toString())) lost++;
    }
    process.stdout.write(`    (${answered} answered, ${refused} refused with an error, ${unanswered} unanswered; ${deltaAnswers} replayed pulls answered by delta; `
      + `slowest answer ${maxAnswerMs.toFixed(0)} ms; clients: ${clientOps} ops, ${clientFailures} failed, ${clientWrong} wrong, slowest set+get ${maxClientMs.toFixed(0)} ms; ${lost} keys lost)\n`);
    const code = (m: Record<string, unknown>): Promise<string> => p.request(targetKey, m).then(() => 'answered', (err: KvError) => err.code);
    assert.is(await code({ t: 'nope' }), ErrorCode.BAD_REQUEST, 'a request of no known kind is refused at once');
    assert.is(await code({ t: 'pull', units: [] }), ErrorCode.BAD_REQUEST);
    assert.is(await code({ t: 'vals', keys: 'x' }), ErrorCode.BAD_REQUEST);
    assert.is(await code({ t: 'hint', h: junk }), ErrorCode.BAD_REQUEST);
    assert.is(target.child.exitCode, null, 'the target is still running');
    assert.is(unanswered, 0, 'every request answered before its deadline');
    assert.ok(refused >= 3 * 6, `malformed requests refused (${refused})`);
    assert.ok(deltaAnswers > 0, 'replayed pulls were served by delta');
    assert.is(clientFailures, 0);
    assert.is(clientWrong, 0);
    assert.is(lost, 0);
    assert.ok(clientOps > 0);
  } finally {
    await plane?.close();
    await db.close();
  }
}));

test.run();
