import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import HyperDHT, { type NoiseSecretStream } from 'hyperdht';
import { spawnDht } from '../../bin/spawn.js';
import { startDhtBootstrap } from '../../cluster/peer/dht-bootstrap.js';
import { PeerPlane, type PeerKeyPair, type PeerPlaneEvents, type PeerReply } from '../../cluster/peer/peer-plane.js';
import { FRAME_HEADER_BYTES, encodeFrame } from '../../cluster/peer/frame-codec.js';
import { helloFrame, messageFrame } from '../../cluster/peer/peer-envelope.js';
import type { DhtNodeAddress, PeerPlaneOptions } from '../../cluster/peer/options.js';
import { generateKeyPair } from '../../shared/auth/keys.js';
import { ErrorCode, KvError } from '../../shared/errors.js';
import { rejection, until, withDeadline } from '../helpers/deadline.js';

const test = suite('integration - peer plane over hyperswarm');

// Short redial delays so a test never waits on hyperswarm's default 1 s / 5 s / 15 s steps.
const FAST: Partial<PeerPlaneOptions> = { backoffsMs: [100, 250, 500, 1000], backoffJitterMs: 20, helloTimeoutMs: 3000, requestTimeoutMs: 5000 };

interface Net {
  bootstrap: DhtNodeAddress[];
  open(keyPair?: PeerKeyPair, opts?: Partial<PeerPlaneOptions>): Promise<PeerPlane>;
}

/** A local bootstrap node and the planes opened through it; all closed at the end, in reverse. */
async function withNet<T>(body: (net: Net) => Promise<T>, bootstrap?: DhtNodeAddress[], ms = 30_000): Promise<T> {
  const boot = bootstrap === undefined ? await startDhtBootstrap() : null;
  const list = bootstrap ?? [boot!.address];
  const planes: PeerPlane[] = [];
  const net: Net = {
    bootstrap: list,
    async open(keyPair = generateKeyPair(), opts = {}) {
      const plane = new PeerPlane(keyPair, list, { ...FAST, ...opts });
      planes.push(plane);
      await plane.start();
      return plane;
    },
  };
  try {
    return await withDeadline(body(net), ms, 'test body');
  } finally {
    for (const p of planes.reverse()) await withDeadline(p.close(), 5000, 'plane close');
    if (boot !== null) await boot.close();
  }
}

type Args<E extends keyof PeerPlaneEvents> = Parameters<PeerPlaneEvents[E]>;

/** The next `event` on `plane` whose arguments pass `match`, under a deadline. Call before the cause. */
function next<E extends keyof PeerPlaneEvents>(plane: PeerPlane, event: E, match: (...args: Args<E>) => boolean = () => true, ms = 10_000): Promise<Args<E>> {
  const emitter = plane as unknown as { on(e: string, f: (...a: unknown[]) => void): void; off(e: string, f: (...a: unknown[]) => void): void };
  let listener: (...a: unknown[]) => void = () => {};
  const seen = new Promise<Args<E>>((resolve) => {
    listener = (...a: unknown[]) => {
      if (!match(...(a as Args<E>))) return;
      emitter.off(event, listener);
      resolve(a as Args<E>);
    };
    emitter.on(event, listener);
  });
  return withDeadline(seen, ms, `${event} on ${plane.publicKey.slice(0, 8)}`).finally(() => emitter.off(event, listener));
}

function echo(_peer: string, message: unknown, reply: PeerReply | undefined): void {
  reply?.({ echo: message });
}

/** Open planes that all allow each other; resolve when every pair is up. */
async function mesh(net: Net, n: number): Promise<PeerPlane[]> {
  const planes: PeerPlane[] = [];
  for (let i = 0; i < n; i++) planes.push(await net.open());
  const ups = planes.flatMap((p) => planes.filter((q) => q !== p).map((q) => next(p, 'peer-up', (k) => k === q.publicKey)));
  for (const p of planes) p.setPeers(planes.map((q) => q.publicKey));
  await Promise.all(ups);
  return planes;
}

test('refuses to start without an explicit bootstrap list or with a bad key pair', () => {
  const kp = generateKeyPair();
  for (const make of [
    () => new PeerPlane(kp, []),
    () => new PeerPlane(kp, undefined as unknown as DhtNodeAddress[]),
    () => new PeerPlane(kp, [{ host: '127.0.0.1', port: 0 }]),
    () => new PeerPlane({ publicKey: kp.publicKey, secretKey: kp.publicKey }, [{ host: '127.0.0.1', port: 1 }]),
  ]) {
    try {
      make();
      assert.unreachable('constructor accepted it');
    } catch (err) {
      assert.is((err as KvError).code, ErrorCode.INVALID_ARGUMENT);
    }
  }
});

test('two planes connect and requests, replies and one-way messages flow both ways', () => withNet(async (net) => {
  const [a, b] = await mesh(net, 2) as [PeerPlane, PeerPlane];
  a.on('message', echo);
  b.on('message', echo);
  assert.equal(await a.request(b.publicKey, { n: 1 }), { echo: { n: 1 } });
  assert.equal(await b.request(a.publicKey, [1, 'two', Buffer.from('3')]), { echo: [1, 'two', Buffer.from('3')] });
  const got = next(b, 'message', (peer, msg, reply) => peer === a.publicKey && reply === undefined && (msg as { hi?: number }).hi === 1);
  assert.ok(a.send(b.publicKey, { hi: 1 }));
  await got;
  assert.equal(a.upPeers(), [b.publicKey]);
  assert.equal(b.upPeers(), [a.publicKey]);
}));

test('a failed request carries the code the peer failed it with, and a missing handler is UNAVAILABLE', () => withNet(async (net) => {
  const [a, b] = await mesh(net, 2) as [PeerPlane, PeerPlane];
  assert.is((await rejection(a.request(b.publicKey, 'nobody listens'))).code, ErrorCode.UNAVAILABLE);
  b.on('message', (_peer, _msg, reply) => reply?.(KvError.notMyBucket(7)));
  const err = await rejection(a.request(b.publicKey, 'x'));
  assert.is(err.code, ErrorCode.NOT_MY_BUCKET);
  assert.is((await rejection(a.request(b.publicKey, 'x'.repeat(100), 1000))).code, ErrorCode.NOT_MY_BUCKET);
  b.removeAllListeners('message');
  b.on('message', () => { /* never answers */ });
  assert.is((await rejection(a.request(b.publicKey, 'slow', 50))).code, ErrorCode.TIMEOUT);
  assert.is((await rejection(a.request('00'.repeat(32), 'x'))).code, ErrorCode.UNAVAILABLE);
  assert.not.ok(a.send('00'.repeat(32), 'x'));
}));

test('three planes form a full mesh with exactly one connection per pair and no flapping', () => withNet(async (net) => {
  const planes: PeerPlane[] = [];
  for (let i = 0; i < 3; i++) planes.push(await net.open());
  const ups = new Map<PeerPlane, string[]>();
  const downs: string[] = [];
  for (const p of planes) {
    ups.set(p, []);
    p.on('peer-up', (k) => ups.get(p)!.push(k));
    p.on('peer-down', (k) => downs.push(k));
    p.on('message', echo);
  }
  for (const p of planes) p.setPeers(planes.map((q) => q.publicKey));
  await until(() => planes.every((p) => p.upPeers().length === 2), 10_000, 'full mesh');
  for (const p of planes) {
    for (const q of planes) if (q !== p) assert.equal(await p.request(q.publicKey, 'ping'), { echo: 'ping' });
  }
  for (const p of planes) assert.is(ups.get(p)!.length, 2, 'one peer-up per peer');
  assert.equal(downs, []);
  for (const p of planes) {
    const swarm = (p as unknown as { swarm: { connections: Set<unknown> } }).swarm;
    assert.is(swarm.connections.size, 2, 'one hyperswarm connection per peer');
  }
}));

test('a dial that arrives before the map lists its key is held, and comes up as soon as the key is listed', () => withNet(async (net) => {
  const a = await net.open();
  const b = await net.open(undefined, { unknownPeerGraceMs: 20_000 });
  const refusedEarly: string[] = [];
  b.on('refused', (k) => refusedEarly.push(k));
  // The dialer's map already lists the acceptor; the acceptor's does not list the dialer yet.
  a.setPeers([b.publicKey]);
  await until(() => b.stats().pandakv_peer_held_count === 1, 10_000, 'dial held');
  assert.not.ok(a.isUp(b.publicKey), 'nothing is exchanged while held');
  const ups = Promise.all([next(a, 'peer-up'), next(b, 'peer-up')]);
  const t0 = performance.now();
  b.setPeers([a.publicKey]);
  await ups;
  console.log(`    peer plane: held dial up ${(performance.now() - t0).toFixed(0)} ms after its key was listed`);
  b.on('message', echo);
  assert.equal(await a.request(b.publicKey, 'held'), { echo: 'held' });
  assert.is(b.stats().pandakv_peer_held_count, 0);
  assert.equal(refusedEarly, []);
}));

test('a key outside the set is held for the grace, then refused, and never comes up', () => withNet(async (net) => {
  const a = await net.open(undefined, { unknownPeerGraceMs: 300 });
  const b = await net.open();
  const stranger = await net.open();
  const ab = Promise.all([next(a, 'peer-up'), next(b, 'peer-up')]);
  a.setPeers([b.publicKey]);
  b.setPeers([a.publicKey]);
  await ab;
  const refused = next(a, 'refused', (k) => k === stranger.publicKey);
  stranger.setPeers([a.publicKey]);
  await refused;
  assert.not.ok(a.isUp(stranger.publicKey));
  assert.not.ok(stranger.isUp(a.publicKey));
  assert.equal(a.upPeers(), [b.publicKey]);
  assert.ok(a.stats().pandakv_peer_refused_total >= 1);
  assert.is(a.stats().pandakv_peer_held_count, 0);
}));

test('held dials are bounded: past maxHeldUnknownPeers, or with no grace, a stranger is refused at once', () => withNet(async (net) => {
  for (const opts of [{ maxHeldUnknownPeers: 0 }, { unknownPeerGraceMs: 0 }]) {
    const a = await net.open(undefined, opts);
    const s = await net.open();
    const refused = next(a, 'refused', (k) => k === s.publicKey);
    s.setPeers([a.publicKey]);
    await refused;
    assert.is(a.stats().pandakv_peer_held_count, 0);
    assert.not.ok(s.isUp(a.publicKey));
    await s.close();
  }
}));

test('removing a peer from the set drops it, refuses its redials at once, and adding it back reconnects', () => withNet(async (net) => {
  const [a, b] = await mesh(net, 2) as [PeerPlane, PeerPlane];
  const downs = Promise.all([next(a, 'peer-down', (k) => k === b.publicKey), next(b, 'peer-down', (k) => k === a.publicKey)]);
  const redialRefused = next(a, 'refused', (k) => k === b.publicKey);
  a.setPeers([]);
  const [[, reason]] = await downs;
  assert.is(reason.code, ErrorCode.CONNECTION_CLOSED);
  await redialRefused;
  assert.not.ok(a.isUp(b.publicKey));
  const ups = Promise.all([next(a, 'peer-up'), next(b, 'peer-up')]);
  a.setPeers([b.publicKey]);
  await ups;
  b.on('message', echo);
  assert.equal(await a.request(b.publicKey, 'back'), { echo: 'back' });
}));

test('closing one side fires peer-down, fails in-flight requests, and a restart with the same key reconnects', () => withNet(async (net) => {
  const kb = generateKeyPair();
  const a = await net.open();
  let b = await net.open(kb);
  const ups = Promise.all([next(a, 'peer-up'), next(b, 'peer-up')]);
  a.setPeers([b.publicKey]);
  b.setPeers([a.publicKey]);
  await ups;
  const arrived = next(b, 'message');
  b.on('message', () => { /* holds every request */ });
  const inFlight = a.request(b.publicKey, 'held', 20_000);
  inFlight.catch(() => {});
  await arrived;
  const down = next(a, 'peer-down', (k) => k === b.publicKey);
  const closed = b.close();
  const err = await rejection(inFlight);
  assert.is(err.code, ErrorCode.CONNECTION_CLOSED);
  await down;
  await closed;
  assert.not.ok(a.isUp(b.publicKey));

  const t0 = performance.now();
  const again = next(a, 'peer-up', (k) => k === Buffer.from(kb.publicKey).toString('hex'));
  b = await net.open(kb);
  b.on('message', echo);
  b.setPeers([a.publicKey]);
  await again;
  console.log(`    peer plane: restarted peer back up in ${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(await a.request(b.publicKey, 'again'), { echo: 'again' });
}));

/** Dial `target` with a bare hyperdht node under `keyPair` and return the open Noise socket. */
async function rawConnect(bootstrap: DhtNodeAddress[], target: string, keyPair: PeerKeyPair): Promise<{ socket: NoiseSecretStream; closed: Promise<void>; close(): Promise<void> }> {
  const dht = new HyperDHT({ bootstrap, host: '127.0.0.1', port: [0, 0] });
  await dht.fullyBootstrapped();
  const socket = dht.connect(Buffer.from(target, 'hex'), { keyPair: { publicKey: Buffer.from(keyPair.publicKey), secretKey: Buffer.from(keyPair.secretKey) } });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await withDeadline(new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('close', () => reject(new Error('raw connection closed before open')));
  }), 10_000, 'raw connect');
  return { socket, closed, close: async () => { socket.destroy(); await dht.destroy(); } };
}

const garbage: Array<[string, () => Buffer, string]> = [
  ['an oversized length', () => Buffer.concat([encodeFrame(helloFrame(), 1 << 20), Buffer.from([0xff, 0xff, 0xff, 0xf0])]), ErrorCode.TOO_LARGE],
  ['garbage CBOR', () => Buffer.concat([encodeFrame(helloFrame(), 1 << 20), Buffer.from([0, 0, 0, 3, 0xff, 0xfe, 0xfd])]), ErrorCode.PROTOCOL],
  ['a message before HELLO', () => encodeFrame(messageFrame('early'), 1 << 20), ErrorCode.PROTOCOL],
  ['a zero length', () => Buffer.alloc(FRAME_HEADER_BYTES), ErrorCode.PROTOCOL],
];

for (const [what, bytes, code] of garbage) {
  test(`${what} from an allowed key drops that connection only, with a link-error`, () => withNet(async (net) => {
    const [a, b] = await mesh(net, 2) as [PeerPlane, PeerPlane];
    b.on('message', echo);
    const rawKey = generateKeyPair();
    a.setPeers([b.publicKey, Buffer.from(rawKey.publicKey).toString('hex')]);
    const raw = await rawConnect(net.bootstrap, a.publicKey, rawKey);
    try {
      const failed = next(a, 'link-error', (k) => k === Buffer.from(rawKey.publicKey).toString('hex'));
      raw.socket.write(bytes());
      const [, err] = await failed;
      assert.is(err.code, code, err.message);
      await withDeadline(raw.closed, 10_000, 'raw socket closed by the plane');
      assert.ok(a.isUp(b.publicKey));
      assert.equal(await a.request(b.publicKey, 'still fine'), { echo: 'still fine' });
    } finally {
      await raw.close();
    }
  }));
}

test('a full write queue refuses sends and requests with BUSY, then drains', () => withNet(async (net) => {
  const a2 = await net.open(undefined, { maxQueuedBytesPerPeer: 256 * 1024 });
  const b = await net.open();
  const ups = Promise.all([next(a2, 'peer-up'), next(b, 'peer-up')]);
  a2.setPeers([b.publicKey]);
  b.setPeers([a2.publicKey]);
  await ups;
  let received = 0;
  b.on('message', (_p, _m, reply) => { if (reply === undefined) received++; });
  const chunk = Buffer.alloc(60 * 1024, 1);
  let accepted = 0;
  while (a2.send(b.publicKey, chunk)) accepted++;
  assert.ok(accepted >= 1 && accepted * chunk.length <= 256 * 1024, `accepted ${accepted}`);
  assert.is((await rejection(a2.request(b.publicKey, chunk))).code, ErrorCode.BUSY);
  const drained = next(a2, 'drain');
  await Promise.resolve();
  if (a2.isBusy(b.publicKey)) await drained;
  await until(() => received === accepted, 10_000, 'every accepted message arrives');
  assert.ok(a2.send(b.publicKey, chunk));
}));

test('connect time and request round trip on loopback (measured)', () => withNet(async (net) => {
  const a = await net.open();
  const b = await net.open();
  b.on('message', echo);
  const t0 = performance.now();
  const ups = Promise.all([next(a, 'peer-up'), next(b, 'peer-up')]);
  a.setPeers([b.publicKey]);
  b.setPeers([a.publicKey]);
  await ups;
  const connectMs = performance.now() - t0;
  const n = 2000;
  let t = performance.now();
  for (let i = 0; i < n; i++) await a.request(b.publicKey, { i });
  const rttUs = ((performance.now() - t) * 1000) / n;
  t = performance.now();
  const total = 20_000;
  let sent = 0;
  const lane = async (): Promise<void> => { while (sent < total) { sent++; await a.request(b.publicKey, { i: sent }); } };
  await Promise.all(Array.from({ length: 64 }, lane));
  const perSec = total / ((performance.now() - t) / 1000);
  console.log(`    peer plane on loopback: connect ${connectMs.toFixed(0)} ms; sequential request round trip ${rttUs.toFixed(0)} µs; 64 in flight ${Math.round(perSec)} req/s`);
  assert.ok(connectMs < 10_000);
}, undefined, 60_000));

test('two planes connect through a spawned pandakv dht process', async () => {
  const dht = await spawnDht();
  try {
    const [host, port] = dht.address.split(':') as [string, string];
    assert.is(host, '127.0.0.1');
    await withNet(async (net) => {
      const [a, b] = await mesh(net, 2) as [PeerPlane, PeerPlane];
      b.on('message', echo);
      assert.equal(await a.request(b.publicKey, 'via dht process'), { echo: 'via dht process' });
    }, [{ host, port: Number(port) }]);
  } finally {
    const code = await dht.stop('SIGTERM');
    assert.is(code, 0, `pandakv dht exit code; stderr: ${dht.stderr.join(' | ')}`);
  }
});

test.run();
