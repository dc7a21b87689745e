import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { ErrorCode, KvError } from '../../../shared/errors.js';
import { Status } from '../../../shared/status.js';
import { Op } from '../../../shared/protocol/ops.js';
import { decodeRequests, encodeMessage } from '../../../shared/protocol/codec.js';
import { casAnswer, errorAnswer, extraAnswer, itemAnswer, statusAnswer, storeRequest, keyRequest, type AnswerFrame, type Response } from '../../../shared/protocol/frames.js';
import { ANSWER_STRIDE, AnswerField as A, answerResponse, scanAnswers, scannedAnswers } from '../../../shared/protocol/raw-frames.js';
import { encodeBatch } from '../../../sdk/lane-batch.js';
import { PACKED_V1 } from '../../../shared/protocol/packed-layout.js';
import { decodePackedRequests } from '../../../shared/protocol/packed-requests.js';
import { decodePackedAnswers, encodePackedAnswers } from '../../../shared/protocol/packed-answers.js';
import { ForwardedGet, ForwardedSet } from '../../../proxy/memcached-forward.js';
import type { McGetSink, McSetSink } from '../../../proxy/memcached/callback-backend.js';
import type { McStoreStatus } from '../../../proxy/memcached/backend.js';

const test = suite('proxy - memcached get and set forwarded as bytes');

/** Records what a forwarded request reports. */
class Recorder implements McGetSink, McSetSink {
  readonly seen: Array<{ value: string | null; flags: number } | McStoreStatus | { code: string }> = [];
  onItem(value: Uint8Array | null, flags: number): void {
    this.seen.push({ value: value === null ? null : Buffer.from(value).toString('latin1'), flags });
  }
  onStored(status: McStoreStatus): void {
    this.seen.push(status);
  }
  onError(err: unknown): void {
    this.seen.push({ code: err instanceof KvError ? err.code : 'not a KvError' });
  }
}

/** The request as a node decodes it, sent as the lane sends a raw request. */
function asNodeSees(raw: { op: number; fieldCount: number; tail: Uint8Array }, id: number, epoch: number): unknown {
  const decoded = decodeRequests(encodeBatch([{ id, frame: null, raw, epoch }]));
  assert.is(decoded.fatal, null);
  assert.equal(decoded.errors, []);
  return decoded.requests[0];
}

/** The request the promise path sends (an array frame encoded by the codec), as a node decodes it. */
function viaCodec(frame: unknown[], id: number, epoch: number): unknown {
  frame[0] = id;
  frame[2] = epoch;
  return decodeRequests(encodeMessage([frame])).requests[0];
}

/** Hand `answer` to `req` as the proxy's raw answer reader would. */
function answerRaw(req: { onRawAnswer(status: number, fieldCount: number, fields: Uint8Array): void }, answer: AnswerFrame): void {
  const message = encodeMessage([answer]);
  assert.is(scanAnswers(message), 1);
  const a = scannedAnswers();
  assert.ok(ANSWER_STRIDE > 0);
  req.onRawAnswer(a[A.STATUS]!, a[A.FIELD_COUNT]!, message.subarray(a[A.FIELDS_START]!, a[A.FRAME_END]!));
}

const key = Buffer.from('user:42');

test('a get and a set leave as the same request the codec would encode', () => {
  const rec = new Recorder();
  assert.equal(asNodeSees(new ForwardedGet(key, 0, rec, null), 7, 3), viaCodec(keyRequest(Op.GET, key), 7, 3));
  const value = Buffer.alloc(300, 0x7a);
  for (const [flags, ttl] of [[0, 0], [5, 100], [0xffffffff, -1], [1, 2_592_001], [70_000, -70_000]] as const) {
    const set = new ForwardedSet(key, value, flags, ttl, 0, rec, null);
    assert.equal(asNodeSees(set, 9, 1), viaCodec(storeRequest(Op.SET, key, value, flags, ttl, 0), 9, 1), `flags ${flags} ttl ${ttl}`);
    assert.is(set.valueBytes, 300);
    assert.is(set.isIdempotent, false);
  }
  assert.is(new ForwardedGet(key, 0, rec, null).isIdempotent, true);
  assert.equal(rec.seen, [], 'nothing reported while sending');
});

test('a get reports a hit with value and flags, a miss, and a failure with its code', () => {
  const rec = new Recorder();
  answerRaw(new ForwardedGet(key, 0, rec, null), itemAnswer(1, Buffer.from('hello'), 12, 9));
  answerRaw(new ForwardedGet(key, 0, rec, null), statusAnswer(1, Status.NOT_FOUND));
  answerRaw(new ForwardedGet(key, 0, rec, null), errorAnswer(1, Status.UNAVAILABLE, 'owner down'));
  answerRaw(new ForwardedGet(key, 0, rec, null), extraAnswer(1, Status.TOO_LARGE, { message: 'big' }));
  assert.equal(rec.seen, [{ value: 'hello', flags: 9 }, { value: null, flags: 0 }, { code: ErrorCode.UNAVAILABLE }, { code: ErrorCode.TOO_LARGE }]);
});

test('an item answer the byte reader does not take is decoded in full and judged as before', () => {
  const rec = new Recorder();
  answerRaw(new ForwardedGet(key, 0, rec, null), [1, Status.OK, 'a text value', 1, 0]);
  answerRaw(new ForwardedGet(key, 0, rec, null), [1, Status.OK, null, 1, 0]);
  answerRaw(new ForwardedGet(key, 0, rec, null), [1, Status.OK]);
  answerRaw(new ForwardedGet(key, 0, rec, null), [1, Status.OK, Buffer.from('v'), 'odd cas', 4] as unknown as AnswerFrame);
  assert.equal(rec.seen, [{ code: ErrorCode.PROTOCOL }, { code: ErrorCode.PROTOCOL }, { code: ErrorCode.PROTOCOL }, { value: 'v', flags: 4 }]);
});

test('a set maps every status as the promise path does', () => {
  const rec = new Recorder();
  answerRaw(new ForwardedSet(key, key, 0, 0, 0, rec, null), casAnswer(1, 5));
  answerRaw(new ForwardedSet(key, key, 0, 0, 0, rec, null), statusAnswer(1, Status.NOT_STORED));
  answerRaw(new ForwardedSet(key, key, 0, 0, 0, rec, null), statusAnswer(1, Status.EXISTS));
  answerRaw(new ForwardedSet(key, key, 0, 0, 0, rec, null), statusAnswer(1, Status.NOT_FOUND));
  answerRaw(new ForwardedSet(key, key, 0, 0, 0, rec, null), errorAnswer(1, Status.OUT_OF_MEMORY, 'full'));
  answerRaw(new ForwardedSet(key, key, 0, 0, 0, rec, null), statusAnswer(1, Status.BAD_REQUEST));
  assert.equal(rec.seen, ['STORED', 'NOT_STORED', 'EXISTS', 'NOT_STORED', { code: ErrorCode.OUT_OF_MEMORY }, { code: ErrorCode.BAD_REQUEST }]);
});

test('answers that come decoded (the retrying path) and errors are reported the same way', () => {
  const rec = new Recorder();
  // [[id, status, …]]: two array heads of one byte, then id and status of one byte each.
  const decoded = (frame: AnswerFrame): Response => answerResponse(frame[1], frame.length - 2, encodeMessage([frame]).subarray(4));
  new ForwardedGet(key, 0, rec, null).onAnswer(decoded(itemAnswer(1, Buffer.from('xy'), 1, 2)));
  new ForwardedGet(key, 0, rec, null).onAnswer({ id: 0, status: Status.NOT_FOUND, value: null, cas: 0, flags: 0, extra: undefined });
  new ForwardedSet(key, key, 0, 0, 0, rec, null).onAnswer({ id: 0, status: Status.OK, value: null, cas: 3, flags: 0, extra: undefined });
  new ForwardedSet(key, key, 0, 0, 0, rec, null).onError(KvError.timeout('late'));
  new ForwardedGet(key, 0, rec, null).onError(KvError.unavailable('down'));
  assert.equal(rec.seen, [{ value: 'xy', flags: 2 }, { value: null, flags: 0 }, 'STORED', { code: ErrorCode.TIMEOUT }, { code: ErrorCode.UNAVAILABLE }]);
});

test('for packed lanes a get and a set are frame arrays the lane packs, read back as the codec would', () => {
  const rec = new Recorder();
  const get = new ForwardedGet(key, 0, rec, null, 'packed');
  const set = new ForwardedSet(key, Buffer.from('value'), 7, -1, 0, rec, null, 'packed');
  assert.is(get.raw, null);
  assert.is(set.raw, null);
  assert.is(new ForwardedGet(key, 0, rec, null, 'cbor').frame, null, 'cbor: bytes, no array');
  // As the lane and the dispatcher do: the id and the epoch are written into the array.
  get.frame![0] = 3;
  set.frame![0] = 4;
  for (const f of [get.frame!, set.frame!]) f[2] = 5;
  const message = encodeBatch([{ id: 3, frame: get.frame, raw: null, epoch: 5 }, { id: 4, frame: set.frame, raw: null, epoch: 5 }], true);
  assert.is(message[0], PACKED_V1, 'a packed message');
  const packed = decodePackedRequests(message);
  assert.is(packed.fatal, null);
  assert.equal(packed.requests, [viaCodec(keyRequest(Op.GET, key), 3, 5), viaCodec(storeRequest(Op.SET, key, Buffer.from('value'), 7, -1, 0), 4, 5)]);
});

test('packed answers, decoded by the lane, are reported as the CBOR ones', () => {
  const rec = new Recorder();
  const answers = decodePackedAnswers(encodePackedAnswers([
    itemAnswer(1, Buffer.from('packed'), 2 ** 40, 11), statusAnswer(2, Status.NOT_FOUND), casAnswer(3, 9), statusAnswer(4, Status.NOT_STORED),
    errorAnswer(5, Status.UNAVAILABLE, 'owner down'),
  ]))!;
  assert.is(answers.length, 5);
  new ForwardedGet(key, 0, rec, null, 'packed').onAnswer(answers[0]!);
  new ForwardedGet(key, 0, rec, null, 'packed').onAnswer(answers[1]!);
  new ForwardedSet(key, key, 0, 0, 0, rec, null, 'packed').onAnswer(answers[2]!);
  new ForwardedSet(key, key, 0, 0, 0, rec, null, 'packed').onAnswer(answers[3]!);
  new ForwardedGet(key, 0, rec, null, 'packed').onAnswer(answers[4]!);
  assert.equal(rec.seen, [{ value: 'packed', flags: 11 }, { value: null, flags: 0 }, 'STORED', 'NOT_STORED', { code: ErrorCode.UNAVAILABLE }]);
});

test('each answered frame is observed with its op and status; an error is not', () => {
  const seen: Array<[number, number]> = [];
  const observe = (op: number, status: number, ms: number): void => {
    assert.ok(ms >= 0);
    seen.push([op, status]);
  };
  const rec = new Recorder();
  answerRaw(new ForwardedGet(key, 0, rec, observe), statusAnswer(1, Status.NOT_FOUND));
  answerRaw(new ForwardedSet(key, key, 0, 0, 0, rec, observe), errorAnswer(1, Status.BUSY, 'later'));
  new ForwardedGet(key, 0, rec, observe).onError(KvError.timeout('late'));
  assert.equal(seen, [[Op.GET, Status.NOT_FOUND], [Op.SET, Status.BUSY]]);
});

test.run();
