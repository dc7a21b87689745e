import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { authReasonOf } from '../../../../shared/auth/auth-error.js';
import { keyCredentials, passwordCredentials } from '../../../../shared/auth/credentials.js';
import { AuthClient, AuthServer, type AuthResult } from '../../../../shared/auth/handshake.js';
import {
  PASSWORD_LIMITS_MIN, SALT_BYTES, derivePasswordKeyPair, equalBytes, generateKeyPair, newSalt, randomBytes, toHex, type KeyPair,
} from '../../../../shared/auth/keys.js';
import { NonceStore } from '../../../../shared/auth/nonce-store.js';
import type { AuthServerOptions } from '../../../../shared/auth/options.js';
import { PrincipalTable, type Principal } from '../../../../shared/auth/principal.js';
import { CLIENT_DOMAIN, SERVER_DOMAIN, clientTranscript, serverTranscript, type AuthMessage } from '../../../../shared/auth/transcript.js';
import type { KvError } from '../../../../shared/errors.js';
import { Op } from '../../../../shared/protocol/ops.js';

const test = suite('shared - auth handshake');

const SERVER_KEYS = generateKeyPair();
const ALICE = generateKeyPair();
const CAROL = generateKeyPair();
const BOB_SALT = newSalt();
const BOB_PASSWORD = 'bob password';
const BOB = derivePasswordKeyPair(BOB_PASSWORD, BOB_SALT, PASSWORD_LIMITS_MIN);

function principals(): Principal[] {
  return [
    { name: 'alice', publicKey: toHex(ALICE.publicKey), roles: ['read'], salt: null },
    { name: 'bob', publicKey: toHex(BOB.publicKey), roles: ['read', 'write'], salt: toHex(BOB_SALT) },
    { name: 'carol', publicKey: toHex(CAROL.publicKey), roles: ['admin'], salt: null },
  ];
}

interface Fixture {
  table: PrincipalTable;
  store: NonceStore;
  advance(ms: number): void;
  server(overrides?: Partial<AuthServerOptions>): AuthServer;
}

function fixture(): Fixture {
  let t = 1_000_000;
  const now = (): number => t;
  const table = new PrincipalTable(principals());
  const store = new NonceStore({ now });
  return {
    table,
    store,
    advance: (ms) => { t += ms; },
    server: (overrides = {}) => new AuthServer({ serverId: 'node-1', serverKeyPair: SERVER_KEYS, principals: table, nonceStore: store, now, ...overrides }),
  };
}

function aliceClient(keys: KeyPair = ALICE, name = 'alice'): AuthClient {
  return new AuthClient({ credentials: keyCredentials(name, keys), serverPublicKey: SERVER_KEYS.publicKey });
}

function failure(r: AuthResult): Extract<AuthResult, { ok: false }> {
  if (r.ok) throw new Error('expected a failure');
  return r;
}

function clientCode(fn: () => unknown): [string | undefined, string | undefined] {
  try {
    fn();
  } catch (err) {
    return [(err as KvError).code, authReasonOf(err)];
  }
  return [undefined, undefined];
}

test('a key principal authenticates, and the client verifies the server (mutual auth)', () => {
  const f = fixture();
  const server = f.server();
  const client = aliceClient();
  const challenge = server.challenge();
  assert.is(challenge.serverId, 'node-1');
  assert.is(challenge.nonce.length, 32);
  assert.is(challenge.salt, undefined);
  const message = client.answer(challenge);
  const result = server.respond(message);
  assert.ok(result.ok);
  if (!result.ok) return;
  assert.is(result.principal.name, 'alice');
  assert.ok(equalBytes(result.serverPublicKey, SERVER_KEYS.publicKey));
  assert.ok(server.isAuthenticated);
  assert.is(server.principal?.name, 'alice');
  assert.ok(client.verifyServer(null, result.serverSignature), 'configured key');
});

test('the client accepts the server key from the map and refuses a signature by any other key', () => {
  const f = fixture();
  const server = f.server();
  const client = new AuthClient({ credentials: keyCredentials('alice', ALICE) });
  const result = server.respond(client.answer(server.challenge()));
  assert.ok(result.ok);
  if (!result.ok) return;
  assert.ok(client.verifyServer(toHex(SERVER_KEYS.publicKey), result.serverSignature), 'hex key from the map');

  const impostor = new AuthServer({ serverId: 'node-1', serverKeyPair: generateKeyPair(), principals: f.table, nonceStore: f.store });
  const r2 = impostor.respond(client.answer(impostor.challenge()));
  assert.ok(r2.ok, 'the impostor holds the principal table but not the server key');
  if (!r2.ok) return;
  assert.not.ok(client.verifyServer(SERVER_KEYS.publicKey, r2.serverSignature));
  assert.not.ok(client.verifyServer(SERVER_KEYS.publicKey, result.serverSignature), 'no answer pending: a signature can be checked once');
});

test('the server signature is bound to this handshake\'s nonces', () => {
  const f = fixture();
  const client = aliceClient();
  const s1 = f.server();
  const r1 = s1.respond(client.answer(s1.challenge()));
  const s2 = f.server();
  client.answer(s2.challenge());
  assert.ok(r1.ok);
  if (r1.ok) assert.not.ok(client.verifyServer(null, r1.serverSignature), 'an old server signature does not verify a new handshake');
});

test('a password principal authenticates with the salt from a challenge that names it', () => {
  const f = fixture();
  const server = f.server();
  const client = new AuthClient({ credentials: passwordCredentials('bob', BOB_PASSWORD), serverPublicKey: SERVER_KEYS.publicKey, passwordLimits: PASSWORD_LIMITS_MIN });
  assert.ok(client.needsSalt);
  const challenge = server.challenge(client.principal);
  assert.ok(challenge.salt !== undefined && equalBytes(challenge.salt, BOB_SALT));
  const result = server.respond(client.answer(challenge));
  assert.ok(result.ok);
  if (result.ok) assert.ok(client.verifyServer(null, result.serverSignature));

  const wrong = new AuthClient({ credentials: passwordCredentials('bob', 'not it'), passwordLimits: PASSWORD_LIMITS_MIN });
  const s2 = f.server();
  assert.is(failure(s2.respond(wrong.answer(s2.challenge('bob')))).reason, 'bad-signature');
  assert.equal(clientCode(() => wrong.answer(s2.challenge())), ['KV_ERR_AUTH_FAILED', 'no-salt']);
});

test('a replayed AUTH fails with reason replay, also on another connection sharing the nonce store', () => {
  const f = fixture();
  const s1 = f.server();
  const message = aliceClient().answer(s1.challenge());
  assert.ok(s1.respond(message).ok);
  const s2 = f.server();
  const r = failure(s2.respond(message));
  assert.is(r.reason, 'replay');
  assert.is(r.error.code, 'KV_ERR_AUTH_FAILED');
  assert.is(authReasonOf(r.error), 'replay');
  assert.not.ok(s2.isAuthenticated);
});

test('any attempt uses up the nonce: a good signature after a bad one on the same nonce is a replay', () => {
  const f = fixture();
  const server = f.server();
  const good = aliceClient().answer(server.challenge());
  const bad: AuthMessage = { ...good, signature: randomBytes(64) };
  assert.is(failure(server.respond(bad)).reason, 'bad-signature');
  assert.is(failure(server.respond(good)).reason, 'replay');
});

test('a nonce issued to one connection cannot be used on another, and the attempt does not burn it', () => {
  const f = fixture();
  const a = f.server();
  const b = f.server();
  const message = aliceClient().answer(a.challenge());
  assert.is(failure(b.respond(message)).reason, 'unknown-nonce');
  assert.ok(a.respond(message).ok);
});

test('a nonce answered after the challenge ttl is expired', () => {
  const f = fixture();
  const server = f.server({ challengeTtlMs: 5_000 });
  const message = aliceClient().answer(server.challenge());
  f.advance(5_000);
  assert.is(failure(server.respond(message)).reason, 'expired');
  const fresh = aliceClient().answer(server.challenge());
  f.advance(4_999);
  assert.ok(server.respond(fresh).ok);
});

test('a nonce never issued is unknown', () => {
  const f = fixture();
  const server = f.server();
  const forged = aliceClient().answer({ nonce: randomBytes(32), serverId: 'node-1' });
  assert.is(failure(server.respond(forged)).reason, 'unknown-nonce');
});

test('a signature over anything else than this nonce, serverId and clientNonce is a bad signature', () => {
  const f = fixture();
  const server = f.server();
  const client = aliceClient();
  const c1 = server.challenge();
  const m1 = client.answer(c1);
  assert.is(failure(server.respond({ ...m1, clientNonce: randomBytes(32) })).reason, 'bad-signature');
  const c2 = server.challenge();
  const forOther = client.answer({ ...c2, serverId: 'node-2' });
  assert.is(failure(server.respond(forOther)).reason, 'bad-signature', 'signed for another server');
  const c3 = server.challenge();
  const m3 = client.answer(c3);
  const flipped = Uint8Array.from(m3.signature);
  flipped[10] = (flipped[10] as number) ^ 0x40;
  assert.is(failure(server.respond({ ...m3, signature: flipped })).reason, 'bad-signature');
});

test('a principal signing with another principal\'s key fails', () => {
  const f = fixture();
  const s1 = f.server();
  const asAliceWithCarolsKey = aliceClient(CAROL, 'alice');
  assert.is(failure(s1.respond(asAliceWithCarolsKey.answer(s1.challenge()))).reason, 'bad-signature');
  const s2 = f.server();
  const aliceMessage = aliceClient().answer(s2.challenge());
  assert.is(failure(s2.respond({ ...aliceMessage, principal: 'carol' })).reason, 'bad-signature', 'claiming a stronger principal');
});

test('an unknown principal fails as such, and its challenge still carries a salt of the usual shape', () => {
  const f = fixture();
  const server = f.server();
  const challenge = server.challenge('ghost');
  assert.ok(challenge.salt instanceof Uint8Array && challenge.salt.length === SALT_BYTES);
  assert.equal(Object.keys(challenge).sort(), Object.keys(server.challenge('bob')).sort());
  const ghost = new AuthClient({ credentials: keyCredentials('ghost', generateKeyPair()) });
  assert.is(failure(server.respond(ghost.answer(challenge))).reason, 'unknown-principal');
});

test('made-up salts are stable per name and do not single out key principals or unknown names', () => {
  const f = fixture();
  const s1 = f.server();
  const s2 = f.server();
  const ghost = s1.challenge('ghost').salt as Uint8Array;
  assert.ok(equalBytes(ghost, s2.challenge('ghost').salt as Uint8Array), 'asking again gives the same salt');
  assert.not.ok(equalBytes(ghost, s1.challenge('ghost2').salt as Uint8Array));
  const alice = s1.challenge('alice').salt as Uint8Array;
  assert.is(alice.length, SALT_BYTES, 'a key principal gets a salt too');
  assert.ok(equalBytes(alice, s2.challenge('alice').salt as Uint8Array));
  assert.ok(s1.challenge('not a valid name!').salt?.length === SALT_BYTES);
  assert.ok(s1.challenge('x'.repeat(100_000)).salt?.length === SALT_BYTES);
});

test('with a cluster-wide fakeSaltKey every server makes up the same salt; without, each its own', () => {
  const f = fixture();
  const key = randomBytes(32);
  const other = generateKeyPair();
  const a = f.server({ fakeSaltKey: key });
  const b = new AuthServer({ serverId: 'node-2', serverKeyPair: other, principals: f.table, nonceStore: f.store, fakeSaltKey: key });
  assert.ok(equalBytes(a.challenge('ghost').salt as Uint8Array, b.challenge('ghost').salt as Uint8Array));
  const c = new AuthServer({ serverId: 'node-2', serverKeyPair: other, principals: f.table, nonceStore: f.store });
  assert.not.ok(equalBytes(f.server().challenge('ghost').salt as Uint8Array, c.challenge('ghost').salt as Uint8Array));
  assert.throws(() => f.server({ fakeSaltKey: randomBytes(4) }));
});

test('after maxFailures failed attempts the connection is locked, even for a correct answer', () => {
  const f = fixture();
  const server = f.server({ maxFailures: 3 });
  const client = aliceClient();
  for (let i = 1; i <= 3; i++) {
    const m = client.answer(server.challenge());
    const r = failure(server.respond({ ...m, signature: randomBytes(64) }));
    assert.is(r.isLocked, i === 3, `attempt ${i}`);
  }
  assert.ok(server.isLocked);
  assert.is(server.failureCount, 3);
  assert.equal(clientCode(() => server.challenge()), ['KV_ERR_AUTH_FAILED', 'locked']);
  const other = f.server();
  const good = client.answer(other.challenge());
  const r = failure(server.respond(good));
  assert.is(r.reason, 'locked');
  assert.is(server.failureCount, 3, 'a locked connection stops counting');
  assert.ok(other.respond(good).ok, 'the locked attempt did not use up the other connection\'s nonce');
});

test('the default maxFailures is 5 and locking releases the connection\'s outstanding nonces', () => {
  const f = fixture();
  const server = f.server();
  server.challenge();
  server.challenge();
  const before = f.store.size;
  for (let i = 0; i < 5; i++) server.respond({});
  assert.ok(server.isLocked);
  assert.is(f.store.size, before - 2);
});

test('malformed AUTH messages are refused as malformed and never throw', () => {
  const f = fixture();
  const server = f.server({ maxFailures: 1_000_000 });
  const good = aliceClient().answer(server.challenge());
  const throwing = Object.defineProperty({}, 'principal', { get() { throw new Error('boom'); }, enumerable: true });
  const hostile = new Proxy({}, { get() { throw new Error('trap'); } });
  const cases: unknown[] = [
    undefined, null, 0, 'AUTH', [], [good.principal, good.nonce, good.clientNonce, good.signature], new Uint8Array(128),
    { ...good, principal: 42 }, { ...good, principal: 'x'.repeat(1_000_000) }, { ...good, principal: '' }, { ...good, principal: 'a b' },
    { ...good, nonce: toHex(good.nonce) }, { ...good, nonce: good.nonce.subarray(0, 31) }, { ...good, nonce: new Uint8Array(1 << 20) },
    { ...good, clientNonce: undefined }, { ...good, clientNonce: Array.from(good.clientNonce) },
    { ...good, signature: good.signature.subarray(0, 63) }, { ...good, signature: toHex(good.signature) }, { ...good, signature: null },
    throwing, hostile,
  ];
  for (const value of cases) {
    const r = failure(server.respond(value));
    assert.is(r.reason, 'malformed');
    assert.is(r.error.code, 'KV_ERR_AUTH_FAILED');
  }
  fc.assert(fc.property(fc.anything(), (value) => server.respond(value).ok === false));
  fc.assert(fc.property(
    fc.record({ principal: fc.oneof(fc.string(), fc.constant('alice')), nonce: fc.uint8Array({ maxLength: 40 }), clientNonce: fc.uint8Array({ maxLength: 40 }), signature: fc.uint8Array({ maxLength: 70 }) }),
    (value) => server.respond(value).ok === false,
  ));
  assert.ok(server.respond(good).ok, 'the untouched nonce still works after all that');
});

test('every failure reason carries the same message, so the peer learns nothing from it', () => {
  const f = fixture();
  const messages = new Set<string>();
  const s = f.server({ maxFailures: 100 });
  const client = aliceClient();
  const m = client.answer(s.challenge());
  messages.add(failure(s.respond({ ...m, signature: randomBytes(64) })).error.message);
  messages.add(failure(s.respond(m)).error.message);
  messages.add(failure(s.respond({})).error.message);
  const ghost = new AuthClient({ credentials: keyCredentials('ghost', generateKeyPair()) });
  messages.add(failure(s.respond(ghost.answer(s.challenge()))).error.message);
  assert.equal([...messages], ['authentication failed']);
});

test('authorize: PING is public, other ops need authentication and every role they need', () => {
  const f = fixture();
  const server = f.server();
  assert.ok(server.authorize(Op.PING).ok);
  const before = server.authorize(Op.GET);
  assert.ok(!before.ok && before.error.code === 'KV_ERR_AUTH_NEEDED' && authReasonOf(before.error) === 'not-authenticated');
  assert.ok(server.respond(aliceClient().answer(server.challenge())).ok);
  assert.ok(server.authorize(Op.GET).ok);
  assert.ok(server.authorize(Op.STATS).ok);
  for (const op of [Op.SET, Op.DELETE, Op.GAT, Op.SCAN, 99]) {
    const r = server.authorize(op);
    assert.ok(!r.ok && r.error.code === 'KV_ERR_FORBIDDEN' && authReasonOf(r.error) === 'missing-role', `op ${op}`);
  }
  const scan = server.authorize(Op.SCAN);
  if (!scan.ok) assert.is(scan.error.message, 'SCAN needs the scan role');
});

test('authorize follows the principal table: new roles apply at once, a removed or re-keyed principal must authenticate again', () => {
  const f = fixture();
  const server = f.server();
  assert.ok(server.respond(aliceClient().answer(server.challenge())).ok);
  assert.not.ok(server.authorize(Op.SET).ok);
  f.table.replaceAll(principals().map((p) => (p.name === 'alice' ? { ...p, roles: ['read', 'write'] } : p)));
  assert.ok(server.authorize(Op.SET).ok);
  f.table.replaceAll(principals().map((p) => (p.name === 'alice' ? { ...p, publicKey: toHex(generateKeyPair().publicKey) } : p)));
  const rekeyed = server.authorize(Op.GET);
  assert.ok(!rekeyed.ok && rekeyed.error.code === 'KV_ERR_AUTH_NEEDED' && authReasonOf(rekeyed.error) === 'principal-changed');
  assert.not.ok(server.isAuthenticated);

  const s2 = f.server();
  f.table.replaceAll(principals());
  assert.ok(s2.respond(aliceClient().answer(s2.challenge())).ok);
  f.table.replaceAll(principals().filter((p) => p.name !== 'alice'));
  const removed = s2.authorize(Op.GET);
  assert.ok(!removed.ok && authReasonOf(removed.error) === 'principal-changed');
});

test('admin may run every op, including codes outside the table', () => {
  const f = fixture();
  const server = f.server();
  assert.ok(server.respond(aliceClient(CAROL, 'carol').answer(server.challenge())).ok);
  for (const op of [...Object.values(Op), 99]) assert.ok(server.authorize(op).ok, `op ${op}`);
});

test('an authenticated connection refuses a second AUTH', () => {
  const f = fixture();
  const server = f.server();
  const client = aliceClient();
  const c1 = server.challenge();
  const c2 = server.challenge();
  assert.ok(server.respond(client.answer(c1)).ok);
  assert.is(failure(server.respond(aliceClient(CAROL, 'carol').answer(c2))).reason, 'already-authenticated');
  assert.is(server.principal?.name, 'alice');
  for (let i = 0; i < 10; i++) server.respond({});
  assert.not.ok(server.isLocked, 'a second AUTH is not a guess and does not count');
  assert.ok(server.authorize(Op.GET).ok);
});

test('a connection keeps at most maxPendingChallenges nonces; a newer one retires the oldest', () => {
  const f = fixture();
  const server = f.server({ maxPendingChallenges: 2 });
  const client = aliceClient();
  const oldest = server.challenge();
  server.challenge();
  const newest = server.challenge();
  assert.is(failure(server.respond(client.answer(oldest))).reason, 'unknown-nonce');
  assert.ok(server.respond(client.answer(newest)).ok);
});

test('close releases the outstanding nonces and ends the session', () => {
  const f = fixture();
  const server = f.server();
  const pending = server.challenge();
  const size = f.store.size;
  server.close();
  server.close();
  assert.is(f.store.size, size - 1);
  assert.equal(clientCode(() => server.challenge()), ['KV_ERR_CONNECTION_CLOSED', undefined]);
  assert.is(failure(server.respond(aliceClient().answer(pending))).reason, 'locked');
});

test('the client refuses a malformed challenge or one naming another server before signing anything', () => {
  const client = new AuthClient({ credentials: keyCredentials('alice', ALICE), expectedServerId: 'node-1' });
  for (const bad of [null, {}, { nonce: randomBytes(31), serverId: 'node-1' }, { nonce: randomBytes(32), serverId: '' }, { nonce: randomBytes(32), serverId: 'node-1', salt: randomBytes(3) }]) {
    assert.equal(clientCode(() => client.answer(bad)), ['KV_ERR_AUTH_FAILED', 'malformed-challenge']);
  }
  assert.equal(clientCode(() => client.answer({ nonce: randomBytes(32), serverId: 'node-2' })), ['KV_ERR_AUTH_FAILED', 'server-id-mismatch']);
  assert.not.ok(client.verifyServer(SERVER_KEYS.publicKey, randomBytes(64)), 'nothing was answered');
});

test('trust on first use: off by default; when on, the presented key is pinned and later held to', () => {
  const f = fixture();
  const plain = new AuthClient({ credentials: keyCredentials('alice', ALICE) });
  const s0 = f.server();
  const r0 = s0.respond(plain.answer(s0.challenge()));
  assert.ok(r0.ok);
  if (r0.ok) assert.not.ok(plain.verifyServer(null, r0.serverSignature, r0.serverPublicKey));

  const tofu = new AuthClient({ credentials: keyCredentials('alice', ALICE), isTrustOnFirstUse: true });
  const s1 = f.server();
  const r1 = s1.respond(tofu.answer(s1.challenge()));
  assert.ok(r1.ok);
  if (!r1.ok) return;
  assert.not.ok(tofu.verifyServer(null, r1.serverSignature), 'no key presented, none known');
  const s1b = f.server();
  const r1b = s1b.respond(tofu.answer(s1b.challenge()));
  assert.ok(r1b.ok && tofu.verifyServer(null, r1b.serverSignature, r1b.serverPublicKey));
  assert.ok(tofu.pinnedServerKey !== null && equalBytes(tofu.pinnedServerKey, SERVER_KEYS.publicKey));

  const other = generateKeyPair();
  const s2 = new AuthServer({ serverId: 'node-1', serverKeyPair: other, principals: f.table, nonceStore: f.store });
  const r2 = s2.respond(tofu.answer(s2.challenge()));
  assert.ok(r2.ok);
  if (r2.ok) assert.not.ok(tofu.verifyServer(null, r2.serverSignature, r2.serverPublicKey), 'a different key after pinning is refused');
});

test('the server and client refuse bad construction options', () => {
  const f = fixture();
  assert.throws(() => f.server({ serverId: '' }), (e: KvError) => e.code === 'KV_ERR_INVALID_ARGUMENT');
  assert.throws(() => f.server({ serverId: 'x'.repeat(1025) }), (e: KvError) => e.code === 'KV_ERR_INVALID_ARGUMENT');
  assert.throws(() => f.server({ serverKeyPair: { publicKey: generateKeyPair().publicKey, secretKey: SERVER_KEYS.secretKey } }));
  assert.throws(() => f.server({ maxFailures: 0 }));
  assert.throws(() => new AuthClient({ credentials: keyCredentials('alice', ALICE), serverPublicKey: 'abcd' }));
  assert.throws(() => new AuthClient({ credentials: keyCredentials('alice', ALICE), expectedServerId: '' }));
});

test('options passed as undefined take their defaults', () => {
  const f = fixture();
  const server = f.server({ maxFailures: undefined, challengeTtlMs: undefined, maxPendingChallenges: undefined, fakeSaltKey: undefined });
  const client = new AuthClient({ credentials: keyCredentials('alice', ALICE), serverPublicKey: undefined, expectedServerId: undefined, isTrustOnFirstUse: undefined });
  const r = server.respond(client.answer(server.challenge()));
  assert.ok(r.ok);
  if (r.ok) assert.ok(client.verifyServer(SERVER_KEYS.publicKey, r.serverSignature));
  const s2 = f.server({ maxFailures: undefined });
  for (let i = 0; i < 4; i++) s2.respond({});
  assert.not.ok(s2.isLocked);
  s2.respond({});
  assert.ok(s2.isLocked, 'locked at the fifth failure');
});

test('the signed bytes follow the documented layouts', () => {
  const nonce = Uint8Array.from({ length: 32 }, (_, i) => i);
  const clientNonce = Uint8Array.from({ length: 32 }, (_, i) => 0xff - i);
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  assert.is(Buffer.byteLength(CLIENT_DOMAIN), 16);
  const expected = Buffer.concat([Buffer.from('pandakv-auth-v1\0'), nonce, Buffer.from([0x00, 0x06]), Buffer.from('node-1'), clientNonce]);
  assert.is(hex(clientTranscript(nonce, 'node-1', clientNonce)), hex(expected));
  assert.is(expected.length, 16 + 32 + 2 + 6 + 32);
  const utf8 = clientTranscript(nonce, '\u00e9', clientNonce);
  assert.equal(Array.from(utf8.subarray(48, 52)), [0x00, 0x02, 0xc3, 0xa9], 'the length counts UTF-8 bytes');
  assert.is(Buffer.byteLength(SERVER_DOMAIN), 23);
  assert.is(hex(serverTranscript(clientNonce, nonce)), hex(Buffer.concat([Buffer.from('pandakv-auth-v1-server\0'), clientNonce, nonce])));
});

test.run();
