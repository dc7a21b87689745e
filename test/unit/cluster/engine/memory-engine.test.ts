import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { Status, type StatusCode } from '../../../../shared/status.js';
import { MemoryEngine } from '../../../../cluster/node/engine/memory-engine.js';
import type { MemoryEngineOptions } from '../../../../cluster/node/engine/options.js';

const test = suite('cluster - memory engine');

const T0_MS = 1_700_000_000_000;
const DAY_S = 24 * 60 * 60;

function bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

function text(v: Uint8Array | undefined): string {
  return v === undefined ? '<none>' : Buffer.from(v).toString('latin1');
}

/** An engine on a clock the test moves by hand. */
function clocked(options: Partial<MemoryEngineOptions> = {}): { engine: MemoryEngine; advanceMs: (ms: number) => void } {
  let now = T0_MS;
  const engine = new MemoryEngine({ nowMs: () => now, ...options });
  return { engine, advanceMs: (ms) => { now += ms; } };
}

function valueOf(engine: MemoryEngine, key: string): string | null {
  const item = engine.get(key);
  return item === null ? null : text(item.value);
}

test('get returns a copy of what set stored, with its flags and cas', () => {
  const engine = new MemoryEngine();
  const source = bytes('hello');
  const r = engine.set('k', source, 42, 0);
  assert.is(r.status, Status.OK);
  assert.ok(r.cas > 0);
  source[0] = 0x78;
  const item = engine.get('k');
  assert.ok(item !== null);
  assert.is(text(item.value), 'hello');
  assert.is(item.flags, 42);
  assert.is(item.cas, r.cas);
  item.value[0] = 0x79;
  assert.is(valueOf(engine, 'k'), 'hello');
  assert.is(engine.get('absent'), null);
});

test('every successful write gets a new, larger cas and failed writes get 0', () => {
  const engine = new MemoryEngine();
  const seen: number[] = [];
  seen.push(engine.set('a', bytes('1'), 0, 0).cas);
  seen.push(engine.set('a', bytes('2'), 0, 0).cas);
  seen.push(engine.append('a', bytes('3')).cas);
  seen.push(engine.incr('a', 1n).cas);
  seen.push(engine.add('b', bytes('x'), 0, 0).cas);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `cas ${i} grows`);
  assert.equal(engine.add('a', bytes('x'), 0, 0), { status: Status.NOT_STORED, cas: 0 });
  assert.is(engine.get('a')!.cas, seen[3]);
});

test('get counts hits and misses', () => {
  const engine = new MemoryEngine();
  engine.set('a', bytes('1'), 0, 0);
  engine.get('a');
  engine.get('a');
  engine.get('b');
  const s = engine.stats();
  assert.is(s.hits, 2);
  assert.is(s.misses, 1);
  assert.is(s.items, 1);
  assert.is(engine.size, 1);
});

test('add stores only absent keys and replace only present ones', () => {
  const engine = new MemoryEngine();
  assert.is(engine.replace('k', bytes('r'), 0, 0).status, Status.NOT_STORED);
  assert.is(engine.get('k'), null);
  assert.is(engine.add('k', bytes('a'), 1, 0).status, Status.OK);
  assert.is(engine.add('k', bytes('b'), 2, 0).status, Status.NOT_STORED);
  assert.is(valueOf(engine, 'k'), 'a');
  assert.is(engine.replace('k', bytes('c'), 3, 0).status, Status.OK);
  assert.is(valueOf(engine, 'k'), 'c');
  assert.is(engine.get('k')!.flags, 3);
});

test('set with a cas swaps only when the cas matches the stored one', () => {
  const engine = new MemoryEngine();
  assert.is(engine.set('k', bytes('v'), 0, 0, 99).status, Status.NOT_FOUND);
  const first = engine.set('k', bytes('v1'), 0, 0);
  assert.is(engine.set('k', bytes('v2'), 0, 0, first.cas + 1).status, Status.EXISTS);
  assert.is(valueOf(engine, 'k'), 'v1');
  const second = engine.set('k', bytes('v2'), 0, 0, first.cas);
  assert.is(second.status, Status.OK);
  assert.is(engine.set('k', bytes('v3'), 0, 0, first.cas).status, Status.EXISTS);
  assert.is(engine.set('k', bytes('v3'), 0, 0, 0).status, Status.OK, 'cas 0 means unconditional');
  assert.is(valueOf(engine, 'k'), 'v3');
});

test('replace, append, prepend and delete check a given cas', () => {
  const engine = new MemoryEngine();
  const { cas } = engine.set('k', bytes('mid'), 0, 0);
  assert.is(engine.replace('k', bytes('x'), 0, 0, cas + 5).status, Status.EXISTS);
  assert.is(engine.append('k', bytes('x'), cas + 5).status, Status.EXISTS);
  assert.is(engine.prepend('k', bytes('x'), cas + 5).status, Status.EXISTS);
  assert.is(engine.delete('k', cas + 5), Status.EXISTS);
  assert.is(valueOf(engine, 'k'), 'mid');
  const appended = engine.append('k', bytes('>'), cas);
  assert.is(appended.status, Status.OK);
  assert.is(engine.prepend('k', bytes('<'), appended.cas).status, Status.OK);
  assert.is(valueOf(engine, 'k'), '<mid>');
  assert.is(engine.delete('k', engine.get('k')!.cas), Status.OK);
  assert.is(engine.get('k'), null);
});

test('append and prepend keep flags and exptime, and need the key', () => {
  const { engine, advanceMs } = clocked();
  assert.is(engine.append('k', bytes('x')).status, Status.NOT_STORED);
  assert.is(engine.prepend('k', bytes('x')).status, Status.NOT_STORED);
  engine.set('k', bytes('b'), 7, 10);
  engine.append('k', bytes('c'));
  engine.prepend('k', bytes('a'));
  const item = engine.get('k')!;
  assert.is(text(item.value), 'abc');
  assert.is(item.flags, 7);
  advanceMs(10_000);
  assert.is(engine.get('k'), null, 'the original exptime still applies');
});

test('append beyond maxValueBytes is TOO_LARGE and keeps the value', () => {
  const engine = new MemoryEngine({ maxValueBytes: 8 });
  engine.set('k', bytes('12345'), 0, 0);
  assert.is(engine.append('k', bytes('6789')).status, Status.TOO_LARGE);
  assert.is(engine.prepend('k', bytes('6789')).status, Status.TOO_LARGE);
  assert.is(valueOf(engine, 'k'), '12345');
  assert.is(engine.append('k', bytes('678')).status, Status.OK);
  assert.is(valueOf(engine, 'k'), '12345678');
});

test('delete removes the item and reports NOT_FOUND for a missing key', () => {
  const engine = new MemoryEngine();
  engine.set('k', bytes('v'), 0, 0);
  assert.is(engine.delete('k'), Status.OK);
  assert.is(engine.get('k'), null);
  assert.is(engine.delete('k'), Status.NOT_FOUND);
  assert.is(engine.size, 0);
});

test('incr adds, wraps at 2^64 and stores decimal ASCII', () => {
  const engine = new MemoryEngine();
  engine.set('n', bytes('41'), 5, 0);
  const r = engine.incr('n', 1n);
  assert.is(r.status, Status.OK);
  assert.is(r.value, 42n);
  assert.is(valueOf(engine, 'n'), '42');
  assert.is(engine.get('n')!.flags, 5);
  engine.set('n', bytes('18446744073709551615'), 0, 0);
  assert.is(engine.incr('n', 1n).value, 0n);
  assert.is(valueOf(engine, 'n'), '0');
  engine.set('n', bytes('18446744073709551610'), 0, 0);
  assert.is(engine.incr('n', 10n).value, 4n);
  assert.is(engine.incr('n', 18446744073709551615n).value, 3n);
});

test('decr subtracts and floors at zero', () => {
  const engine = new MemoryEngine();
  engine.set('n', bytes('10'), 0, 0);
  assert.is(engine.decr('n', 1n).value, 9n);
  assert.is(valueOf(engine, 'n'), '9');
  assert.is(engine.decr('n', 100n).value, 0n);
  assert.is(valueOf(engine, 'n'), '0');
  assert.is(engine.decr('n', 1n).value, 0n);
});

test('incr and decr on a non-numeric value are BAD_REQUEST and leave it unchanged', () => {
  const engine = new MemoryEngine();
  for (const v of ['', 'abc', '-1', '12a', ' 12', '1.5', '18446744073709551616', '000000000000000000001']) {
    engine.set('n', bytes(v), 0, 0);
    const before = engine.get('n')!.cas;
    assert.is(engine.incr('n', 1n).status, Status.BAD_REQUEST, `incr on '${v}'`);
    assert.is(engine.decr('n', 1n).status, Status.BAD_REQUEST, `decr on '${v}'`);
    assert.is(valueOf(engine, 'n'), v);
    assert.is(engine.get('n')!.cas, before);
  }
  engine.set('n', bytes('00000000000000000007'), 0, 0);
  assert.is(engine.incr('n', 1n).value, 8n, 'twenty digits with leading zeros are a number');
  assert.is(engine.incr('n', -1n).status, Status.BAD_REQUEST, 'a negative delta');
  assert.is(engine.incr('n', 1n << 64n).status, Status.BAD_REQUEST, 'a delta beyond 64 bits');
});

test('incr on a missing key is NOT_FOUND unless an initial value is given', () => {
  const { engine, advanceMs } = clocked();
  assert.equal(engine.incr('n', 5n), { status: Status.NOT_FOUND, value: 0n, cas: 0 });
  assert.is(engine.decr('n', 5n).status, Status.NOT_FOUND);
  assert.is(engine.get('n'), null);
  const r = engine.incr('n', 5n, 100n, 30);
  assert.is(r.status, Status.OK);
  assert.is(r.value, 100n, 'the initial value is stored and returned as is');
  assert.is(valueOf(engine, 'n'), '100');
  assert.is(engine.get('n')!.cas, r.cas);
  assert.is(engine.decr('n', 1n, 7n).value, 99n, 'initial is ignored when the key exists');
  advanceMs(30_000);
  assert.is(engine.get('n'), null, 'the initial item got the exptime');
  assert.is(engine.decr('m', 1n, 0n).value, 0n);
});

test('keys that are empty, too long or not binary are BAD_REQUEST', () => {
  const engine = new MemoryEngine();
  const v = bytes('v');
  for (const key of ['', 'k'.repeat(251), 'caf\u0100']) {
    assert.is(engine.set(key, v, 0, 0).status, Status.BAD_REQUEST);
    assert.is(engine.add(key, v, 0, 0).status, Status.BAD_REQUEST);
    assert.is(engine.replace(key, v, 0, 0).status, Status.BAD_REQUEST);
    assert.is(engine.append(key, v).status, Status.BAD_REQUEST);
    assert.is(engine.prepend(key, v).status, Status.BAD_REQUEST);
    assert.is(engine.delete(key), Status.BAD_REQUEST);
    assert.is(engine.touch(key, 0), Status.BAD_REQUEST);
    assert.is(engine.incr(key, 1n, 0n).status, Status.BAD_REQUEST);
    assert.is(engine.get(key), null);
    assert.is(engine.getAndTouch(key, 0), null);
  }
  const longest = 'k'.repeat(250);
  assert.is(engine.set(longest, v, 0, 0).status, Status.OK);
  assert.is(valueOf(engine, longest), 'v');
  const binary = '\x00\xff\x80 ';
  assert.is(engine.set(binary, v, 0, 0).status, Status.OK);
  assert.is(valueOf(engine, binary), 'v');
  assert.is(engine.size, 2);
});

test('flags must be 32-bit unsigned integers', () => {
  const engine = new MemoryEngine();
  const v = bytes('v');
  for (const flags of [-1, 2 ** 32, 1.5, Number.NaN]) {
    assert.is(engine.set('k', v, flags, 0).status, Status.BAD_REQUEST, `flags ${flags}`);
  }
  assert.is(engine.get('k'), null);
  assert.is(engine.set('k', v, 0xffffffff, 0).status, Status.OK);
  assert.is(engine.get('k')!.flags, 0xffffffff);
});

test('values longer than maxValueBytes are TOO_LARGE', () => {
  const engine = new MemoryEngine({ maxValueBytes: 16 });
  assert.is(engine.set('k', new Uint8Array(17), 0, 0).status, Status.TOO_LARGE);
  assert.is(engine.add('k', new Uint8Array(17), 0, 0).status, Status.TOO_LARGE);
  assert.is(engine.set('k', new Uint8Array(16), 0, 0).status, Status.OK);
  assert.is(engine.replace('k', new Uint8Array(17), 0, 0).status, Status.TOO_LARGE);
  assert.is(engine.get('k')!.value.length, 16);
  assert.is(engine.set('empty', new Uint8Array(0), 0, 0).status, Status.OK);
  assert.is(engine.get('empty')!.value.length, 0);
});

test('a relative exptime expires the item after that many seconds', () => {
  const { engine, advanceMs } = clocked();
  engine.set('k', bytes('v'), 0, 10);
  engine.set('forever', bytes('v'), 0, 0);
  advanceMs(9_999);
  assert.is(valueOf(engine, 'k'), 'v');
  advanceMs(1);
  assert.is(engine.get('k'), null);
  assert.is(engine.add('k', bytes('again'), 0, 0).status, Status.OK, 'an expired key is absent');
  advanceMs(365 * DAY_S * 1000);
  assert.is(valueOf(engine, 'forever'), 'v');
  assert.is(valueOf(engine, 'k'), 'again');
});

test('exptime of 30 days is relative and above it is an absolute unix time', () => {
  const { engine, advanceMs } = clocked();
  const nowS = T0_MS / 1000;
  engine.set('rel', bytes('v'), 0, 30 * DAY_S);
  engine.set('abs', bytes('v'), 0, nowS + 100);
  advanceMs(99_000);
  assert.is(valueOf(engine, 'abs'), 'v');
  advanceMs(1_000);
  assert.is(engine.get('abs'), null);
  advanceMs(30 * DAY_S * 1000 - 101_000);
  assert.is(valueOf(engine, 'rel'), 'v');
  advanceMs(1_000);
  assert.is(engine.get('rel'), null);
});

test('a negative or past absolute exptime stores nothing visible and drops the old value', () => {
  const { engine } = clocked();
  engine.set('k', bytes('old'), 0, 0);
  const r = engine.set('k', bytes('new'), 0, -1);
  assert.is(r.status, Status.OK);
  assert.ok(r.cas > 0);
  assert.is(engine.get('k'), null);
  assert.is(engine.set('k', bytes('v'), 0, 30 * DAY_S + 1).status, Status.OK, 'an absolute time in 1970');
  assert.is(engine.get('k'), null);
  assert.is(engine.size, 0);
  assert.is(engine.stats().bytes, 0);
});

test('touch sets a new exptime and getAndTouch returns the item while doing so', () => {
  const { engine, advanceMs } = clocked();
  assert.is(engine.touch('k', 10), Status.NOT_FOUND);
  assert.is(engine.getAndTouch('k', 10), null);
  const { cas } = engine.set('k', bytes('v'), 3, 10);
  advanceMs(5_000);
  assert.is(engine.touch('k', 10), Status.OK);
  advanceMs(9_000);
  const item = engine.getAndTouch('k', 100);
  assert.ok(item !== null);
  assert.is(text(item.value), 'v');
  assert.is(item.flags, 3);
  assert.is(item.cas, cas, 'touching does not change the cas');
  advanceMs(99_000);
  assert.is(valueOf(engine, 'k'), 'v');
  assert.is(engine.touch('k', 0), Status.OK);
  advanceMs(1_000_000_000);
  assert.is(valueOf(engine, 'k'), 'v', 'exptime 0 never expires');
});

test('touch or getAndTouch with a negative exptime expires the item', () => {
  const { engine } = clocked();
  engine.set('a', bytes('1'), 0, 0);
  engine.set('b', bytes('2'), 0, 0);
  assert.is(engine.touch('a', -1), Status.OK);
  assert.is(engine.get('a'), null);
  assert.is(text(engine.getAndTouch('b', -1)?.value), '2');
  assert.is(engine.get('b'), null);
});

test('expired items are reclaimed on access and counted', () => {
  const { engine, advanceMs } = clocked();
  for (let i = 0; i < 10; i++) engine.set(`k${i}`, bytes('v'), 0, 5);
  const full = engine.stats().bytes;
  advanceMs(5_000);
  assert.is(engine.size, 10, 'expiry is lazy');
  for (let i = 0; i < 4; i++) assert.is(engine.get(`k${i}`), null);
  assert.is(engine.delete('k4'), Status.NOT_FOUND);
  assert.is(engine.touch('k5', 1), Status.NOT_FOUND);
  const s = engine.stats();
  assert.is(s.expired, 6);
  assert.is(engine.size, 4);
  assert.is(s.bytes, (full / 10) * 4);
});

/** Fill an engine with equal items until the next one would not fit; their keys in order. */
function fill(engine: MemoryEngine, value: Uint8Array): string[] {
  engine.set('probe', value, 0, 0);
  const perItem = engine.stats().bytes;
  engine.delete('probe');
  const keys: string[] = [];
  const count = Math.floor(engine.stats().limitBytes / perItem);
  for (let i = 0; i < count; i++) {
    const key = `key-${String(i).padStart(5, '0')}`;
    assert.is(engine.set(key, value, 0, 0).status, Status.OK);
    keys.push(key);
  }
  assert.is(engine.stats().evictions, 0);
  return keys;
}

test('eviction drops the least recently used items and reads refresh recency', () => {
  const engine = new MemoryEngine({ memorySizeMb: 0.02 });
  const value = new Uint8Array(100);
  const keys = fill(engine, value);
  assert.ok(keys.length > 20);
  assert.ok(engine.get(keys[0]!) !== null, 'read the oldest');
  engine.touch(keys[1]!, 0);
  engine.set('new-1', value, 0, 0);
  engine.set('new-2', value, 0, 0);
  const s = engine.stats();
  assert.is(s.evictions, 2);
  assert.ok(s.bytes <= s.limitBytes);
  assert.ok(engine.get(keys[0]!) !== null, 'a read item survives');
  assert.ok(engine.get(keys[1]!) !== null, 'a touched item survives');
  assert.is(engine.get(keys[2]!), null, 'the least recently used is gone');
  assert.is(engine.get(keys[3]!), null);
  assert.ok(engine.get(keys[4]!) !== null);
  assert.ok(engine.get('new-2') !== null);
});

test('the eviction walk reclaims expired items before evicting live ones', () => {
  const { engine, advanceMs } = clocked({ memorySizeMb: 0.02 });
  const value = new Uint8Array(100);
  const keys = fill(engine, value);
  // keys[0] gets a TTL, then every other key is read, leaving it at the LRU tail.
  engine.set(keys[0]!, value, 0, 5);
  for (const key of keys.slice(1)) engine.get(key);
  advanceMs(5_000);
  engine.set('new', value, 0, 0);
  const s = engine.stats();
  assert.is(s.evictions, 0);
  assert.is(s.expired, 1);
  assert.is(engine.get(keys[0]!), null);
  assert.ok(engine.get(keys[1]!) !== null, 'the next least recently used is kept');
});

test('with eviction disabled a write beyond the budget is OUT_OF_MEMORY and keeps the old value', () => {
  const engine = new MemoryEngine({ memorySizeMb: 0.02, isEvictionEnabled: false });
  const value = new Uint8Array(100).fill(7);
  const keys = fill(engine, value);
  assert.is(engine.set('one-more', value, 0, 0).status, Status.OUT_OF_MEMORY);
  assert.is(engine.incr(`counter-${'x'.repeat(200)}`, 1n, 0n).status, Status.OUT_OF_MEMORY);
  const bigger = new Uint8Array(400).fill(9);
  assert.equal(engine.set(keys[0]!, bigger, 0, 0), { status: Status.OUT_OF_MEMORY, cas: 0 });
  assert.is(engine.append(keys[1]!, bigger).status, Status.OUT_OF_MEMORY);
  assert.equal(engine.get(keys[0]!)?.value, value, 'the old value is intact');
  assert.equal(engine.get(keys[1]!)?.value, value);
  for (const key of keys) assert.ok(engine.get(key) !== null, `${key} is still there`);
  const s = engine.stats();
  assert.is(s.evictions, 0);
  assert.is(s.outOfMemory, 4);
  assert.is(engine.set(keys[2]!, value.fill(3), 0, 0).status, Status.OK, 'a same-size overwrite fits');
  engine.delete(keys[3]!);
  assert.is(engine.set('one-more', value, 0, 0).status, Status.OK, 'a delete makes room');
});

test('an item larger than the whole budget is OUT_OF_MEMORY and evicts nothing', () => {
  const engine = new MemoryEngine({ memorySizeMb: 0.5 });
  engine.set('small', bytes('v'), 0, 0);
  assert.is(engine.set('huge', new Uint8Array(600_000), 0, 0).status, Status.OUT_OF_MEMORY);
  assert.is(valueOf(engine, 'small'), 'v');
  assert.is(engine.stats().evictions, 0);
});

test('accounting charges chunk plus overhead per item and returns to zero after deleting everything', () => {
  const engine = new MemoryEngine({ itemOverheadBytes: 56 });
  engine.set('abc', new Uint8Array(100), 0, 0);
  assert.is(engine.stats().bytes, 104 + 56, '1 + 3 + 100 bytes round up to the 104-byte class');
  engine.delete('abc');
  const sizes = [0, 1, 7, 8, 100, 1000, 5000, 70_000, 600_000];
  for (let i = 0; i < 300; i++) {
    engine.set(`k${i}`, new Uint8Array(sizes[i % sizes.length]!), i, 0);
    if (i % 3 === 0) engine.append(`k${i}`, bytes('tail'));
    if (i % 5 === 0) engine.incr(`n${i}`, 1n, 12345n);
  }
  const mid = engine.stats();
  assert.ok(mid.bytes > 0 && mid.bytes <= mid.limitBytes);
  assert.ok(mid.largeItems > 0, 'values beyond the slab classes were stored');
  for (let i = 0; i < 300; i++) {
    assert.is(engine.delete(`k${i}`), Status.OK);
    if (i % 5 === 0) assert.is(engine.delete(`n${i}`), Status.OK);
  }
  const s = engine.stats();
  assert.is(s.items, 0);
  assert.is(s.bytes, 0);
  assert.is(s.largeItems, 0);
  assert.is(s.largeBytes, 0);
});

test('every key stays reachable while the index grows and slots are reused', () => {
  const engine = new MemoryEngine();
  const live = new Set<string>();
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 3000; i++) {
      const key = `r${round}:${i}`;
      engine.set(key, bytes(key), 0, 0);
      live.add(key);
    }
    for (const key of [...live].filter((_, i) => i % 3 === round % 3)) {
      assert.is(engine.delete(key), Status.OK);
      live.delete(key);
    }
  }
  assert.is(engine.size, live.size);
  for (const key of live) assert.is(valueOf(engine, key), key);
  assert.is(engine.get('r0:0') === null, !live.has('r0:0'));
  assert.equal(engine.scan('', null, 100_000).entries.map((e) => e.key), [...live].sort());
});

test('page: accepted items of a key range, in order, within a budget of keys looked at; scanKeys: keys only', () => {
  const { engine, advanceMs } = clocked();
  for (let i = 0; i < 100; i++) engine.set(`p${String(i).padStart(3, '0')}`, bytes(`v${i}`), i, i === 7 ? 1 : 0);
  advanceMs(2000);
  const even = (key: string): boolean => Number(key.slice(1)) % 2 === 0;
  // 5 items per page: p000, p002, … p008 looked at 9 keys (p007 has expired).
  const first = engine.page(null, 5, 1000, even);
  assert.equal(first.items.map((it) => it.key), ['p000', 'p002', 'p004', 'p006', 'p008']);
  assert.is(first.next, 'p008');
  assert.is(text(first.items[1]!.value), 'v2');
  assert.is(first.items[1]!.flags, 2);
  // A budget of 3 keys stops early, with where to go on from.
  const short = engine.page(first.next, 5, 3, even);
  assert.equal(short.items.map((it) => it.key), ['p010']);
  assert.is(short.next, 'p011');
  let after: string | null = null;
  const all: string[] = [];
  for (;;) {
    const page = engine.page(after, 7, 11, even);
    all.push(...page.items.map((it) => it.key));
    if (page.next === null) break;
    after = page.next;
  }
  assert.equal(all, Array.from({ length: 50 }, (_, i) => `p${String(2 * i).padStart(3, '0')}`));
  const keys = engine.scanKeys('p005', 3);
  assert.equal(keys, { keys: ['p005', 'p006', 'p008'], nextKey: 'p009' }, 'expired p007 skipped');
  assert.equal(engine.scanKeys('p098', 10), { keys: ['p098', 'p099'], nextKey: null });
});

test('flush drops every item and the accounting', () => {
  const engine = new MemoryEngine();
  for (let i = 0; i < 100; i++) engine.set(`k${i}`, new Uint8Array(i * 50), 0, 0);
  engine.flush();
  assert.is(engine.size, 0);
  assert.is(engine.stats().bytes, 0);
  assert.is(engine.get('k1'), null);
  assert.equal(engine.scan('', null, 10), { entries: [], nextKey: null });
  assert.is(engine.set('k1', bytes('again'), 0, 0).status, Status.OK);
  assert.is(valueOf(engine, 'k1'), 'again');
});

const SCAN_KEYS = ['b', 'a', 'ab', 'a\x00', '\xff', '\x00', 'a\xff', 'ba', 'abc', '\x7f\x80'];

test('scan returns keys in byte order within [start, end)', () => {
  const engine = new MemoryEngine();
  for (const [i, key] of SCAN_KEYS.entries()) engine.set(key, bytes(`v-${key}`), i, 0);
  const sorted = [...SCAN_KEYS].sort();
  const all = engine.scan('', null, 100);
  assert.equal(all.entries.map((e) => e.key), sorted);
  assert.is(all.nextKey, null);
  const first = all.entries[0]!;
  assert.is(text(first.value), 'v-\x00');
  assert.is(first.flags, SCAN_KEYS.indexOf('\x00'));
  assert.is(first.cas, engine.get('\x00')!.cas);
  assert.equal(engine.scan('a', 'b', 100).entries.map((e) => e.key), ['a', 'a\x00', 'ab', 'abc', 'a\xff']);
  assert.equal(engine.scan('a\x01', 'abc', 100).entries.map((e) => e.key), ['ab']);
  assert.equal(engine.scan('b', null, 100).entries.map((e) => e.key), ['b', 'ba', '\x7f\x80', '\xff']);
  assert.equal(engine.scan('zz', 'a', 100), { entries: [], nextKey: null }, 'start after end');
  assert.equal(engine.scan('a', 'a', 100), { entries: [], nextKey: null }, 'empty range');
  assert.equal(engine.scan('\xff\x00', null, 100).entries, []);
  assert.equal(engine.scan('a\u0100', null, 100).entries.map((e) => e.key), ['b', 'ba', '\x7f\x80', '\xff'],
    'a char above 255 sorts after every byte');
});

test('scan honours the limit and nextKey resumes where it stopped', () => {
  const engine = new MemoryEngine();
  const keys: string[] = [];
  for (let i = 0; i < 250; i++) keys.push(`item:${String((i * 7919) % 1000).padStart(4, '0')}`);
  for (const key of keys) engine.set(key, bytes(key), 0, 0);
  const seen: string[] = [];
  let start: string | null = '';
  let pages = 0;
  while (start !== null) {
    const page = engine.scan(start, 'item:0800', 16);
    assert.ok(page.entries.length <= 16);
    for (const e of page.entries) {
      assert.is(text(e.value), e.key);
      seen.push(e.key);
    }
    if (page.nextKey !== null) assert.is(page.entries.length, 16);
    start = page.nextKey;
    pages++;
  }
  const expected = keys.filter((k) => k < 'item:0800').sort();
  assert.equal(seen, expected);
  assert.is(pages, Math.ceil(expected.length / 16));
  assert.equal(engine.scan('', null, 0).entries, []);
  assert.is(engine.scan('', null, 0).nextKey, expected[0]);
});

test('scan skips and reclaims expired items', () => {
  const { engine, advanceMs } = clocked();
  for (let i = 0; i < 20; i++) engine.set(`k${String(i).padStart(2, '0')}`, bytes('v'), 0, i % 2 === 0 ? 5 : 0);
  advanceMs(5_000);
  const page = engine.scan('', null, 5);
  assert.equal(page.entries.map((e) => e.key), ['k01', 'k03', 'k05', 'k07', 'k09']);
  assert.is(page.nextKey, 'k11', 'nextKey skips the expired k10');
  const rest = engine.scan(page.nextKey!, null, 100);
  assert.equal(rest.entries.map((e) => e.key), ['k11', 'k13', 'k15', 'k17', 'k19']);
  assert.is(engine.size, 10);
  assert.is(engine.stats().expired, 10);
});

test('overwrites with drifting value sizes reuse slab memory instead of growing it', () => {
  const engine = new MemoryEngine({ memorySizeMb: 64 });
  const keys = 3000;
  let seed = 1;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const slabPeaks: number[] = [];
  const latest: number[] = [];
  for (let round = 0; round < 40; round++) {
    // Sizes drift through the small classes and back, so pages must move between classes.
    const center = 64 + Math.abs(20 - round) * 48;
    for (let k = 0; k < keys; k++) {
      const size = Math.floor(center * (0.5 + random()));
      const value = new Uint8Array(size).fill(k & 0xff);
      assert.is(engine.set(`key:${k}`, value, 0, 0).status, Status.OK);
      latest[k] = size;
    }
    const s = engine.stats();
    slabPeaks.push(s.slabBytes);
    assert.ok(s.bytes <= 3000 * (1 + 10 + 1600 + 56), 'accounted bytes follow the live items');
  }
  const s = engine.stats();
  assert.is(s.evictions, 0);
  assert.ok(s.relocations > 0, 'compaction moved chunks');
  assert.ok(s.pagesReleased > 0, 'compaction released pages');
  const firstPeak = Math.max(...slabPeaks.slice(0, 20));
  const lastPeak = Math.max(...slabPeaks.slice(20));
  assert.ok(lastPeak <= firstPeak + 2 * 1048576, `slab bytes do not keep growing (${firstPeak} → ${lastPeak})`);
  // Real memory stays within the live data plus a bounded slack per class in use.
  assert.ok(s.slabBytes <= s.bytes + 8 * 1048576, `slab ${s.slabBytes} vs accounted ${s.bytes}`);
  for (let k = 0; k < keys; k++) {
    const item = engine.get(`key:${k}`);
    assert.ok(item !== null);
    assert.is(item.value.length, latest[k]);
    assert.ok(item.value.every((b) => b === (k & 0xff)), `key:${k} survived compaction intact`);
  }
});

test('under memory pressure reads return the latest write or nothing, within the budget', () => {
  const key = fc.integer({ min: 0, max: 59 }).map((i) => `key:${i}`);
  const size = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 300, max: 6000 }));
  const step = fc.oneof(
    fc.record({ kind: fc.constant<'set'>('set'), key, size, fill: fc.integer({ min: 0, max: 255 }) }),
    fc.record({
      kind: fc.constant<'append'>('append'),
      key,
      size: fc.integer({ min: 1, max: 200 }),
      fill: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({ kind: fc.constant<'get'>('get'), key }),
    fc.record({ kind: fc.constant<'delete'>('delete'), key }),
  );
  fc.assert(
    fc.property(fc.array(step, { minLength: 50, maxLength: 400 }), fc.boolean(), (steps, isEvictionEnabled) => {
      const engine = new MemoryEngine({ memorySizeMb: 0.1, isEvictionEnabled });
      const latest = new Map<string, Uint8Array>();
      const limit = engine.stats().limitBytes;
      for (const s of steps) {
        if (s.kind === 'set' || s.kind === 'append') {
          const data = new Uint8Array(s.size).fill(s.fill);
          const r = s.kind === 'set' ? engine.set(s.key, data, 0, 0) : engine.append(s.key, data);
          if (r.status === Status.OK) {
            const before = latest.get(s.key);
            const next = s.kind === 'set' || before === undefined ? data : new Uint8Array(Buffer.concat([before, data]));
            latest.set(s.key, next);
          } else if (s.kind === 'set' || r.status !== Status.NOT_STORED) {
            assert.is(r.status, Status.OUT_OF_MEMORY);
            assert.not.ok(isEvictionEnabled && s.kind === 'set', 'eviction makes room for anything that fits');
          }
        } else if (s.kind === 'delete') {
          const status = engine.delete(s.key);
          if (!isEvictionEnabled) assert.is(status, latest.has(s.key) ? Status.OK : Status.NOT_FOUND);
          else if (status === Status.OK) assert.ok(latest.has(s.key));
          latest.delete(s.key);
        } else {
          const item = engine.get(s.key);
          if (item !== null) assert.equal(item.value, latest.get(s.key));
          else if (!isEvictionEnabled) assert.is(latest.has(s.key), false, 'nothing is lost without eviction');
        }
        assert.ok(engine.stats().bytes <= limit);
      }
      for (const [k, v] of latest) {
        const item = engine.get(k);
        if (item !== null) assert.equal(item.value, v);
        else assert.ok(isEvictionEnabled, `${k} lost without eviction`);
        engine.delete(k);
      }
      const s = engine.stats();
      assert.is(s.items, 0);
      assert.is(s.bytes, 0);
    }),
    { numRuns: 150 },
  );
});

// A plain Map with memcached rules written out longhand: the reference for the model test.
interface ModelItem {
  value: Uint8Array;
  flags: number;
  cas: number;
  expAt: number;
}

type Op =
  | { op: 'set' | 'add' | 'replace'; key: string; value: Uint8Array; flags: number; exptime: number; cas: CasChoice }
  | { op: 'append' | 'prepend'; key: string; value: Uint8Array; cas: CasChoice }
  | { op: 'delete'; key: string; cas: CasChoice }
  | { op: 'incr' | 'decr'; key: string; delta: bigint; initial: bigint | undefined; exptime: number }
  | { op: 'touch' | 'gat'; key: string; exptime: number }
  | { op: 'get'; key: string }
  | { op: 'scan'; start: string; end: string | null; limit: number }
  | { op: 'advance'; ms: number };
type CasChoice = 'none' | 'current' | 'wrong';

/** An item or model entry as comparable data. */
function view(it: { value: Uint8Array; flags: number; cas: number } | null | undefined): [string, number, number] | null {
  return it === null || it === undefined ? null : [text(it.value), it.flags, it.cas];
}

const MODEL_KEYS = ['a', 'b', 'ab', 'a\x00', '\xff', 'k1', 'k2'];
const keyArb = fc.constantFrom(...MODEL_KEYS);
const valueArb = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((n) => bytes(n.toString())),
  fc.constantFrom(bytes('0'), bytes('18446744073709551615'), bytes('x1')),
);
const exptimeArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 }), fc.constant(-1), fc.constant(T0_MS / 1000 + 15));
const casArb = fc.constantFrom<CasChoice>('none', 'current', 'wrong');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constantFrom<'set' | 'add' | 'replace'>('set', 'add', 'replace'),
    key: keyArb,
    value: valueArb,
    flags: fc.nat(),
    exptime: exptimeArb,
    cas: casArb,
  }),
  fc.record({ op: fc.constantFrom<'append' | 'prepend'>('append', 'prepend'), key: keyArb, value: valueArb, cas: casArb }),
  fc.record({ op: fc.constant<'delete'>('delete'), key: keyArb, cas: casArb }),
  fc.record({
    op: fc.constantFrom<'incr' | 'decr'>('incr', 'decr'),
    key: keyArb,
    delta: fc.oneof(fc.bigInt({ min: 0n, max: 100n }), fc.constant((1n << 64n) - 1n)),
    initial: fc.option(fc.bigInt({ min: 0n, max: 1000n }), { nil: undefined }),
    exptime: exptimeArb,
  }),
  fc.record({ op: fc.constantFrom<'touch' | 'gat'>('touch', 'gat'), key: keyArb, exptime: exptimeArb }),
  fc.record({ op: fc.constant<'get'>('get'), key: keyArb }),
  fc.record({
    op: fc.constant<'scan'>('scan'),
    start: fc.constantFrom('', 'a', 'ab', 'b'),
    end: fc.constantFrom(null, 'b', 'k'),
    limit: fc.integer({ min: 0, max: 4 }),
  }),
  fc.record({ op: fc.constant<'advance'>('advance'), ms: fc.integer({ min: 0, max: 8000 }) }),
);

test('random operation sequences agree with a Map-based model', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
      let nowMs = T0_MS;
      const engine = new MemoryEngine({ nowMs: () => nowMs });
      const model = new Map<string, ModelItem>();
      const nowS = (): number => Math.floor(nowMs / 1000);
      const live = (key: string): ModelItem | undefined => {
        const it = model.get(key);
        if (it !== undefined && it.expAt !== 0 && it.expAt <= nowS()) {
          model.delete(key);
          return undefined;
        }
        return it;
      };
      // Absolute expiry, or null when the item is expired on arrival.
      const expiry = (exptime: number): number | null => {
        if (exptime === 0) return 0;
        const at = exptime < 0 ? 0 : exptime <= 30 * DAY_S ? nowS() + exptime : exptime;
        return at <= nowS() ? null : at;
      };
      const casOf = (choice: CasChoice, it: ModelItem | undefined): number | undefined =>
        choice === 'none' ? undefined : choice === 'current' ? (it?.cas ?? 424242) : (it?.cas ?? 0) + 1_000_000;
      const put = (key: string, item: ModelItem, expAt: number | null): void => {
        if (expAt === null) model.delete(key);
        else model.set(key, { ...item, expAt });
      };
      const checkStore = (r: { status: StatusCode; cas: number }, expected: StatusCode): boolean => {
        assert.is(r.status, expected);
        return r.status === Status.OK;
      };

      for (const o of ops) {
        switch (o.op) {
          case 'set':
          case 'add':
          case 'replace': {
            const it = live(o.key);
            const cas = o.op === 'add' ? undefined : casOf(o.cas, it);
            const r = o.op === 'set'
              ? engine.set(o.key, o.value, o.flags, o.exptime, cas)
              : o.op === 'add'
                ? engine.add(o.key, o.value, o.flags, o.exptime)
                : engine.replace(o.key, o.value, o.flags, o.exptime, cas);
            let expected: StatusCode = Status.OK;
            if (o.op === 'add' && it !== undefined) expected = Status.NOT_STORED;
            else if (o.op === 'replace' && it === undefined) expected = Status.NOT_STORED;
            else if (cas !== undefined && it === undefined) expected = Status.NOT_FOUND;
            else if (cas !== undefined && it!.cas !== cas) expected = Status.EXISTS;
            if (checkStore(r, expected)) {
              put(o.key, { value: o.value, flags: o.flags, cas: r.cas, expAt: 0 }, expiry(o.exptime));
            }
            break;
          }
          case 'append':
          case 'prepend': {
            const it = live(o.key);
            const cas = casOf(o.cas, it);
            const r = o.op === 'append' ? engine.append(o.key, o.value, cas) : engine.prepend(o.key, o.value, cas);
            const expected = it === undefined ? Status.NOT_STORED : cas !== undefined && it.cas !== cas ? Status.EXISTS : Status.OK;
            if (checkStore(r, expected)) {
              const value = o.op === 'append' ? Buffer.concat([it!.value, o.value]) : Buffer.concat([o.value, it!.value]);
              model.set(o.key, { ...it!, value: new Uint8Array(value), cas: r.cas });
            }
            break;
          }
          case 'delete': {
            const it = live(o.key);
            const cas = casOf(o.cas, it);
            const expected = it === undefined ? Status.NOT_FOUND : cas !== undefined && it.cas !== cas ? Status.EXISTS : Status.OK;
            assert.is(engine.delete(o.key, cas), expected);
            if (expected === Status.OK) model.delete(o.key);
            break;
          }
          case 'incr':
          case 'decr': {
            const it = live(o.key);
            const r = o.op === 'incr'
              ? engine.incr(o.key, o.delta, o.initial, o.exptime)
              : engine.decr(o.key, o.delta, o.initial, o.exptime);
            if (it === undefined) {
              if (o.initial === undefined) {
                assert.is(r.status, Status.NOT_FOUND);
              } else {
                assert.is(r.status, Status.OK);
                assert.is(r.value, o.initial);
                put(o.key, { value: bytes(o.initial.toString()), flags: 0, cas: r.cas, expAt: 0 }, expiry(o.exptime));
              }
              break;
            }
            const digits = text(it.value);
            const current = /^[0-9]{1,20}$/.test(digits) ? BigInt(digits) : -1n;
            if (current < 0n || current >= 1n << 64n) {
              assert.is(r.status, Status.BAD_REQUEST);
              break;
            }
            const next = o.op === 'incr' ? (current + o.delta) % (1n << 64n) : current > o.delta ? current - o.delta : 0n;
            assert.is(r.status, Status.OK);
            assert.is(r.value, next);
            model.set(o.key, { ...it, value: bytes(next.toString()), cas: r.cas });
            break;
          }
          case 'touch':
          case 'gat': {
            const it = live(o.key);
            if (o.op === 'touch') {
              assert.is(engine.touch(o.key, o.exptime), it === undefined ? Status.NOT_FOUND : Status.OK);
            } else {
              assert.equal(view(engine.getAndTouch(o.key, o.exptime)), view(it));
            }
            if (it !== undefined) put(o.key, it, expiry(o.exptime));
            break;
          }
          case 'get': {
            const it = live(o.key);
            assert.equal(view(engine.get(o.key)), view(it));
            break;
          }
          case 'scan': {
            const inRange = (k: string): boolean => k >= o.start && (o.end === null || k < o.end);
            const keys = [...model.keys()].filter((k) => live(k) !== undefined && inRange(k)).sort();
            const r = engine.scan(o.start, o.end, o.limit);
            assert.equal(r.entries.map((e) => [e.key, text(e.value), e.flags, e.cas]),
              keys.slice(0, o.limit).map((k) => [k, text(model.get(k)!.value), model.get(k)!.flags, model.get(k)!.cas]));
            assert.is(r.nextKey, keys.length > o.limit ? keys[o.limit] : null);
            break;
          }
          case 'advance':
            nowMs += o.ms;
            break;
        }
      }
      const liveKeys = [...model.keys()].filter((k) => live(k) !== undefined).sort();
      assert.equal(engine.scan('', null, 100).entries.map((e) => e.key), liveKeys);
      assert.is(engine.size, liveKeys.length);
      for (const key of liveKeys) engine.delete(key);
      assert.is(engine.stats().bytes, 0);
    }),
    { numRuns: 300 },
  );
});

test.run();
