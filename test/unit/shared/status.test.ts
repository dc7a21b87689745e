import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { Status, statusName, isStatusCode, type StatusName } from '../../../shared/status.js';
import { Op, opName, isKeyedOp, isMutation, isIdempotent, type OpCode, type OpName } from '../../../shared/protocol/ops.js';

const test = suite('shared - status and op tables');

const NOT_IN_ANY_TABLE: readonly unknown[] = [-1, 0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 53, 1e300];

test('status numbers are unique and run from 0 without gaps', () => {
  const codes = Object.values(Status).slice().sort((a, b) => a - b);
  assert.is(new Set(codes).size, codes.length);
  assert.equal(codes, codes.map((_, i) => i));
  assert.is(Status.OK, 0);
});

test('the status table is frozen so nobody can renumber it at run time', () => {
  assert.ok(Object.isFrozen(Status));
});

test('statusName and isStatusCode round-trip every status and reject anything else', () => {
  for (const name of Object.keys(Status) as StatusName[]) {
    const code = Status[name];
    assert.is(statusName(code), name);
    assert.ok(isStatusCode(code), name);
  }
  const past = Object.keys(Status).length;
  for (const v of [...NOT_IN_ANY_TABLE, past, past + 1]) {
    assert.is(statusName(v as number), undefined, String(v));
    assert.not.ok(isStatusCode(v), String(v));
  }
  for (const v of ['0', '1', null, undefined, true, 0n, {}, []]) assert.not.ok(isStatusCode(v), String(v));
});

test('op numbers are unique and run from 1 without gaps', () => {
  const codes = Object.values(Op).slice().sort((a, b) => a - b);
  assert.is(new Set(codes).size, codes.length);
  assert.equal(codes, codes.map((_, i) => i + 1));
  assert.ok(Object.isFrozen(Op));
});

test('opName names every op and nothing else, 0 included', () => {
  for (const name of Object.keys(Op) as OpName[]) assert.is(opName(Op[name]), name);
  const past = Object.keys(Op).length + 1;
  for (const v of [0, past, ...NOT_IN_ANY_TABLE]) assert.is(opName(v as number), undefined, String(v));
});

test('each op is classified as keyed, mutating and idempotent exactly as the protocol says', () => {
  // [keyed, mutation, idempotent]
  const expected: Record<OpName, readonly [boolean, boolean, boolean]> = {
    GET: [true, false, true],
    GAT: [true, true, true],
    SET: [true, true, false],
    ADD: [true, true, false],
    REPLACE: [true, true, false],
    APPEND: [true, true, false],
    PREPEND: [true, true, false],
    DELETE: [true, true, false],
    INCR: [true, true, false],
    DECR: [true, true, false],
    TOUCH: [true, true, true],
    SCAN: [false, false, true],
    STATS: [false, false, true],
    PING: [false, false, true],
    AUTH: [false, false, false],
    BACKUP_PAGE: [false, false, true],
    BACKUP_CHANGES: [false, false, true],
  };
  assert.equal(Object.keys(expected).sort(), Object.keys(Op).sort());
  for (const name of Object.keys(Op) as OpName[]) {
    const op: OpCode = Op[name];
    assert.equal([isKeyedOp(op), isMutation(op), isIdempotent(op)], expected[name], name);
  }
});

test('every op that does not change data is safe to repeat, except AUTH (its nonce is single-use)', () => {
  for (const name of Object.keys(Op) as OpName[]) {
    const op = Op[name];
    if (!isMutation(op) && op !== Op.AUTH) assert.ok(isIdempotent(op), name);
  }
});

test.run();
