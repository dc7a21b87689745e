import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decodeRequests, decodeResponses, encodeMessage, type DecodedMessage } from '../../../shared/protocol/codec.js';
import { PROTOCOL_DEFAULTS, type ProtocolLimits } from '../../../shared/protocol/limits.js';
import { Op, opName, isKeyedOp } from '../../../shared/protocol/ops.js';
import { binaryToWire, utf8ToBinary } from '../../../shared/protocol/binary-key.js';
import type { Request } from '../../../shared/protocol/frames.js';
import { Status } from '../../../shared/status.js';

const test = suite('shared - codec');

const LIMITS = PROTOCOL_DEFAULTS;
const BAD = Status.BAD_REQUEST;
const BIG = Status.TOO_LARGE;
const U64_MAX = (1n << 64n) - 1n;
const TWO_64 = 1n << 64n;
const FAILURES: ReadonlySet<number> = new Set([BAD, BIG]);
const VALUE_OPS: ReadonlySet<number> = new Set([Op.SET, Op.ADD, Op.REPLACE, Op.APPEND, Op.PREPEND]);

const hex = (text: string): Uint8Array => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');
const decode = (frames: unknown, limits?: ProtocolLimits): DecodedMessage => decodeRequests(encodeMessage(frames as unknown[]), limits);

/** Check the invariants every outcome must satisfy, whatever the input was. */
function assertWellFormed(out: DecodedMessage, limits: ProtocolLimits = LIMITS): void {
  if (out.fatal !== null) {
    assert.is(out.fatal.id, 0, 'a fatal answer carries id 0');
    assert.ok(FAILURES.has(out.fatal.status), `fatal status ${out.fatal.status}`);
  }
  for (const e of out.errors) {
    assert.ok(Number.isSafeInteger(e.id) && e.id > 0, `error id ${e.id}`);
    assert.ok(FAILURES.has(e.status), `error status ${e.status}`);
  }
  for (const r of out.requests) assertValidRequest(r, limits);
}

function isUint(v: unknown, max = Number.MAX_SAFE_INTEGER): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
}

function isBinaryString(s: unknown, maxLength: number): boolean {
  return typeof s === 'string' && s.length >= 1 && s.length <= maxLength && /^[\x00-\xff]*$/.test(s);
}

function assertValidRequest(r: Request, limits: ProtocolLimits): void {
  assert.ok(Number.isSafeInteger(r.id) && r.id > 0, 'id');
  assert.ok(opName(r.op) !== undefined, 'op');
  assert.ok(isUint(r.epoch), 'epoch');
  if (isKeyedOp(r.op)) assert.ok(isBinaryString(r.key, limits.maxKeyBytes), 'key');
  else if (r.op === Op.SCAN || r.op === Op.BACKUP_PAGE) assert.ok(r.key === '' || isBinaryString(r.key, limits.maxKeyBytes), 'scan or backup start');
  else assert.is(r.key, '', 'key-less op');
  if (r.value !== null) {
    assert.instance(r.value, Uint8Array);
    assert.ok(r.value.length <= limits.maxValueBytes, 'value size');
  }
  if (VALUE_OPS.has(r.op)) assert.ok(r.value !== null, 'value present');
  assert.ok(isUint(r.flags, 0xffffffff), 'flags');
  assert.ok(Number.isSafeInteger(r.exptime), 'exptime');
  assert.ok(typeof r.cas === 'number' && r.cas >= 0 && r.cas <= 2 ** 64, 'cas');
  assert.ok(r.delta >= 0n && r.delta <= U64_MAX, 'delta');
  assert.ok(r.initial === undefined || (r.initial >= 0n && r.initial <= U64_MAX), 'initial');
  assert.ok(r.end === null || isBinaryString(r.end, limits.maxKeyBytes), 'end');
  if (r.op === Op.SCAN) assert.ok(r.limit >= 1 && r.limit <= limits.maxScanLimit, 'limit');
  else assert.is(r.limit, 0, 'limit');
  assert.ok(r.group === undefined || typeof r.group === 'string', 'group');
  assert.ok(['none', 'majority', 'persist', 'persistMajority'].includes(r.durability), 'durability');
}

/** A Request with every field present, for exact comparisons; `value` given as hex. */
interface Expected extends Omit<Request, 'value'> {
  value: string | null;
}

function expected(fields: Partial<Expected> & Pick<Expected, 'id' | 'op'>): Expected {
  return {
    epoch: 0, key: '', value: null, flags: 0, exptime: 0, cas: 0, delta: 0n, initial: undefined,
    end: null, limit: 0, ranges: null, rangeBits: 0, cursor: undefined, group: undefined, durability: 'none', auth: undefined, isReplicaRead: false, ...fields,
  };
}

function comparable(r: Request): Expected {
  return { ...r, value: r.value === null ? null : Buffer.from(r.value).toString('hex') };
}

const utf8Hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

/** Text of any Unicode scalar values, ASCII-heavy half the time (cheaper than the 'binary' string unit). */
function anyText(minLength: number, maxLength: number): fc.Arbitrary<string> {
  const scalar = fc.integer({ min: 0, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff);
  const unicode = fc.array(scalar, { minLength, maxLength }).map((points) => String.fromCodePoint(...points));
  return fc.oneof(fc.string({ minLength, maxLength }), unicode);
}

/** Decode a one-frame message that must be accepted. */
function accepted(frame: unknown[], limits?: ProtocolLimits): Request {
  const out = decode([frame], limits);
  assert.is(out.fatal, null);
  assert.equal(out.errors, []);
  assert.is(out.requests.length, 1);
  return out.requests[0]!;
}

// Frames exactly as sdk/client.ts, sdk/scan.ts and sdk/lane.ts build them (ids and epoch filled in).
const NON_ASCII_KEY = 'ключ-🔑';
const BYTE_KEY = new Uint8Array([0x00, 0xff, 0x80, 0x41]);
const SDK_FRAMES: ReadonlyArray<readonly [unknown[], Expected]> = [
  [[1, Op.GET, 12, 'user:42'], expected({ id: 1, op: Op.GET, epoch: 12, key: 'user:42' })],
  [[2, Op.GET, 12, NON_ASCII_KEY], expected({ id: 2, op: Op.GET, epoch: 12, key: utf8ToBinary(NON_ASCII_KEY) })],
  [[3, Op.GET, 12, BYTE_KEY], expected({ id: 3, op: Op.GET, epoch: 12, key: '\x00\xff\x80A' })],
  [[4, Op.GAT, 12, 'k', null, 0, 300], expected({ id: 4, op: Op.GAT, epoch: 12, key: 'k', exptime: 300 })],
  [[5, Op.SET, 12, 'k', 'héllo', 7, 60, 0], expected({ id: 5, op: Op.SET, epoch: 12, key: 'k', value: utf8Hex('héllo'), flags: 7, exptime: 60 })],
  [[6, Op.SET, 12, 'k', new Uint8Array([0, 1, 255]), 0xffffffff, 2_592_001, 123n, { durability: 'majority' }],
    expected({ id: 6, op: Op.SET, epoch: 12, key: 'k', value: '0001ff', flags: 0xffffffff, exptime: 2_592_001, cas: 123, durability: 'majority' })],
  [[7, Op.ADD, 12, 'k', '', 0, 0, 0], expected({ id: 7, op: Op.ADD, epoch: 12, key: 'k', value: '' })],
  [[8, Op.REPLACE, 12, 'k', 'v', 0, -1, 5n], expected({ id: 8, op: Op.REPLACE, epoch: 12, key: 'k', value: utf8Hex('v'), exptime: -1, cas: 5 })],
  [[9, Op.APPEND, 12, BYTE_KEY, new Uint8Array([9]), 0, 0, 0], expected({ id: 9, op: Op.APPEND, epoch: 12, key: '\x00\xff\x80A', value: '09' })],
  [[10, Op.PREPEND, 12, 'k', '✓', 0, 0, 0], expected({ id: 10, op: Op.PREPEND, epoch: 12, key: 'k', value: utf8Hex('✓') })],
  [[11, Op.DELETE, 12, 'k', null, 0, 0, 0, null], expected({ id: 11, op: Op.DELETE, epoch: 12, key: 'k' })],
  [[12, Op.DELETE, 12, 'k', null, 0, 0, 99n, { durability: 'majority' }], expected({ id: 12, op: Op.DELETE, epoch: 12, key: 'k', cas: 99, durability: 'majority' })],
  [[13, Op.INCR, 12, 'n', null, 0, 0, 0, { delta: 5 }], expected({ id: 13, op: Op.INCR, epoch: 12, key: 'n', delta: 5n })],
  [[14, Op.DECR, 12, 'n', null, 0, 3600, 0, { delta: U64_MAX, initial: 10, durability: 'majority' }],
    expected({ id: 14, op: Op.DECR, epoch: 12, key: 'n', exptime: 3600, delta: U64_MAX, initial: 10n, durability: 'majority' })],
  [[15, Op.TOUCH, 12, 'k', null, 0, 1_700_000_000], expected({ id: 15, op: Op.TOUCH, epoch: 12, key: 'k', exptime: 1_700_000_000 })],
  [[16, Op.SCAN, 12, '\0', null, 0, 0, 0, { limit: 256 }], expected({ id: 16, op: Op.SCAN, epoch: 12, key: '\0', limit: 256 })],
  [[17, Op.SCAN, 12, binaryToWire(utf8ToBinary('é')), null, 0, 0, 0, { limit: 10, end: binaryToWire(utf8ToBinary(NON_ASCII_KEY)) }],
    expected({ id: 17, op: Op.SCAN, epoch: 12, key: utf8ToBinary('é'), limit: 10, end: utf8ToBinary(NON_ASCII_KEY) })],
  [[18, Op.STATS, 12], expected({ id: 18, op: Op.STATS, epoch: 12 })],
  [[19, Op.PING, 0], expected({ id: 19, op: Op.PING })],
  [[20, Op.AUTH, 0, null, null, 0, 0, 0, { principal: 'app' }], expected({ id: 20, op: Op.AUTH, auth: { principal: 'app' } })],
  // As sdk/backup/cluster-backup.ts builds them (shared/protocol/backup-frames.ts).
  [[21, Op.BACKUP_PAGE, 12, BYTE_KEY, null, 0, 0, 0, { units: [1, 5], bits: 24, unitBits: 9, limit: 100 }],
    expected({ id: 21, op: Op.BACKUP_PAGE, epoch: 12, key: '\x00\xff\x80A', backup: { units: [1, 5], unitBits: 9, bits: 24, limit: 100, since: null } })],
  [[22, Op.BACKUP_CHANGES, 12, null, null, 0, 0, 0, { units: [3], since: [17], bits: 24, unitBits: 9 }],
    expected({ id: 22, op: Op.BACKUP_CHANGES, epoch: 12, backup: { units: [3], unitBits: 9, bits: 24, limit: 10_000, since: [17] } })],
];
const VALID_MESSAGE = encodeMessage(SDK_FRAMES.map(([frame]) => frame));

test('every frame the SDK builds decodes to the request it means', () => {
  const out = decodeRequests(VALID_MESSAGE);
  assert.is(out.fatal, null);
  assert.equal(out.errors, []);
  assert.is(out.requests.length, SDK_FRAMES.length);
  SDK_FRAMES.forEach(([, want], i) => assert.equal(comparable(out.requests[i]!), want, `frame ${want.id}`));
  const ops = new Set(out.requests.map((r) => r.op));
  for (const op of Object.values(Op)) assert.ok(ops.has(op), `op ${opName(op)} is covered`);
});

test('defaults fill in omitted trailing fields', () => {
  assert.equal(comparable(accepted([1, Op.INCR, null, 'n'])), expected({ id: 1, op: Op.INCR, key: 'n', delta: 1n }));
  assert.equal(comparable(accepted([2, Op.SCAN])), expected({ id: 2, op: Op.SCAN, limit: LIMITS.maxScanLimit }));
  assert.equal(comparable(accepted([3, Op.SCAN, 0, null, null, 0, 0, 0, { end: null }])), expected({ id: 3, op: Op.SCAN, limit: LIMITS.maxScanLimit }));
  assert.equal(comparable(accepted([4, Op.STATS, 0, null, null, 0, 0, 0, { group: 'engine' }])), expected({ id: 4, op: Op.STATS, group: 'engine' }));
  assert.equal(comparable(accepted([5, Op.PING, 0, null, null, null, null, null, null])), expected({ id: 5, op: Op.PING }));
});

test('values at each limit are accepted', () => {
  const maxId = Number.MAX_SAFE_INTEGER;
  assert.is(accepted([maxId, Op.PING]).id, maxId);
  assert.is(accepted([1, Op.GET, 0, 'k'.repeat(LIMITS.maxKeyBytes)]).key.length, LIMITS.maxKeyBytes);
  assert.is(accepted([1, Op.GET, 0, 'é'.repeat(LIMITS.maxKeyBytes / 2)]).key.length, LIMITS.maxKeyBytes);
  assert.is(accepted([1, Op.GET, 0, new Uint8Array(LIMITS.maxKeyBytes)]).key.length, LIMITS.maxKeyBytes);
  assert.is(accepted([1, Op.SET, 0, 'k', new Uint8Array(LIMITS.maxValueBytes)]).value!.length, LIMITS.maxValueBytes);
  assert.is(accepted([1, Op.SET, 0, 'k', 'v', 0xffffffff]).flags, 0xffffffff);
  assert.is(accepted([1, Op.SET, 0, 'k', 'v', 0, 0, U64_MAX]).cas, Number(U64_MAX));
  assert.is(accepted([1, Op.INCR, 0, 'n', null, 0, 0, 0, { delta: 0, initial: U64_MAX }]).initial, U64_MAX);
  assert.is(accepted([1, Op.SCAN, 0, null, null, 0, 0, 0, { limit: LIMITS.maxScanLimit }]).limit, LIMITS.maxScanLimit);
  assert.is(accepted([1, Op.SCAN, 0, null, null, 0, 0, 0, { limit: 1 }]).limit, 1);
});

test('any text or byte key normalises to its UTF-8 bytes as a binary string', () => {
  const textKey = anyText(1, 80).filter((s) => Buffer.byteLength(s) <= LIMITS.maxKeyBytes);
  const byteKey = fc.uint8Array({ minLength: 1, maxLength: LIMITS.maxKeyBytes });
  fc.assert(fc.property(fc.oneof(textKey, byteKey), fc.uint8Array({ maxLength: 64 }), (key, value) => {
    const r = accepted([1, Op.SET, 0, key, value]);
    assert.is(r.key, typeof key === 'string' ? Buffer.from(key, 'utf8').toString('latin1') : latin1(key));
    assert.is(Buffer.from(r.value!).toString('hex'), Buffer.from(value).toString('hex'));
    if (typeof key === 'string' && /^[\x00-\x7f]*$/.test(key)) assert.is(r.key, key);
  }), { numRuns: 1000 });
});

interface BadFrame {
  what: string;
  frame: unknown[];
  status: number;
}

const ID = 7;
const tooLongKey = 'k'.repeat(LIMITS.maxKeyBytes + 1);
const BAD_FRAMES: readonly BadFrame[] = [
  { what: 'op missing', frame: [ID], status: BAD },
  ...[0, Object.keys(Op).length + 1, -1, 1.5, '1', null, true, 1n].map((op) => ({ what: `op ${String(op)}`, frame: [ID, op], status: BAD })),
  ...[-1, 1.5, 'x', 2 ** 53, [], {}].map((epoch) => ({ what: `epoch ${JSON.stringify(epoch)}`, frame: [ID, Op.PING, epoch], status: BAD })),
  { what: 'get without a key', frame: [ID, Op.GET, 0], status: BAD },
  ...[null, 5, ['a'], {}, true, '', new Uint8Array(0)].map((key) => ({ what: `key ${JSON.stringify(key)}`, frame: [ID, Op.GET, 0, key], status: BAD })),
  { what: `key of ${LIMITS.maxKeyBytes + 1} ASCII chars`, frame: [ID, Op.GET, 0, tooLongKey], status: BIG },
  { what: `key of ${LIMITS.maxKeyBytes + 1} bytes`, frame: [ID, Op.DELETE, 0, new Uint8Array(LIMITS.maxKeyBytes + 1)], status: BIG },
  { what: 'text key whose UTF-8 exceeds the limit', frame: [ID, Op.GET, 0, 'é'.repeat(LIMITS.maxKeyBytes / 2 + 1)], status: BIG },
  { what: 'key on stats', frame: [ID, Op.STATS, 0, 'k'], status: BAD },
  { what: 'key on ping', frame: [ID, Op.PING, 0, new Uint8Array([1])], status: BAD },
  { what: 'set without a value', frame: [ID, Op.SET, 0, 'k'], status: BAD },
  { what: 'append with a null value', frame: [ID, Op.APPEND, 0, 'k', null], status: BAD },
  ...[5, { a: 1 }, ['v'], true].map((value) => ({ what: `value ${JSON.stringify(value)}`, frame: [ID, Op.SET, 0, 'k', value], status: BAD })),
  { what: 'value one byte over the limit', frame: [ID, Op.SET, 0, 'k', new Uint8Array(LIMITS.maxValueBytes + 1)], status: BIG },
  { what: 'text value whose UTF-8 exceeds the limit', frame: [ID, Op.REPLACE, 0, 'k', 'é'.repeat(LIMITS.maxValueBytes / 2 + 1)], status: BIG },
  ...[-1, 2 ** 32, 1.5, '0', []].map((flags) => ({ what: `flags ${JSON.stringify(flags)}`, frame: [ID, Op.SET, 0, 'k', 'v', flags], status: BAD })),
  ...[1.5, '0', 2 ** 53, true, new Date(0)].map((exptime) => ({ what: `exptime ${String(exptime)}`, frame: [ID, Op.TOUCH, 0, 'k', null, 0, exptime], status: BAD })),
  ...[-1, -1n, TWO_64, -TWO_64, 1.5, 'x', new Uint8Array(8)].map((cas) => ({ what: `cas ${String(cas)}`, frame: [ID, Op.SET, 0, 'k', 'v', 0, 0, cas], status: BAD })),
  ...[5, 'x', [1], new Uint8Array(1), true, new Set(['delta']), new Date(0)].map((extra) => ({
    what: `extra ${Object.prototype.toString.call(extra)}`, frame: [ID, Op.INCR, 0, 'n', null, 0, 0, 0, extra], status: BAD,
  })),
  ...['all', 1, null].map((durability) => ({ what: `durability ${String(durability)}`, frame: [ID, Op.SET, 0, 'k', 'v', 0, 0, 0, { durability }], status: BAD })),
  ...[-1, TWO_64, 1.5, '5'].map((delta) => ({ what: `delta ${String(delta)}`, frame: [ID, Op.INCR, 0, 'n', null, 0, 0, 0, { delta }], status: BAD })),
  ...[-1, TWO_64, 'x'].map((initial) => ({ what: `initial ${String(initial)}`, frame: [ID, Op.DECR, 0, 'n', null, 0, 0, 0, { initial }], status: BAD })),
  ...[0, -1, 1.5, '10', 2 ** 53].map((limit) => ({ what: `scan limit ${String(limit)}`, frame: [ID, Op.SCAN, 0, 'a', null, 0, 0, 0, { limit }], status: BAD })),
  { what: 'scan limit above the maximum', frame: [ID, Op.SCAN, 0, 'a', null, 0, 0, 0, { limit: LIMITS.maxScanLimit + 1 }], status: BIG },
  ...[5, '', ['b'], {}].map((end) => ({ what: `scan end ${JSON.stringify(end)}`, frame: [ID, Op.SCAN, 0, 'a', null, 0, 0, 0, { end }], status: BAD })),
  { what: 'scan end over the key limit', frame: [ID, Op.SCAN, 0, 'a', null, 0, 0, 0, { end: tooLongKey }], status: BIG },
  ...['', 5].map((start) => ({ what: `scan start ${JSON.stringify(start)}`, frame: [ID, Op.SCAN, 0, start], status: BAD })),
  { what: 'scan start over the key limit', frame: [ID, Op.SCAN, 0, tooLongKey], status: BIG },
  { what: 'stats group that is not text', frame: [ID, Op.STATS, 0, null, null, 0, 0, 0, { group: 5 }], status: BAD },
  { what: 'a tenth field', frame: [ID, Op.PING, 0, null, null, 0, 0, 0, null, 'more'], status: BAD },
];

test('a frame with a readable id but a bad field is answered alone; the other frames still decode', () => {
  for (const { what, frame, status } of BAD_FRAMES) {
    const out = decode([[1, Op.PING], frame, [9, Op.GET, 0, 'after']]);
    assert.is(out.fatal, null, what);
    assert.equal(out.requests.map((r) => r.id), [1, 9], what);
    assert.is(out.errors.length, 1, what);
    assert.is(out.errors[0]!.id, ID, what);
    assert.is(out.errors[0]!.status, status, what);
    assert.type(out.errors[0]!.message, 'string');
  }
});

test('a frame that is not an array or has no usable id makes the whole message fatal', () => {
  const unusable: unknown[] = [
    [0, Op.PING], [-1, Op.PING], [1.5, Op.PING], ['7', Op.PING], [7n, Op.PING], [2 ** 53, Op.PING], [null, Op.PING],
    [[7], Op.PING], [], 5, 'frame', { id: 7, op: Op.PING }, new Uint8Array([0x81, 0x07]), null, true,
  ];
  for (const frame of unusable) {
    const out = decode([[1, Op.PING], frame, [9, Op.PING]]);
    assert.ok(out.fatal !== null, String(frame));
    assert.is(out.fatal!.id, 0);
    assert.is(out.fatal!.status, BAD);
  }
});

test('an empty message, a message that is not an array and trailing bytes are fatal BAD_REQUEST', () => {
  const inputs: Uint8Array[] = [
    new Uint8Array(0),
    encodeMessage([]),
    hex('ff'),
    ...[5, 'frames', { 0: [1, Op.PING] }, null, true, new Uint8Array([0x81])].map((v) => encodeMessage(v as unknown as unknown[])),
    Buffer.concat([VALID_MESSAGE, hex('00')]),
  ];
  for (const input of inputs) {
    const out = decodeRequests(input);
    assert.equal(out.fatal && { id: out.fatal.id, status: out.fatal.status }, { id: 0, status: BAD }, Buffer.from(input).toString('hex').slice(0, 40));
    assert.equal(out.requests, []);
  }
});

test('every prefix of a valid multi-frame message is fatal BAD_REQUEST', () => {
  for (let n = 0; n < VALID_MESSAGE.length; n++) {
    const out = decodeRequests(VALID_MESSAGE.subarray(0, n));
    assert.ok(out.fatal !== null, `prefix of ${n} bytes`);
    assert.is(out.fatal!.status, BAD, `prefix of ${n} bytes`);
    assert.equal(out.requests, []);
  }
});

test('a message over maxMessageBytes is TOO_LARGE before it is decoded', () => {
  const huge = new Uint8Array(LIMITS.maxMessageBytes + 1).fill(0xff);
  const rejected = decodeRequests(huge);
  assert.equal(rejected.fatal && { id: rejected.fatal.id, status: rejected.fatal.status }, { id: 0, status: BIG });
  const small = { ...LIMITS, maxMessageBytes: VALID_MESSAGE.length };
  assert.is(decodeRequests(VALID_MESSAGE, small).fatal, null, 'exactly at the limit');
  const out = decodeRequests(VALID_MESSAGE, { ...small, maxMessageBytes: VALID_MESSAGE.length - 1 });
  assert.is(out.fatal!.status, BIG);
  assert.is(out.fatal!.id, 0);
});

test('more frames than maxFramesPerMessage is TOO_LARGE', () => {
  const pings = (n: number): unknown[] => Array.from({ length: n }, (_, i) => [i + 1, Op.PING]);
  assert.is(decode(pings(LIMITS.maxFramesPerMessage)).requests.length, LIMITS.maxFramesPerMessage);
  const out = decode(pings(LIMITS.maxFramesPerMessage + 1));
  assert.is(out.fatal!.status, BIG);
  assert.is(out.fatal!.id, 0);
  assert.equal(out.requests, []);
  assert.is(decode(pings(3), { ...LIMITS, maxFramesPerMessage: 2 }).fatal!.status, BIG);
});

test('lengths declared far beyond the data are fatal BAD_REQUEST without allocating them', () => {
  const inputs = [
    '9a ffffffff', // array of 2^32 - 1
    '9b 0000000100000000', // array of 2^32
    '9b 8000000000000000', // array of 2^63
    '9b ffffffffffffffff',
    '5a ffffffff', // byte string of 2^32 - 1
    '5b 8000000000000000',
    '7a ffffffff', // text string
    '7b 8000000000000000',
    'ba ffffffff', // map
    'bb 8000000000000000',
    '81 84 07 01 00 5a ffffffff', // a key declaring 4 GiB
    '81 85 07 03 00 61 6b 5b 8000000000000000', // a value declaring 2^63 bytes
    '81 89 07 09 00 61 6b f6 00 00 00 bb 8000000000000000', // an extra map of 2^63 pairs
    '81 9b 8000000000000000', // a frame of 2^63 fields
    '9f 9f 9f', // indefinite arrays never closed
    '5f 41 00 ff', // indefinite byte string
  ];
  for (const input of inputs) {
    const started = Date.now();
    const out = decodeRequests(hex(input));
    assert.is(out.fatal && out.fatal.status, BAD, input);
    assert.ok(Date.now() - started < 1000, `${input} answered quickly`);
  }
});

test('nesting 100k levels deep is fatal BAD_REQUEST and leaves the decoder usable', () => {
  const depth = 100_000;
  const inputs = [
    Buffer.concat([Buffer.alloc(depth, 0x81), hex('01')]), // [[[…1…]]]
    Buffer.concat([Buffer.alloc(depth, 0x9f), Buffer.alloc(depth, 0xff)]), // indefinite arrays
    Buffer.concat([Buffer.from('a16161'.repeat(depth), 'hex'), hex('01')]), // {"a": {"a": …}}
    Buffer.concat([hex('81 89 07 09 00 61 6b f6 00 00 00'), Buffer.from('a16164'.repeat(depth), 'hex'), hex('01')]), // inside extra
    Buffer.concat([Buffer.from('d81c'.repeat(depth), 'hex'), hex('01')]), // shareable tags
  ];
  for (const input of inputs) {
    const out = decodeRequests(input);
    assert.is(out.fatal && out.fatal.status, BAD);
    assert.equal(comparable(accepted([1, Op.GET, 3, 'still-works'])), expected({ id: 1, op: Op.GET, epoch: 3, key: 'still-works' }));
  }
});

test('__proto__ and constructor keys in extra neither pollute prototypes nor leak arguments', () => {
  const extra: unknown = JSON.parse('{"__proto__": {"polluted": true, "delta": 99, "durability": "majority"}, "constructor": {"prototype": {"polluted": true}}, "hasOwnProperty": 1, "toString": 2}');
  const r = accepted([1, Op.INCR, 0, 'n', null, 0, 0, 0, extra]);
  assert.is(r.delta, 1n, 'delta comes from an own "delta" key only');
  assert.is(r.durability, 'none');
  const withDelta: unknown = JSON.parse('{"__proto__": {"delta": 99}, "hasOwnProperty": 1, "delta": 5}');
  assert.is(accepted([2, Op.DECR, 0, 'n', null, 0, 0, 0, withDelta]).delta, 5n);
  const stats: unknown = JSON.parse('{"__proto__": {"group": "x"}}');
  assert.is(accepted([3, Op.STATS, 0, null, null, 0, 0, 0, stats]).group, undefined);
  // The same through a record tag whose field list names __proto__.
  decodeRequests(hex('81 89 01 09 00 61 6b f6 00 00 00 d9 dfff 83 19 e000 81 69 5f5f70726f746f5f5f a1 68 706f6c6c75746564 f5'));
  assert.is(({} as Record<string, unknown>)['polluted'], undefined);
  assert.not.ok(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'));
  assert.is(Object.prototype.hasOwnProperty.call(Object.prototype, 'delta'), false);
});

test('CBOR tags never crash the decoder and wrong kinds of values they produce are rejected', () => {
  const cases: ReadonlyArray<readonly [string, string, 'fatal' | 'frame']> = [
    ['tag 105 record with a bad field list', 'd9 0069 82 81 61 61 01', 'fatal'],
    ['tag 105 record as a frame', '81 d9 0069 83 19 e000 82 6161 6162 01 02', 'fatal'],
    ['tag 105 record with trailing data', '81 d9 0069 83 19e000 82 6161 6162 01 02 00', 'fatal'],
    ['tag 29 reference before any tag 28', '81 82 07 d81d 05', 'fatal'],
    ['tag 28 message containing itself', 'd81c 81 d81d 00', 'fatal'],
    ['tag 28 frame whose key is the frame itself', '81 d81c 84 07 01 00 d81d 00', 'frame'],
    ['unknown tag on the key', '81 84 07 01 00 d9 ffff 61 6b', 'frame'],
    ['unknown tag on the op', '81 82 07 d9 ffff 01', 'frame'],
    ['unknown tag on the id', '81 82 d9 ffff 07 0e', 'fatal'],
    ['unknown tag around a frame', '81 d9 ffff 82 07 0e', 'fatal'],
    ['date string as the key', '81 84 07 01 00 c0 6a 323032302d30312d3031', 'frame'],
    ['epoch date as the exptime', '81 87 07 0b 00 61 6b f6 00 c1 1a 00000001', 'frame'],
    ['epoch date as the epoch', '81 83 07 0e c1 00', 'frame'],
    ['bignum of 2^64 as cas', '81 88 07 03 00 61 6b 61 76 00 00 c2 49 010000000000000000', 'frame'],
    ['bignum as the id', '81 82 c2 41 07 0e', 'fatal'],
    ['negative bignum as a delta', '81 89 07 09 00 61 6b f6 00 00 00 a1 65 64656c7461 c3 41 00', 'frame'],
    ['RegExp (tag 27) as extra', '81 89 07 0e 00 f6 f6 00 00 00 d8 1b 82 66 526567457870 61 78', 'frame'],
    ['Error (tag 27) as the key', '81 84 07 01 00 d8 1b 82 65 4572726f72 61 78', 'frame'],
    ['Set (tag 258) as extra', '81 89 07 09 00 61 6b f6 00 00 00 d9 0102 81 65 64656c7461', 'frame'],
    ['Map (tag 259) as extra', '81 89 07 09 00 61 6b f6 00 00 00 d9 0103 a1 65 64656c7461 05', 'frame'],
    ['Int8Array (tag 72) as the key', '81 84 07 01 00 d8 48 41 01', 'frame'],
    ['packed reference (tag 6) as a frame', '81 c6 00', 'fatal'],
    ['string reference (tag 25) as the key', '81 84 07 01 00 d8 19 00', 'frame'],
  ];
  for (const [what, bytes, kind] of cases) {
    const out = decodeRequests(hex(bytes));
    assertWellFormed(out);
    if (kind === 'fatal') {
      assert.is(out.fatal && out.fatal.status, BAD, what);
    } else {
      assert.is(out.fatal, null, what);
      assert.equal(out.errors.map((e) => [e.id, e.status]), [[ID, BAD]], what);
    }
  }
  // A tag 259 map must not leave the shared decoder producing Maps for later messages.
  assert.is(accepted([1, Op.INCR, 0, 'n', null, 0, 0, 0, { delta: 5 }]).delta, 5n);
});

test('tags that only re-encode an ordinary value decode like that value', () => {
  // Shared-value tags around a frame, a record standing for {delta: 5}, a typed Uint8Array value.
  assert.equal(comparable(decodeRequests(hex('81 d81c 82 07 0e')).requests[0]!), expected({ id: ID, op: Op.PING }));
  assert.is(decodeRequests(hex('81 89 07 09 00 61 6b f6 00 00 00 d9 dfff 83 19 e000 81 65 64656c7461 05')).requests[0]!.delta, 5n);
  assert.equal([...decodeRequests(hex('81 85 07 03 00 61 6b d8 40 42 0102')).requests[0]!.value!], [1, 2]);
  // A self-referencing extra map is still just a map with an unknown key.
  assertWellFormed(decodeRequests(hex('81 89 07 0e 00 f6 f6 00 00 00 d81c a1 61 61 d81d 00')));
});

test('random bytes never throw and only ever fail with BAD_REQUEST or TOO_LARGE', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    assertWellFormed(decodeRequests(bytes));
  }), { numRuns: 5000 });
  // Random bytes after a plausible start get further into the decoder.
  fc.assert(fc.property(fc.constantFrom('81', '82', '81 89', '81 85 01 03', '9f 9f'), fc.uint8Array({ maxLength: 64 }), (head, tail) => {
    assertWellFormed(decodeRequests(Buffer.concat([hex(head), tail])));
  }), { numRuns: 3000 });
});

test('valid messages with random bytes overwritten never throw', () => {
  const edits = fc.array(fc.tuple(fc.nat({ max: VALID_MESSAGE.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 });
  fc.assert(fc.property(edits, (changes) => {
    const bytes = Uint8Array.from(VALID_MESSAGE);
    for (const [at, byte] of changes) bytes[at] = byte;
    assertWellFormed(decodeRequests(bytes));
  }), { numRuns: 3000 });
});

test('any encodable value as a message never throws', () => {
  const value = fc.anything({
    withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true,
    withNullPrototype: true, withSparseArray: true, maxDepth: 3,
  });
  fc.assert(fc.property(fc.oneof(value, fc.array(value, { maxLength: 6 })), (v) => {
    assertWellFormed(decode(v));
  }), { numRuns: 2000 });
});

test('frames assembled from valid and invalid field values are accepted whole or rejected with a status', () => {
  const pick = (...values: unknown[]): fc.Arbitrary<unknown> => fc.constantFrom(...values);
  const key = fc.oneof(
    anyText(0, 130),
    fc.uint8Array({ maxLength: 260 }),
    pick(null, 5, [], 'k'.repeat(LIMITS.maxKeyBytes), 'k'.repeat(LIMITS.maxKeyBytes + 1)),
  );
  const uint = fc.oneof(fc.nat(), pick(-1, 1.5, 2 ** 32, 2 ** 53, 'x', null, U64_MAX, TWO_64, -1n));
  const extra = fc.oneof(
    fc.record({
      delta: uint, initial: uint, limit: fc.oneof(uint, pick(0, LIMITS.maxScanLimit, LIMITS.maxScanLimit + 1)),
      end: key, group: fc.oneof(fc.string(), uint), durability: pick('none', 'majority', 'persist', 'persistMajority', 'all', 1),
    }, { requiredKeys: [] }),
    pick(null, 5, 'x', [1], new Uint8Array(1), new Set([1]), new Date(0)),
  );
  const frame = fc.tuple(
    fc.oneof(fc.integer({ min: 1, max: 1000 }), pick(0, -1, 1.5, '1')),
    fc.oneof(fc.constantFrom(...Object.values(Op)), pick(0, 99, -1, 'GET', null)),
    uint,
    key,
    fc.oneof(fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), pick(null, 5, {}, [])),
    uint,
    fc.oneof(fc.integer(), pick(1.5, 'x', null)),
    uint,
    extra,
  ).chain((f) => fc.nat({ max: f.length }).map((n) => f.slice(0, n + 1)));
  fc.assert(fc.property(fc.array(frame, { minLength: 1, maxLength: 5 }), (frames) => {
    const out = decode(frames);
    assertWellFormed(out);
    if (out.fatal === null) assert.is(out.requests.length + out.errors.length, frames.length);
  }), { numRuns: 3000 });
});

test('decodeResponses decodes the answers a node sends, bigint cas included', () => {
  const message = encodeMessage([
    [1, Status.OK, new Uint8Array([104, 105]), 17, 3],
    [2, Status.NOT_FOUND],
    [3, Status.OK, null, 1n << 60n],
    [4, Status.OK, null, 5n],
    [5, Status.OK, 2n ** 63n, 8],
    [6, Status.NOT_MY_BUCKET, null, 0, 0, { epoch: 9 }],
    [7, Status.OK, ['k', new Uint8Array([1]), 0, 4], 0, 0, { next: null }],
    [8, Status.OK, { items: 3, version: '0.1.0' }],
    [0, Status.TOO_LARGE, null, 0, 0, { message: 'too big' }],
  ]);
  const out = decodeResponses(message);
  assert.ok(out !== null);
  const [get, miss, bigCas, smallCas, counter, redirect, scan, stats, fatal] = out!;
  assert.equal({ ...get!, value: [...(get!.value as Uint8Array)] }, { id: 1, status: Status.OK, value: [104, 105], cas: 17, flags: 3, extra: undefined });
  assert.equal(miss, { id: 2, status: Status.NOT_FOUND, value: undefined, cas: 0, flags: 0, extra: undefined });
  assert.is(bigCas!.cas, 2 ** 60);
  assert.is(smallCas!.cas, 5);
  assert.is(counter!.value, 2n ** 63n);
  assert.is(counter!.cas, 8);
  assert.equal(redirect!.extra, { epoch: 9 });
  assert.is((scan!.value as unknown[]).length, 4);
  assert.equal(scan!.extra, { next: null });
  assert.equal(stats!.value, { items: 3, version: '0.1.0' });
  assert.is(fatal!.id, 0);
  assert.is(fatal!.status, Status.TOO_LARGE);
  assert.equal(decodeResponses(encodeMessage([])), []);
});

test('decodeResponses ignores cas, flags and extra of the wrong type', () => {
  const [r] = decodeResponses(encodeMessage([[1, Status.OK, 'v', 'cas', 'flags', [1, 2]]]))!;
  assert.equal(r, { id: 1, status: Status.OK, value: 'v', cas: 0, flags: 0, extra: undefined });
  assert.is(decodeResponses(encodeMessage([[1, Status.OK, null, 0, 0, new Uint8Array(2)]]))![0]!.extra, undefined);
});

test('decodeResponses returns null for malformed responses and never throws', () => {
  const malformed: Uint8Array[] = [
    new Uint8Array(0),
    hex('ff'),
    hex('9a ffffffff'),
    Buffer.concat([encodeMessage([[1, 0]]), hex('00')]),
    ...[5, 'x', { 0: [1, 0] }, null, new Uint8Array(1), [5], [[]], [[1]], [['1', 0]], [[1, '0']], [[1n, 0]], [[1, 0], 'x'], [null]]
      .map((v) => encodeMessage(v as unknown as unknown[])),
  ];
  for (const input of malformed) assert.is(decodeResponses(input), null, Buffer.from(input).toString('hex'));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    const out = decodeResponses(bytes);
    if (out !== null) for (const r of out) assert.ok(typeof r.id === 'number' && typeof r.status === 'number');
  }), { numRuns: 3000 });
});

test.run();
