import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { decodeRequests, decodeResponses, encodeMessage } from '../../../shared/protocol/codec.js';
import { Op } from '../../../shared/protocol/ops.js';
import {
  answerFrame, casAnswer, controlRequest, counterRequest, deleteRequest, errorAnswer, errorFromAnswer, expiryRequest, extraAnswer,
  itemAnswer, keyRequest, replicaReadRequest, requestFrame, RequestField, ResponseField, statusAnswer, storeRequest, valueAnswer,
  type RequestFrame,
} from '../../../shared/protocol/frames.js';
import { ErrorCode } from '../../../shared/errors.js';
import { Status } from '../../../shared/status.js';

const test = suite('shared - frame builders');

const KEY = new Uint8Array([0x6b, 0x31]);
const VALUE = new Uint8Array([1, 2, 3]);

/** What a node makes of `frame` once the lane gave it `id`. */
function decodeAsNode(frame: RequestFrame, id = 7): ReturnType<typeof decodeRequests> {
  const sent = [...frame];
  sent[RequestField.ID] = id;
  return decodeRequests(encodeMessage([sent]));
}

test('request builders lay out the positional frame, trailing fields omitted', () => {
  assert.equal(keyRequest(Op.GET, KEY), [0, Op.GET, 0, KEY]);
  assert.equal(replicaReadRequest(Op.GET, 'k'), [0, Op.GET, 0, 'k', null, 0, 0, 0, { replica: true }]);
  assert.equal(expiryRequest(Op.GAT, KEY, 30), [0, Op.GAT, 0, KEY, null, 0, 30]);
  assert.equal(storeRequest(Op.SET, KEY, VALUE, 5, 60, 9), [0, Op.SET, 0, KEY, VALUE, 5, 60, 9]);
  assert.equal(storeRequest(Op.SET, KEY, VALUE, 5, 60, 9, null), [0, Op.SET, 0, KEY, VALUE, 5, 60, 9]);
  assert.equal(storeRequest(Op.ADD, KEY, VALUE, 0, 0, 0, { durability: 'majority' }), [0, Op.ADD, 0, KEY, VALUE, 0, 0, 0, { durability: 'majority' }]);
  assert.equal(deleteRequest(KEY, 4), [0, Op.DELETE, 0, KEY, null, 0, 0, 4]);
  assert.equal(deleteRequest(KEY, 4n, null), [0, Op.DELETE, 0, KEY, null, 0, 0, 4n, null]);
  assert.equal(counterRequest(Op.INCR, KEY, 10, { delta: 2n }), [0, Op.INCR, 0, KEY, null, 0, 10, 0, { delta: 2n }]);
  assert.equal(controlRequest(Op.PING), [0, Op.PING, 0]);
  assert.equal(controlRequest(Op.AUTH, { principal: 'p' }), [0, Op.AUTH, 0, null, null, 0, 0, 0, { principal: 'p' }]);
  assert.equal(requestFrame(Op.SCAN, 3, 'a', null, 0, 0, 0, { limit: 5 }), [0, Op.SCAN, 3, 'a', null, 0, 0, 0, { limit: 5 }]);
});

test('each call builds a new frame: the lane may write its id into one without touching another', () => {
  const a = keyRequest(Op.GET, KEY);
  const b = keyRequest(Op.GET, KEY);
  a[RequestField.ID] = 9;
  assert.is(b[RequestField.ID], 0);
  assert.is.not(controlRequest(Op.PING), controlRequest(Op.PING));
});

test('built requests pass the node\'s validation with the fields they were given', () => {
  const get = decodeAsNode(keyRequest(Op.GET, KEY));
  assert.equal([get.errors, get.fatal], [[], null]);
  assert.equal([get.requests[0]!.id, get.requests[0]!.op, get.requests[0]!.key], [7, Op.GET, 'k1']);
  const set = decodeAsNode(storeRequest(Op.SET, KEY, VALUE, 5, 60, 9)).requests[0]!;
  assert.equal([set.op, [...set.value!], set.flags, set.exptime, set.cas], [Op.SET, [...VALUE], 5, 60, 9]);
  const del = decodeAsNode(deleteRequest(KEY, 4, null)).requests[0]!;
  assert.equal([del.op, del.cas], [Op.DELETE, 4]);
  const incr = decodeAsNode(counterRequest(Op.INCR, KEY, 10, { delta: 2, initial: 1 })).requests[0]!;
  assert.equal([incr.delta, incr.initial, incr.exptime], [2n, 1n, 10]);
  const touch = decodeAsNode(expiryRequest(Op.TOUCH, KEY, 30)).requests[0]!;
  assert.equal([touch.op, touch.exptime], [Op.TOUCH, 30]);
  assert.is(decodeAsNode(replicaReadRequest(Op.GET, KEY)).requests[0]!.isReplicaRead, true);
  assert.is(decodeAsNode(controlRequest(Op.PING)).requests[0]!.op, Op.PING);
});

test('answer builders lay out the positional frame, trailing fields omitted', () => {
  assert.equal(statusAnswer(3, Status.NOT_FOUND), [3, Status.NOT_FOUND]);
  assert.equal(itemAnswer(3, VALUE, 8, 2), [3, Status.OK, VALUE, 8, 2]);
  assert.equal(valueAnswer(3, { items: 1 }), [3, Status.OK, { items: 1 }]);
  assert.equal(valueAnswer(3, 42, 8), [3, Status.OK, 42, 8]);
  assert.equal(casAnswer(3, 8), [3, Status.OK, null, 8]);
  assert.equal(extraAnswer(3, Status.NOT_MY_BUCKET, { epoch: 4 }), [3, Status.NOT_MY_BUCKET, null, 0, 0, { epoch: 4 }]);
  assert.equal(errorAnswer(3, Status.BAD_REQUEST, 'no'), [3, Status.BAD_REQUEST, null, 0, 0, { message: 'no' }]);
  assert.equal(answerFrame(3, Status.OK, VALUE, 8, 2, null), [3, Status.OK, VALUE, 8, 2, null]);
});

test('built answers decode on the client side to the fields they were given', () => {
  const decoded = decodeResponses(encodeMessage([itemAnswer(1, VALUE, 8, 2), statusAnswer(2, Status.NOT_FOUND), errorAnswer(3, Status.BUSY, 'later')]));
  assert.ok(decoded !== null);
  const [item, miss, busy] = decoded;
  assert.equal([item!.id, item!.status, [...(item!.value as Uint8Array)], item!.cas, item!.flags], [1, Status.OK, [...VALUE], 8, 2]);
  assert.equal([miss!.id, miss!.status, miss!.value, miss!.extra], [2, Status.NOT_FOUND, undefined, undefined]);
  assert.equal([busy!.status, busy!.extra?.message], [Status.BUSY, 'later']);
  assert.is(ResponseField.EXTRA, 5);
});

test('errorFromAnswer maps the status and takes the node\'s message from extra', () => {
  const busy = errorFromAnswer({ status: Status.BUSY, extra: { message: 'too many requests in flight' } }, { node: 'ws://n' });
  assert.equal([busy.code, busy.message, busy.details.node, busy.details.isSafeToRetry], [ErrorCode.BUSY, 'too many requests in flight', 'ws://n', true]);
  const bare = errorFromAnswer({ status: Status.NOT_FOUND });
  assert.equal([bare.code, bare.message], [ErrorCode.NOT_FOUND, 'not found']);
  const nmb = errorFromAnswer({ status: Status.NOT_MY_BUCKET, extra: null }, { epoch: 6 });
  assert.equal([nmb.code, nmb.details.epoch], [ErrorCode.NOT_MY_BUCKET, 6]);
});

test('errorFromAnswer ignores a message that is not a string and names an unknown status', () => {
  [42, { toString: 'x' }, ['a'], null, new Uint8Array(3)].forEach((message, i) => {
    const err = errorFromAnswer({ status: Status.INTERNAL, extra: { message } });
    assert.is(err.message, 'internal', `case ${i}`);
  });
  const unknown = errorFromAnswer({ status: 9999, extra: { message: 'huh' } });
  assert.equal([unknown.code, unknown.message], [ErrorCode.PROTOCOL, 'unknown wire status 9999: huh']);
  const long = 'x'.repeat(100_000);
  assert.is(errorFromAnswer({ status: Status.BAD_REQUEST, extra: { message: long } }).message.length, long.length);
});

test.run();
