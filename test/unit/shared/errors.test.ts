import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { ErrorCode, KvError, errorFromStatus, isErrorCode, type KvErrorCode } from '../../../shared/errors.js';
import { Status, type StatusName } from '../../../shared/status.js';

const test = suite('shared - errors');

type ErrorStatusName = Exclude<StatusName, 'OK'>;

/** Every non-OK status: the code it maps to and whether the request is known not to have run. */
const STATUS_TABLE: Record<ErrorStatusName, { code: KvErrorCode; isSafeToRetry: boolean }> = {
  NOT_FOUND: { code: 'KV_ERR_NOT_FOUND', isSafeToRetry: false },
  EXISTS: { code: 'KV_ERR_EXISTS', isSafeToRetry: false },
  NOT_STORED: { code: 'KV_ERR_NOT_STORED', isSafeToRetry: false },
  NOT_MY_BUCKET: { code: 'KV_ERR_NOT_MY_BUCKET', isSafeToRetry: true },
  AUTH_NEEDED: { code: 'KV_ERR_AUTH_NEEDED', isSafeToRetry: true },
  AUTH_FAILED: { code: 'KV_ERR_AUTH_FAILED', isSafeToRetry: true },
  FORBIDDEN: { code: 'KV_ERR_FORBIDDEN', isSafeToRetry: true },
  TOO_LARGE: { code: 'KV_ERR_TOO_LARGE', isSafeToRetry: true },
  OUT_OF_MEMORY: { code: 'KV_ERR_OUT_OF_MEMORY', isSafeToRetry: false },
  BAD_REQUEST: { code: 'KV_ERR_BAD_REQUEST', isSafeToRetry: true },
  BUSY: { code: 'KV_ERR_BUSY', isSafeToRetry: true },
  TIMEOUT: { code: 'KV_ERR_TIMEOUT', isSafeToRetry: false },
  UNAVAILABLE: { code: 'KV_ERR_UNAVAILABLE', isSafeToRetry: false },
  INTERNAL: { code: 'KV_ERR_INTERNAL', isSafeToRetry: false },
  NO_SPACE: { code: 'KV_ERR_NO_SPACE', isSafeToRetry: false },
  DURABILITY_IMPOSSIBLE: { code: 'KV_ERR_DURABILITY_IMPOSSIBLE', isSafeToRetry: true },
  SCAN_INTERRUPTED: { code: 'KV_ERR_SCAN_INTERRUPTED', isSafeToRetry: true },
};

test('every non-OK wire status maps to its error code, keeps the status and says whether a retry is safe', () => {
  const names = (Object.keys(Status) as StatusName[]).filter((n): n is ErrorStatusName => n !== 'OK');
  assert.equal(Object.keys(STATUS_TABLE).sort(), names.slice().sort(), 'the table lists every status');
  for (const name of names) {
    const { code, isSafeToRetry } = STATUS_TABLE[name];
    const status = Status[name];
    for (const message of [undefined, 'text from the node']) {
      const err = errorFromStatus(status, message, { node: '127.0.0.1:1' });
      assert.instance(err, KvError, name);
      assert.is(err.code, code, name);
      assert.is(err.details.status, status, name);
      assert.is(err.details.isSafeToRetry, isSafeToRetry, name);
      assert.is(err.details.node, '127.0.0.1:1', `${name} keeps the caller's details`);
      assert.type(err.message, 'string');
      assert.ok(err.message.length > 0, `${name} has a message`);
    }
    // The status decides retry safety, whatever the caller passed in.
    assert.is(errorFromStatus(status, undefined, { isSafeToRetry: !isSafeToRetry }).details.isSafeToRetry, isSafeToRetry, name);
  }
});

test('a status this version does not define becomes a protocol error', () => {
  const past = Object.keys(Status).length;
  for (const status of [past, past + 1, 255, -1, 1.5, NaN, Number.MAX_SAFE_INTEGER]) {
    const err = errorFromStatus(status);
    assert.is(err.code, ErrorCode.PROTOCOL, String(status));
    assert.is(err.details.isSafeToRetry, undefined, String(status));
    assert.is(errorFromStatus(status, 'node text').code, ErrorCode.PROTOCOL, String(status));
  }
});

test('NOT_MY_BUCKET carries the epoch of the node that refused', () => {
  const fromWire = errorFromStatus(Status.NOT_MY_BUCKET, undefined, { epoch: 42 });
  assert.is(fromWire.details.epoch, 42);
  assert.is(fromWire.details.isSafeToRetry, true);
  const made = KvError.notMyBucket(7, { node: 'n1' });
  assert.is(made.code, ErrorCode.NOT_MY_BUCKET);
  assert.is(made.details.epoch, 7);
  assert.is(made.details.node, 'n1');
  assert.is(made.details.isSafeToRetry, true);
  // The explicit epoch argument wins over one in the details.
  assert.is(KvError.notMyBucket(9, { epoch: 3 }).details.epoch, 9);
});

test('every static factory yields its code, an Error named KvError, and together they cover every code', () => {
  const cause = new Error('socket reset');
  const made: ReadonlyArray<readonly [KvError, KvErrorCode]> = [
    [KvError.notFound(), 'KV_ERR_NOT_FOUND'],
    [KvError.exists(), 'KV_ERR_EXISTS'],
    [KvError.notStored(), 'KV_ERR_NOT_STORED'],
    [KvError.notMyBucket(1), 'KV_ERR_NOT_MY_BUCKET'],
    [KvError.authNeeded(), 'KV_ERR_AUTH_NEEDED'],
    [KvError.authFailed(), 'KV_ERR_AUTH_FAILED'],
    [KvError.forbidden(), 'KV_ERR_FORBIDDEN'],
    [KvError.tooLarge(), 'KV_ERR_TOO_LARGE'],
    [KvError.outOfMemory(), 'KV_ERR_OUT_OF_MEMORY'],
    [KvError.badRequest(), 'KV_ERR_BAD_REQUEST'],
    [KvError.busy(), 'KV_ERR_BUSY'],
    [KvError.timeout(), 'KV_ERR_TIMEOUT'],
    [KvError.unavailable(), 'KV_ERR_UNAVAILABLE'],
    [KvError.internal(), 'KV_ERR_INTERNAL'],
    [KvError.noSpace(), 'KV_ERR_NO_SPACE'],
    [KvError.durabilityImpossible(), 'KV_ERR_DURABILITY_IMPOSSIBLE'],
    [KvError.connectionClosed(), 'KV_ERR_CONNECTION_CLOSED'],
    [KvError.clientClosed(), 'KV_ERR_CLIENT_CLOSED'],
    [KvError.invalidArgument('bad ttl'), 'KV_ERR_INVALID_ARGUMENT'],
    [KvError.protocol('garbage', cause), 'KV_ERR_PROTOCOL'],
    [KvError.scanInterrupted(undefined, { resumeFrom: new Uint8Array([1]) }, cause), 'KV_ERR_SCAN_INTERRUPTED'],
    [KvError.backupInvalid('no manifest.json'), 'KV_ERR_BACKUP_INVALID'],
  ];
  for (const [err, code] of made) {
    assert.is(err.code, code);
    assert.instance(err, Error, code);
    assert.instance(err, KvError, code);
    assert.is(err.name, 'KvError', code);
    assert.type(err.stack, 'string', code);
    assert.type(err.details, 'object', code);
  }
  assert.equal(made.map(([, code]) => code).sort(), Object.values(ErrorCode).slice().sort());
});

test('isErrorCode knows every stable code and nothing else', () => {
  for (const code of Object.values(ErrorCode)) assert.ok(isErrorCode(code), code);
  for (const code of ['', 'KV_ERR_', 'KV_ERR_AUTH', 'kv_err_timeout', 'KV_ERR_TIMEOUT ', 'TIMEOUT', '__proto__']) assert.not.ok(isErrorCode(code), JSON.stringify(code));
});

test('factories pass their details through', () => {
  assert.is(KvError.busy(undefined, { retryAfterMs: 5 }).details.retryAfterMs, 5);
  assert.is(KvError.timeout(undefined, { node: 'n2', isSafeToRetry: false }).details.node, 'n2');
  assert.equal(KvError.notFound().details, {});
});

test('a scan interrupted is always safe to retry and carries where to resume', () => {
  const err = KvError.scanInterrupted('moved too much', { resumeFrom: new Uint8Array([0x61, 0]), isSafeToRetry: false });
  assert.is(err.details.isSafeToRetry, true);
  assert.equal([...err.details.resumeFrom!], [0x61, 0]);
  const fromWire = errorFromStatus(Status.SCAN_INTERRUPTED, undefined, { cursor: 'c.d' });
  assert.is(fromWire.code, ErrorCode.SCAN_INTERRUPTED);
  assert.is(fromWire.details.cursor, 'c.d');
});

test('the cause is kept when given and absent otherwise', () => {
  const cause = new Error('ECONNRESET');
  assert.is(KvError.unavailable('down', {}, cause).cause, cause);
  assert.is(KvError.internal('boom', {}, cause).cause, cause);
  assert.is(KvError.connectionClosed('gone', {}, cause).cause, cause);
  assert.is(KvError.protocol('junk', cause).cause, cause);
  assert.is(new KvError(ErrorCode.BUSY, 'busy', {}, 'a string cause').cause, 'a string cause');
  assert.not.ok('cause' in KvError.unavailable('down'));
  assert.not.ok('cause' in KvError.protocol('junk'));
});

test.run();
