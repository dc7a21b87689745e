import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decodeRequests, decodeResponses, encodeMessage, type DecodedMessage } from '../../../shared/protocol/codec.js';
import { decodePackedRequests, encodePackedRequests, packedRequestBytes } from '../../../shared/protocol/packed-requests.js';
import { decodePackedAnswers, encodePackedAnswers, packedAnswerBytes } from '../../../shared/protocol/packed-answers.js';
import { PACKED_V1, PackedKind, isPackedMessage, offersPackedV1, readU64, writeU64 } from '../../../shared/protocol/packed-layout.js';
import { PROTOCOL_DEFAULTS, type ProtocolLimits } from '../../../shared/protocol/limits.js';
import { Op } from '../../../shared/protocol/ops.js';
import type { Request, Response } from '../../../shared/protocol/frames.js';
import { Status } from '../../../shared/status.js';

const test = suite('shared - packed layout');

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const BAD = Status.BAD_REQUEST;
const BIG = Status.TOO_LARGE;

/** A request as plain data, for comparing the two layouts' decodings. */
function plain(r: Request): Record<string, unknown> {
  return { ...r, value: r.value === null ? null : Buffer.from(r.value).toString('hex') };
}

function plainAnswer(r: Response): Record<string, unknown> {
  const v = r.value instanceof Uint8Array ? `bytes:${Buffer.from(r.value).toString('hex')}` : r.value ?? null;
  return { ...r, value: v };
}

/** The same frames decoded from both layouts must give the same requests and errors. */
function assertSameAsCbor(frames: unknown[][], limits: ProtocolLimits = PROTOCOL_DEFAULTS): DecodedMessage {
  const packed = decodePackedRequests(encodePackedRequests(frames), limits);
  const cbor = decodeRequests(encodeMessage(frames), limits);
  assert.equal(packed.fatal, cbor.fatal);
  assert.equal(packed.errors, cbor.errors);
  assert.equal(packed.requests.map(plain), cbor.requests.map(plain));
  return packed;
}

function assertFatal(out: DecodedMessage, status: number, pattern?: RegExp): void {
  assert.ok(out.fatal !== null, 'fatal');
  assert.is(out.fatal!.id, 0);
  assert.is(out.fatal!.status, status);
  assert.equal(out.requests, []);
  if (pattern !== undefined) assert.match(out.fatal!.message, pattern);
}

// Byte by byte, as docs/protocol.md §16 shows it.
const GET_BYTES = '01 01 05000000 07000000 07 757365723a3432';
const SET_BYTES = '01 03 06000000 07000000 2a000000 3c000000 0100000000000000 01 05000000 6b 68656c6c6f';

test('a GET and a SET are written byte for byte as the protocol document shows', () => {
  assert.equal(encodePackedRequests([[5, Op.GET, 7, 'user:42']]), hex(GET_BYTES));
  assert.equal(encodePackedRequests([[6, Op.SET, 7, 'k', 'hello', 42, 60, 1]]), hex(SET_BYTES));
  // Several frames follow one version byte, back to back.
  assert.equal(encodePackedRequests([[5, Op.GET, 7, 'user:42'], [6, Op.SET, 7, 'k', 'hello', 42, 60, 1]]),
    Buffer.concat([hex(GET_BYTES), hex(SET_BYTES).subarray(1)]));
});

test('the first byte of a packed message can start no CBOR message a node accepts', () => {
  assert.is(PACKED_V1, 0x01);
  const packed = encodePackedRequests([[1, Op.GET, 0, 'k']]);
  assert.ok(isPackedMessage(packed));
  assert.not.ok(isPackedMessage(encodeMessage([[1, Op.GET, 0, 'k']])));
  // Read as CBOR, a packed message is not an array of frames: the CBOR decoder refuses it whole.
  assert.ok(decodeRequests(packed).fatal !== null);
});

test('frames the layout has no fields for are embedded as CBOR and decode as the CBOR layout does', () => {
  const frames: unknown[][] = [
    [1, Op.GET, 3, 'k', null, 0, 0, 0, { replica: true }],
    [2, Op.GAT, 3, 'k', null, 0, 300],
    [3, Op.SET, 3, 'k', 'v', 0, 0, 0, { durability: 'majority' }],
    [4, Op.SET, 3, 'k', 'v', 0, 2 ** 31, 0],
    [5, Op.SET, 3, 'k', 'v', 0, 0, 2n ** 60n],
    [6, Op.SET, 3, 'x'.repeat(256), 'v', 0, 0, 0],
    [7, Op.DELETE, 3, 'k', null, 0, 0, 9],
    [8, Op.PING, 0],
    [9, Op.INCR, 3, 'n', null, 0, 0, 0, { delta: 2 }],
    [2 ** 32, Op.GET, 3, 'k'],
    [11, Op.GET, 2 ** 32, 'k'],
    [12, Op.GET, 3, ''],
  ];
  for (const f of frames) assert.is(packedRequestBytes(f), -1, `frame ${String(f[0])} is embedded`);
  const msg = encodePackedRequests(frames);
  assert.is(msg[1], PackedKind.CBOR);
  const out = assertSameAsCbor(frames, { ...PROTOCOL_DEFAULTS, maxKeyBytes: 300 });
  assert.is(out.requests.length, 11);
  assert.equal(out.errors.map((e) => [e.id, e.status]), [[12, BAD]]);
});

test('keys and values of any bytes, text and sizes decode as they do from CBOR', () => {
  const key = fc.oneof(
    fc.string({ minLength: 1, maxLength: 40 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
    fc.uint8Array({ minLength: 1, maxLength: 255 }),
  );
  const value = fc.oneof(fc.string({ unit: 'binary', maxLength: 50 }), fc.uint8Array({ maxLength: 300 }));
  const get = fc.tuple(fc.integer({ min: 1, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), key)
    .map(([id, epoch, k]): unknown[] => [id, Op.GET, epoch, k]);
  const set = fc.tuple(
    fc.integer({ min: 1, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), key, value,
    fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.oneof(fc.maxSafeNat(), fc.bigInt({ min: 0n, max: 2n ** 53n - 1n })),
  ).map(([id, epoch, k, v, flags, exptime, cas]): unknown[] => [id, Op.SET, epoch, k, v, flags, exptime, cas]);
  fc.assert(fc.property(fc.array(fc.oneof(get, set), { minLength: 1, maxLength: 8 }), (frames) => {
    assertSameAsCbor(frames);
  }), { numRuns: 300 });
});

test('an empty key or one over maxKeyBytes, and a value over maxValueBytes, are answered per frame; the others run', () => {
  const limits = { ...PROTOCOL_DEFAULTS, maxKeyBytes: 4, maxValueBytes: 3 };
  const msg = Buffer.concat([
    encodePackedRequests([[1, Op.GET, 0, 'abcde'], [2, Op.SET, 0, 'k', 'long', 0, 0, 0], [3, Op.GET, 0, 'ok']]),
    // A GET with an empty key (the builders never write one).
    hex('01 04000000 00000000 00'),
  ]);
  const out = decodePackedRequests(msg, limits);
  assert.is(out.fatal, null);
  assert.equal(out.errors.map((e) => [e.id, e.status]), [[1, BIG], [2, BIG], [4, BAD]]);
  assert.equal(out.requests.map((r) => [r.id, r.key]), [[3, 'ok']]);
});

/** Where each frame of a message of `frames` ends (the positions a cut leaves a whole message). */
function frameEnds(frames: unknown[][], encode: (f: unknown[][]) => Buffer): Set<number> {
  const ends = new Set<number>();
  let at = 1;
  for (const f of frames) {
    at += encode([f]).length - 1;
    ends.add(at);
  }
  return ends;
}

test('a message cut inside a frame is fatal BAD_REQUEST and runs nothing; cut between frames it is a shorter message', () => {
  const frames: unknown[][] = [[1, Op.GET, 0, 'key'], [2, Op.SET, 0, 'k', 'value', 1, 2, 3], [3, Op.DELETE, 0, 'k', null, 0, 0, 0]];
  const msg = encodePackedRequests(frames);
  const ends = frameEnds(frames, encodePackedRequests);
  let whole = 0;
  for (let n = 0; n < msg.length; n++) {
    const out = decodePackedRequests(msg.subarray(0, n));
    if (ends.has(n)) {
      whole++;
      assert.is(out.fatal, null);
      assert.is(out.requests.length, [...ends].filter((e) => e <= n).length);
    } else {
      assertFatal(out, BAD);
    }
  }
  assert.is(whole, 2);
  assert.is(decodePackedRequests(msg).requests.length, 3);
});

test('unknown kinds, id 0, lengths past the end and broken embedded CBOR are fatal with a reason', () => {
  assertFatal(decodePackedRequests(hex('01')), BAD, /no frames/);
  assertFatal(decodePackedRequests(hex('')), BAD);
  assertFatal(decodePackedRequests(hex('02 01 01000000 00000000 01 6b')), BAD, /not a packed message/);
  assertFatal(decodePackedRequests(hex('01 7f')), BAD, /unknown packed frame kind 0x7f at byte 1/);
  assertFatal(decodePackedRequests(hex('01 01 00000000 00000000 01 6b')), BAD, /id/);
  assertFatal(decodePackedRequests(hex('01 03 00000000 00000000 00000000 00000000 0000000000000000 01 00000000 6b')), BAD, /id/);
  // A SET claiming a 4 GiB value, a CBOR frame claiming 4 GiB: refused without allocating.
  assertFatal(decodePackedRequests(hex('01 03 01000000 00000000 00000000 00000000 0000000000000000 01 ffffffff 6b')), BAD, /truncated SET/);
  assertFatal(decodePackedRequests(hex('01 00 ffffffff 80')), BAD, /truncated CBOR/);
  // Embedded bytes that are not CBOR, not an array, or an array without a usable id.
  assertFatal(decodePackedRequests(hex('01 00 04000000 9fffff1c')), BAD, /malformed CBOR/);
  assertFatal(decodePackedRequests(hex('01 00 01000000 01')), BAD, /array/);
  assertFatal(decodePackedRequests(hex('01 00 02000000 8100')), BAD, /array/);
  // A valid frame before the bad one does not run either.
  const good = encodePackedRequests([[1, Op.GET, 0, 'k']]);
  assertFatal(decodePackedRequests(Buffer.concat([good, hex('ee')])), BAD, /unknown/);
});

test('an embedded CBOR frame with a bad field is answered per frame, as in the CBOR layout', () => {
  const frames: unknown[][] = [[1, 99, 0, 'k'], [2, Op.SET, 0, 'k'], [3, Op.GET, 0, 'k', null, 'x']];
  const out = assertSameAsCbor(frames);
  assert.equal(out.errors.map((e) => [e.id, e.status]), [[1, BAD], [2, BAD], [3, BAD]]);
});

test('too many frames or too many bytes are fatal TOO_LARGE', () => {
  const frames = Array.from({ length: 5 }, (_, i): unknown[] => [i + 1, Op.GET, 0, 'k']);
  const msg = encodePackedRequests(frames);
  assertFatal(decodePackedRequests(msg, { ...PROTOCOL_DEFAULTS, maxFramesPerMessage: 4 }), BIG);
  assert.is(decodePackedRequests(msg, { ...PROTOCOL_DEFAULTS, maxFramesPerMessage: 5 }).requests.length, 5);
  assertFatal(decodePackedRequests(msg, { ...PROTOCOL_DEFAULTS, maxMessageBytes: msg.length - 1 }), BIG);
});

test('random bytes after the version byte never throw and give a well-formed outcome', () => {
  const valid = encodePackedRequests([[1, Op.GET, 0, 'key'], [2, Op.SET, 0, 'k', 'v', 0, 0, 0], [3, Op.PING, 0]]);
  const mutated = fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => {
    const b = Buffer.from(valid);
    for (const [at, v] of edits) b[at] = v;
    b[0] = PACKED_V1;
    return b;
  });
  const random = fc.uint8Array({ maxLength: 200 }).map((t) => Buffer.concat([Buffer.from([PACKED_V1]), t]));
  fc.assert(fc.property(fc.oneof(mutated, random), (msg) => {
    const out = decodePackedRequests(msg);
    if (out.fatal !== null) {
      assert.is(out.fatal.id, 0);
      assert.ok(out.fatal.status === BAD || out.fatal.status === BIG);
      return;
    }
    for (const e of out.errors) assert.ok(e.id > 0 && (e.status === BAD || e.status === BIG));
    for (const r of out.requests) {
      assert.ok(r.id > 0);
      if (r.op === Op.GET || r.op === Op.SET) assert.ok(r.key.length >= 1 && r.key.length <= PROTOCOL_DEFAULTS.maxKeyBytes);
    }
  }), { numRuns: 2000 });
});

test('a non-Buffer Uint8Array is read like a Buffer', () => {
  const msg = encodePackedRequests([[1, Op.SET, 2, 'k', 'v', 3, 4, 5]]);
  const copy = new Uint8Array(msg);
  assert.equal(decodePackedRequests(copy).requests.map(plain), decodePackedRequests(msg).requests.map(plain));
});

// Answers.

const ITEM_BYTES = '01 10 02000000 0100000000000000 00000000 05000000 68656c6c6f';
const STATUS_BYTES = '01 11 03000000 01';
const STORED_BYTES = '01 12 01000000 0200000000000000';

test('a found item, a bare status and a stored write are written byte for byte as the protocol document shows', () => {
  assert.equal(encodePackedAnswers([[2, Status.OK, Buffer.from('hello'), 1, 0]]), hex(ITEM_BYTES));
  assert.equal(encodePackedAnswers([[3, Status.NOT_FOUND]]), hex(STATUS_BYTES));
  assert.equal(encodePackedAnswers([[1, Status.OK, null, 2]]), hex(STORED_BYTES));
});

test('the worked example of the protocol document is byte-exact', () => {
  assert.equal(encodePackedRequests([[5, Op.GET, 7, 'user:42'], [6, Op.SET, 7, 'k', 'hello', 42, 60, 1]]).length, 54);
  const answer = encodePackedAnswers([[5, Status.OK, Buffer.from('hello'), 1, 0], [6, Status.OK, null, 2]]);
  assert.equal(answer, hex('01 10 05000000 0100000000000000 00000000 05000000 68656c6c6f 12 06000000 0200000000000000'));
  assert.is(answer.length, 40);
  assert.equal(encodePackedAnswers([[5, Status.NOT_FOUND]]), hex('01 11 05000000 01'));
  assert.equal(encodePackedAnswers([[6, Status.EXISTS]]), hex('01 11 06000000 02'));
  assert.equal(encodePackedAnswers([[6, Status.NOT_MY_BUCKET, null, 0, 0, { epoch: 7 }]]), hex('01 00 0e000000 86 06 04 f6 00 00 a1 65 65706f6368 07'));
});

test('every answer shape decodes from the packed layout as it does from CBOR', () => {
  const answers: unknown[][] = [
    [1, Status.OK, new Uint8Array([1, 2, 3]), 77, 0xffffffff],
    [2, Status.NOT_FOUND],
    [3, Status.OK, null, 2 ** 53 - 1],
    [4, Status.OK, 12, 5],
    [5, Status.NOT_MY_BUCKET, null, 0, 0, { epoch: 9 }],
    [6, Status.BAD_REQUEST, null, 0, 0, { message: 'no' }],
    [7, Status.OK, { curr_items: 1 }],
    [8, Status.OK, new Uint8Array(0), 1, 0],
    [2 ** 32, Status.OK, null, 1],
    [10, Status.OK, null, 2n ** 60n],
  ];
  assert.is(packedAnswerBytes(answers[3]!), -1);
  assert.is(packedAnswerBytes(answers[8]!), -1);
  assert.is(packedAnswerBytes(answers[9]!), -1);
  const packed = decodePackedAnswers(encodePackedAnswers(answers));
  const cbor = decodeResponses(encodeMessage(answers));
  assert.ok(packed !== null && cbor !== null);
  assert.equal(packed!.map(plainAnswer), cbor!.map(plainAnswer));
});

test('answers with random fields decode as they do from CBOR', () => {
  const item = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 100 }), fc.maxSafeNat(), fc.integer({ min: 0, max: 0xffffffff }))
    .map(([id, v, cas, flags]): unknown[] => [id, Status.OK, v, cas, flags]);
  const status = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 300 })).map(([id, s]): unknown[] => [id, s]);
  const stored = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.maxSafeNat()).map(([id, cas]): unknown[] => [id, Status.OK, null, cas]);
  fc.assert(fc.property(fc.array(fc.oneof(item, status, stored), { minLength: 1, maxLength: 8 }), (answers) => {
    const packed = decodePackedAnswers(encodePackedAnswers(answers));
    const cbor = decodeResponses(encodeMessage(answers));
    assert.equal(packed!.map(plainAnswer), cbor!.map(plainAnswer));
  }), { numRuns: 300 });
});

test('an answer message cut at any byte, with an unknown kind or broken embedded CBOR decodes to null, never throws', () => {
  const answers: unknown[][] = [[1, Status.OK, Buffer.from('v'), 1, 0], [2, Status.NOT_FOUND], [3, Status.OK, null, 4], [4, Status.OK, 5, 6]];
  const msg = encodePackedAnswers(answers);
  const ends = frameEnds(answers, encodePackedAnswers);
  for (let n = 0; n < msg.length; n++) {
    const out = decodePackedAnswers(msg.subarray(0, n));
    if (ends.has(n)) assert.is(out!.length, [...ends].filter((e) => e <= n).length, `cut at ${n}`);
    else assert.is(out, null, `cut at ${n}`);
  }
  assert.is(decodePackedAnswers(msg)!.length, 4);
  assert.is(decodePackedAnswers(hex('01 7f')), null);
  assert.is(decodePackedAnswers(hex('01 00 04000000 9fffff1c')), null);
  assert.is(decodePackedAnswers(hex('01 00 01000000 01')), null);
  assert.is(decodePackedAnswers(hex('01 10 01000000 0000000000000000 00000000 ffffffff')), null);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (t) => {
    const out = decodePackedAnswers(Buffer.concat([Buffer.from([PACKED_V1]), t]));
    if (out !== null) for (const r of out) assert.ok(typeof r.id === 'number' && typeof r.status === 'number');
  }), { numRuns: 2000 });
});

test('the upgrade header offers layout 1 only when it names it', () => {
  assert.ok(offersPackedV1('packed1'));
  assert.ok(offersPackedV1(' packed2 , packed1'));
  assert.ok(offersPackedV1(['x', 'packed1']));
  assert.not.ok(offersPackedV1(undefined));
  assert.not.ok(offersPackedV1(''));
  assert.not.ok(offersPackedV1('packed10'));
});

test('a uint64 field holds every safe integer exactly, low word first', () => {
  const b = Buffer.alloc(8);
  for (const v of [0, 1, 0xffffffff, 0x100000000, 2 ** 53 - 1]) {
    writeU64(b, 0, v);
    assert.is(readU64(b, 0), v);
    assert.is(b.readBigUInt64LE(0), BigInt(v));
  }
});

test.run();
