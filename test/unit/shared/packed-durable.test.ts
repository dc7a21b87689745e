import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decodeRequests, encodeMessage } from '../../../shared/protocol/codec.js';
import { decodePackedRequests, encodePackedRequests, packedRequestBytes } from '../../../shared/protocol/packed-requests.js';
import { PACKED_DURABLE_TOKEN, PACKED_V1, PackedKind, SET_DURABLE_HEAD_BYTES, offersLayout, offersPackedV1 } from '../../../shared/protocol/packed-layout.js';
import { DURABILITY_LEVELS, type Request } from '../../../shared/protocol/frames.js';
import { Op } from '../../../shared/protocol/ops.js';
import { Status } from '../../../shared/status.js';

const test = suite('shared - packed layout: SET with a durability');

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

function plain(r: Request): Record<string, unknown> {
  return { ...r, value: r.value === null ? null : Buffer.from(r.value).toString('hex') };
}

/** Packed for a server that reads SET_DURABLE, the frames decode exactly as from CBOR. */
function assertSameAsCbor(frames: unknown[][]): void {
  const packed = decodePackedRequests(encodePackedRequests(frames, true));
  const cbor = decodeRequests(encodeMessage(frames));
  assert.equal(packed.fatal, cbor.fatal);
  assert.equal(packed.errors, cbor.errors);
  assert.equal(packed.requests.map(plain), cbor.requests.map(plain));
}

// As docs/protocol.md §16 shows it: the SET of its worked example with durability persist.
const SET_DURABLE_BYTES = '01 04 06000000 07000000 2a000000 3c000000 0100000000000000 01 05000000 02 6b 68656c6c6f';

test('a SET with a durability is written byte for byte as the protocol document shows', () => {
  const frame = [6, Op.SET, 7, 'k', 'hello', 42, 60, 1, { durability: 'persist' }];
  assert.is(packedRequestBytes(frame, true), SET_DURABLE_HEAD_BYTES + 1 + 5);
  assert.equal(encodePackedRequests([frame], true), hex(SET_DURABLE_BYTES));
  const out = decodePackedRequests(hex(SET_DURABLE_BYTES));
  assert.equal(out.errors, []);
  assert.equal([out.requests[0]!.id, out.requests[0]!.key, out.requests[0]!.durability, out.requests[0]!.flags, out.requests[0]!.exptime], [6, 'k', 'persist', 42, 60]);
});

test('to a server that does not read it, the same SET is embedded as CBOR', () => {
  const frame = [6, Op.SET, 7, 'k', 'hello', 42, 60, 1, { durability: 'majority' }];
  assert.is(packedRequestBytes(frame), -1);
  const msg = encodePackedRequests([frame]);
  assert.is(msg[1], PackedKind.CBOR);
  assert.equal(decodePackedRequests(msg).requests[0]!.durability, 'majority');
});

test('every level, with plain SETs and GETs, decodes as it does from CBOR', () => {
  const key = fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.uint8Array({ minLength: 1, maxLength: 255 }));
  const value = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.uint8Array({ maxLength: 200 }));
  const level = fc.constantFrom(...DURABILITY_LEVELS);
  const set = fc.tuple(
    fc.integer({ min: 1, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), key, value,
    fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.maxSafeNat(), fc.option(level),
  ).map(([id, epoch, k, v, flags, exptime, cas, d]): unknown[] => {
    const f: unknown[] = [id, Op.SET, epoch, k, v, flags, exptime, cas];
    if (d !== null) f.push({ durability: d });
    return f;
  });
  const get = fc.tuple(fc.integer({ min: 1, max: 0xffffffff }), key).map(([id, k]): unknown[] => [id, Op.GET, 0, k]);
  fc.assert(fc.property(fc.array(fc.oneof(set, get), { minLength: 1, maxLength: 8 }), (frames) => {
    assertSameAsCbor(frames);
  }), { numRuns: 300 });
});

test('an extra holding more than a durability, or not a known one, still goes as CBOR and is checked there', () => {
  const frames: unknown[][] = [
    [1, Op.SET, 0, 'k', 'v', 0, 0, 0, { durability: 'persist', other: 1 }],
    [2, Op.SET, 0, 'k', 'v', 0, 0, 0, { durability: 'always' }],
    [3, Op.SET, 0, 'k', 'v', 0, 0, 0, { durability: 7 }],
    [4, Op.SET, 0, 'k', 'v', 0, 0, 0, new Map([['durability', 'persist']])],
    [5, Op.SET, 0, 'k', 'v', 0, 0, 0, Object.create({ durability: 'persist' }) as object],
    [6, Op.SET, 0, 'k', 'v', 0, 0, 0, {}],
  ];
  for (const f of frames) assert.is(packedRequestBytes(f, true), -1, `frame ${String(f[0])} is embedded`);
  assertSameAsCbor(frames);
  const out = decodePackedRequests(encodePackedRequests(frames, true));
  const refused = out.errors.map((e) => e.id);
  assert.ok(refused.includes(2) && refused.includes(3), `unknown levels refused: ${refused.join(',')}`);
  assert.equal(out.requests.find((r) => r.id === 1)?.durability, 'persist');
});

test('a durability byte naming no level is answered by id; the other frames run', () => {
  for (const code of [4, 5, 0x7f, 0xff]) {
    const msg = encodePackedRequests([[1, Op.SET, 0, 'a', 'v', 0, 0, 0, { durability: 'persist' }], [2, Op.SET, 0, 'b', 'v', 0, 0, 0, { durability: 'majority' }]], true);
    msg[1 + 30] = code;
    const out = decodePackedRequests(msg);
    assert.is(out.fatal, null);
    assert.equal(out.errors.map((e) => [e.id, e.status]), [[1, Status.BAD_REQUEST]]);
    assert.match(out.errors[0]!.message, /durability must be/);
    assert.equal(out.requests.map((r) => [r.id, r.durability]), [[2, 'majority']]);
  }
});

test('a SET_DURABLE cut at any byte is fatal or a shorter message, never a wrong request; id 0 is fatal', () => {
  const whole = encodePackedRequests([[9, Op.SET, 3, 'key', 'value', 1, 2, 3, { durability: 'persistMajority' }]], true);
  for (let cut = 2; cut < whole.length; cut++) {
    const out = decodePackedRequests(whole.subarray(0, cut));
    assert.ok(out.fatal !== null, `cut at ${cut}`);
    assert.is(out.fatal!.status, Status.BAD_REQUEST);
    assert.equal(out.requests, []);
  }
  const zero = Buffer.from(whole);
  zero.writeUInt32LE(0, 2);
  assert.match(decodePackedRequests(zero).fatal!.message, /positive integer/);
  const huge = Buffer.from(whole);
  huge.writeUInt32LE(0xffffffff, 1 + 26);
  assert.match(decodePackedRequests(huge).fatal!.message, /truncated SET/);
});

test('random bytes in a SET_DURABLE frame never throw', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (t) => {
    const out = decodePackedRequests(Buffer.concat([Buffer.from([PACKED_V1, PackedKind.SET_DURABLE]), t]));
    assert.ok(out.fatal !== null || out.requests.length + out.errors.length >= 1);
  }), { numRuns: 2000 });
});

test('the durable token is its own: neither layout token implies the other', () => {
  assert.ok(offersLayout('packed1, packed1-durable', PACKED_DURABLE_TOKEN));
  assert.ok(offersPackedV1('packed1, packed1-durable'));
  assert.not.ok(offersLayout('packed1', PACKED_DURABLE_TOKEN));
  assert.not.ok(offersPackedV1('packed1-durable'));
  assert.not.ok(offersLayout(undefined, PACKED_DURABLE_TOKEN));
});

test.run();
