import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decodeCbor, decodeRequests, decodeResponses, encodeFrame, encodeMessage } from '../../../shared/protocol/codec.js';
import { PROTOCOL_DEFAULTS } from '../../../shared/protocol/limits.js';
import { Op } from '../../../shared/protocol/ops.js';
import {
  ANSWER_STRIDE, AnswerField as A, PLAIN_STRIDE, PlainField as P, answerFrameBytes, answerResponse, plainFrames, requestFrameArray,
  scanAnswers, scannedAnswers, scanPlainRequests, skipItem, writeAnswerFrame, writeRequestFrame, requestFrameBytes,
} from '../../../shared/protocol/raw-frames.js';
import { Status } from '../../../shared/status.js';

const test = suite('shared - raw frames');

const LIMITS = PROTOCOL_DEFAULTS;
const value = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i & 0xff);
const scan = (frames: unknown[]): number => scanPlainRequests(encodeMessage(frames), LIMITS);

/** The frame `i` found by the last scan, its tail re-sent with a new id and epoch, as the codec decodes it. */
function resent(data: Uint8Array, i: number, id: number, epoch: number): unknown[] {
  const f = plainFrames();
  const base = i * PLAIN_STRIDE;
  const tail = data.subarray(f[base + P.TAIL_START]!, f[base + P.FRAME_END]!);
  const out = Buffer.alloc(requestFrameBytes(id, f[base + P.OP]!, epoch, tail));
  writeRequestFrame(out, 0, f[base + P.FIELD_COUNT]!, id, f[base + P.OP]!, epoch, tail);
  return decodeCbor(out).value as unknown[];
}

test('plain frames are found with their id, op, key and value size, and re-sent byte for byte but for id and epoch', () => {
  const frames: unknown[][] = [
    [7, Op.GET, 3, 'key:1'],
    [300, Op.SET, 0, Buffer.from([0, 255, 1]), value(100), 4_000_000_000, -5, 2n ** 64n - 1n, null],
    [70_000, Op.DELETE, 12, 'k', null, 0],
    [4_000_000_001, Op.APPEND, 1, 'app', value(0)],
    [9, Op.TOUCH, 1, 'touched', null, 0, 60],
  ];
  const data = encodeMessage(frames);
  assert.is(scanPlainRequests(data, LIMITS), frames.length);
  const f = plainFrames();
  const decoded = decodeRequests(data, LIMITS);
  assert.equal(decoded.errors, []);
  frames.forEach((frame, i) => {
    const base = i * PLAIN_STRIDE;
    const req = decoded.requests[i]!;
    assert.is(f[base + P.ID], req.id);
    assert.is(f[base + P.OP], req.op);
    assert.is(f[base + P.FIELD_COUNT], frame.length);
    assert.is(Buffer.from(data.subarray(f[base + P.KEY_START]!, f[base + P.KEY_END]!)).toString('latin1'), req.key);
    assert.is(f[base + P.VALUE_BYTES], req.value?.length ?? 0);
    const again = resent(data, i, 42, 99);
    assert.equal(again, [42, frame[1], 99, ...(decodeCbor(encodeFrame(frame)).value as unknown[]).slice(3)]);
  });
});

test('anything the codec would refuse, or that needs extra, is not plain', () => {
  const cases: Array<[string, unknown[]]> = [
    ['an extra map', [[1, Op.GET, 0, 'k', null, 0, 0, 0, { replica: true }]]],
    ['an INCR', [[1, Op.INCR, 0, 'k']]],
    ['a scan', [[1, Op.SCAN, 0, 'a']]],
    ['a text value', [[1, Op.SET, 0, 'k', 'text']]],
    ['a non-ASCII text key', [[1, Op.GET, 0, 'clé']]],
    ['an empty key', [[1, Op.GET, 0, '']]],
    ['a key over the limit', [[1, Op.GET, 0, 'k'.repeat(LIMITS.maxKeyBytes + 1)]]],
    ['a SET without a value', [[1, Op.SET, 0, 'k', null]]],
    ['a SET with no value field', [[1, Op.SET, 0, 'k']]],
    ['no key field', [[1, Op.GET, 0]]],
    ['id 0', [[0, Op.GET, 0, 'k']]],
    ['flags over 32 bits', [[1, Op.SET, 0, 'k', value(1), 2 ** 32]]],
    ['negative flags', [[1, Op.SET, 0, 'k', value(1), -1]]],
    ['a float exptime', [[1, Op.TOUCH, 0, 'k', null, 0, 1.5]]],
    ['an unknown op', [[1, 99, 0, 'k']]],
    ['one plain frame and one not', [[1, Op.GET, 0, 'k'], [2, Op.INCR, 0, 'k']]],
    ['too many fields', [[1, Op.GET, 0, 'k', null, 0, 0, 0, null, 1]]],
  ];
  for (const [what, frames] of cases) assert.is(scan(frames), -1, what);
  assert.is(scanPlainRequests(encodeMessage([[1, Op.SET, 0, 'k', value(11)]]), { ...LIMITS, maxValueBytes: 10 }), -1, 'a value over the limit');
  assert.is(scanPlainRequests(encodeMessage([[1, Op.GET, 0, 'k'], [2, Op.GET, 0, 'k']]), { ...LIMITS, maxFramesPerMessage: 1 }), -1, 'too many frames');
  const good = encodeMessage([[1, Op.GET, 0, 'k']]);
  assert.is(scanPlainRequests(good, LIMITS), 1);
  assert.is(scanPlainRequests(Buffer.concat([good, Buffer.from([0])]), LIMITS), -1, 'trailing bytes');
  assert.is(scanPlainRequests(good.subarray(0, good.length - 1), LIMITS), -1, 'truncated');
  assert.is(scanPlainRequests(Buffer.from('9f8401000161 6bff'.replace(/ /g, ''), 'hex'), LIMITS), -1, 'indefinite-length message');
  assert.is(scanPlainRequests(Buffer.from('81980401000161 6b'.replace(/ /g, ''), 'hex'), LIMITS), -1, 'frame head not in one byte');
});

test('an id, epoch, flags or exptime written with an 8-byte argument is left to the decoder, which refuses it', () => {
  // [[1, GET, 0, "k"]], then [[1, SET, 0, "k", h'', 0, 0]], with one integer widened to 0x1b + 8 bytes.
  const wide = (n: number): string => `1b${n.toString(16).padStart(16, '0')}`;
  const cases = [
    `81 84 ${wide(1)} 01 00 616b`,
    `81 84 01 01 ${wide(0)} 616b`,
    `81 87 01 02 00 616b 40 ${wide(5)} 00`,
    `81 87 01 02 00 616b 40 00 ${wide(0)}`,
  ];
  for (const hex of cases) {
    const data = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
    assert.is(scanPlainRequests(data, LIMITS), -1, hex);
    const decoded = decodeRequests(data, LIMITS);
    assert.is(decoded.requests.length, 0, `the decoder refuses ${hex} too`);
  }
});

test('whatever the bytes, a message taken as plain decodes without errors to the same frames', () => {
  const op = fc.constantFrom(Op.GET, Op.SET, Op.DELETE, Op.INCR, Op.TOUCH, Op.APPEND, Op.SCAN, 99);
  const key = fc.oneof(fc.string({ maxLength: 5 }), fc.uint8Array({ maxLength: 5 }), fc.constant(null), fc.integer());
  const val = fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.constant(null), fc.string({ maxLength: 3 }), fc.integer());
  const num = fc.oneof(fc.nat(), fc.integer(), fc.constant(2 ** 32), fc.bigInt({ min: 0n, max: 2n ** 64n }), fc.double(), fc.constant(null));
  const frame = fc.tuple(fc.oneof(fc.nat(), fc.constant(0)), op, fc.nat(), key, val, num, num, num, fc.constantFrom(null, undefined, {}))
    .chain((f) => fc.integer({ min: 2, max: 9 }).map((n) => f.slice(0, n)));
  fc.assert(fc.property(fc.array(frame, { minLength: 1, maxLength: 4 }), (frames) => {
    const data = encodeMessage(frames);
    const count = scanPlainRequests(data, LIMITS);
    if (count < 0) return;
    const decoded = decodeRequests(data, LIMITS);
    assert.is(decoded.fatal, null);
    assert.equal(decoded.errors, []);
    assert.is(decoded.requests.length, count);
    const f = plainFrames();
    decoded.requests.forEach((req, i) => {
      assert.is(f[i * PLAIN_STRIDE + P.ID], req.id);
      const again = decodeRequests(encodeMessage([resent(data, i, 5, req.epoch)]), LIMITS).requests[0]!;
      assert.equal({ ...again, id: req.id }, req);
    });
  }), { numRuns: 2000 });
});

test('answers are found with id and status, and re-sent with a new id they decode as before', () => {
  const frames: unknown[][] = [
    [1, Status.OK, value(100), 12345, 7],
    [2, Status.NOT_FOUND],
    [300, Status.NOT_MY_BUCKET, null, 0, 0, { epoch: 9, nested: [1, { a: 'b' }], big: 2n ** 63n }],
    [70_000, Status.OK, null, 2n ** 64n - 1n, 0, { value: -1.5, t: true, u: null }],
  ];
  const data = encodeMessage(frames);
  const count = scanAnswers(data);
  assert.is(count, frames.length);
  const a = scannedAnswers();
  const before = decodeResponses(data)!;
  frames.forEach((_, i) => {
    const base = i * ANSWER_STRIDE;
    assert.is(a[base + A.ID], before[i]!.id);
    assert.is(a[base + A.STATUS], before[i]!.status);
    const fields = data.subarray(a[base + A.FIELDS_START]!, a[base + A.FRAME_END]!);
    const n = a[base + A.FIELD_COUNT]!;
    const out = Buffer.alloc(1 + answerFrameBytes(77, before[i]!.status, n, fields));
    out[0] = 0x81;
    writeAnswerFrame(out, 1, 77, before[i]!.status, n, fields);
    assert.equal(decodeResponses(out)![0], { ...before[i]!, id: 77 });
    assert.equal(answerResponse(before[i]!.status, n, fields), { ...before[i]!, id: 0 });
  });
  assert.is(scanAnswers(encodeMessage([[1]])), -1, 'a frame without a status');
  assert.is(scanAnswers(encodeMessage([['x', 0]])), -1, 'an id that is not an integer');
  assert.is(scanAnswers(data.subarray(0, data.length - 1)), -1, 'truncated');
});

test('skipItem steps over any encoded value, and refuses it cut short', () => {
  fc.assert(fc.property(fc.anything({ withBigInt: true, withTypedArray: false, withMap: false, withSet: false, withDate: false, withNullPrototype: false }), (v) => {
    const b = encodeFrame([v]);
    assert.is(skipItem(b, 0, b.length), b.length);
    assert.is(skipItem(b, 0, b.length - 1), -1);
  }), { numRuns: 1000 });
});

test('a raw request turns back into the frame the retrying path sends', () => {
  const data = encodeMessage([[5, Op.SET, 3, 'k', value(3), 1, 2, 3]]);
  assert.is(scanPlainRequests(data, LIMITS), 1);
  const f = plainFrames();
  const frame = requestFrameArray(f[P.FIELD_COUNT]!, f[P.OP]!, data.subarray(f[P.TAIL_START]!, f[P.FRAME_END]!));
  assert.equal(frame, [0, Op.SET, 0, 'k', Buffer.from(value(3)), 1, 2, 3]);
});

test.run();
