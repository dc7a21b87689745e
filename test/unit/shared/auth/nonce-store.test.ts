import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { NONCE_BYTES, NonceStore } from '../../../../shared/auth/nonce-store.js';

const test = suite('shared - auth nonce store');

function clock(start = 1_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

test('an issued nonce is used once by its owner; a second use is a replay for any owner', () => {
  const store = new NonceStore();
  const a = {};
  const b = {};
  const nonce = store.issue(a);
  assert.is(nonce.length, NONCE_BYTES);
  assert.is(store.consume(nonce, a), 'ok');
  assert.is(store.consume(nonce, a), 'replay');
  assert.is(store.consume(nonce, b), 'replay');
});

test('another owner cannot use a nonce, and trying does not burn it for its owner', () => {
  const store = new NonceStore();
  const a = {};
  const nonce = store.issue(a);
  assert.is(store.consume(nonce, {}), 'unknown');
  assert.is(store.consume(nonce, a), 'ok');
});

test('a nonce never issued, or of the wrong length, is unknown', () => {
  const store = new NonceStore();
  assert.is(store.consume(new Uint8Array(NONCE_BYTES), {}), 'unknown');
  assert.is(store.consume(new Uint8Array(3), {}), 'unknown');
});

test('a nonce presented after its ttl is expired, and gone after that', () => {
  const c = clock();
  const store = new NonceStore({ ttlMs: 100, now: c.now });
  const owner = {};
  const nonce = store.issue(owner);
  c.advance(100);
  assert.is(store.consume(nonce, owner), 'expired');
  assert.is(store.consume(nonce, owner), 'unknown');
  const fresh = store.issue(owner, 50);
  c.advance(49);
  assert.is(store.consume(fresh, owner), 'ok', 'a per-issue ttl is honoured');
});

test('a retired nonce can no longer be used; retiring a used one keeps its tombstone', () => {
  const store = new NonceStore();
  const owner = {};
  const n1 = store.issue(owner);
  store.retire(n1, owner);
  assert.is(store.consume(n1, owner), 'unknown');
  const n2 = store.issue(owner);
  assert.is(store.consume(n2, owner), 'ok');
  store.retire(n2, owner);
  assert.is(store.consume(n2, owner), 'replay');
});

test('the store never holds more than maxEntries, sweeping expired entries first, then the oldest', () => {
  const c = clock();
  const store = new NonceStore({ maxEntries: 3, ttlMs: 100, now: c.now });
  const owner = {};
  const n1 = store.issue(owner);
  const n2 = store.issue(owner);
  const n3 = store.issue(owner);
  const n4 = store.issue(owner);
  assert.is(store.size, 3);
  assert.is(store.consume(n1, owner), 'unknown', 'the oldest went');
  assert.is(store.consume(n2, owner), 'ok');
  c.advance(100);
  const n5 = store.issue(owner);
  assert.ok(store.size <= 3);
  assert.is(store.consume(n3, owner), 'unknown', 'expired entries were swept');
  assert.is(store.consume(n4, owner), 'unknown');
  assert.is(store.consume(n5, owner), 'ok');
  for (let i = 0; i < 100; i++) store.issue(owner);
  assert.is(store.size, 3);
});

test('sweep drops expired entries and tombstones', () => {
  const c = clock();
  const store = new NonceStore({ ttlMs: 10, now: c.now });
  const owner = {};
  store.issue(owner);
  assert.is(store.consume(store.issue(owner), owner), 'ok');
  c.advance(10);
  assert.is(store.sweep(), 2);
  assert.is(store.size, 0);
});

test('the options are checked', () => {
  assert.throws(() => new NonceStore({ maxEntries: 0 }));
  assert.throws(() => new NonceStore({ ttlMs: 0 }));
});

test.run();
