import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { ErrorCode, KvError, type KvErrorCode } from '../../../../shared/errors.js';
import { binaryError, errorCodeOf, errorLine } from '../../../../proxy/memcached/error-map.js';
import { BinStatus } from '../../../../proxy/memcached/binary-protocol.js';

const test = suite('proxy memcached - error map');

/** Every KvError code and the memcached answer it must produce (message: "boom"). */
const TABLE: Record<KvErrorCode, string> = {
  KV_ERR_TOO_LARGE: 'SERVER_ERROR object too large for cache',
  KV_ERR_OUT_OF_MEMORY: 'SERVER_ERROR out of memory storing object',
  KV_ERR_BAD_REQUEST: 'CLIENT_ERROR boom',
  KV_ERR_INVALID_ARGUMENT: 'CLIENT_ERROR boom',
  KV_ERR_UNAVAILABLE: 'SERVER_ERROR temporary failure: KV_ERR_UNAVAILABLE',
  KV_ERR_TIMEOUT: 'SERVER_ERROR temporary failure: KV_ERR_TIMEOUT',
  KV_ERR_CONNECTION_CLOSED: 'SERVER_ERROR temporary failure: KV_ERR_CONNECTION_CLOSED',
  KV_ERR_BUSY: 'SERVER_ERROR temporary failure: KV_ERR_BUSY',
  KV_ERR_NOT_MY_BUCKET: 'SERVER_ERROR temporary failure: KV_ERR_NOT_MY_BUCKET',
  KV_ERR_DURABILITY_IMPOSSIBLE: 'SERVER_ERROR temporary failure: KV_ERR_DURABILITY_IMPOSSIBLE',
  KV_ERR_FORBIDDEN: 'CLIENT_ERROR unauthorized',
  KV_ERR_AUTH_NEEDED: 'CLIENT_ERROR unauthorized',
  KV_ERR_AUTH_FAILED: 'CLIENT_ERROR unauthorized',
  KV_ERR_NOT_FOUND: 'SERVER_ERROR KV_ERR_NOT_FOUND',
  KV_ERR_EXISTS: 'SERVER_ERROR KV_ERR_EXISTS',
  KV_ERR_NOT_STORED: 'SERVER_ERROR KV_ERR_NOT_STORED',
  KV_ERR_INTERNAL: 'SERVER_ERROR KV_ERR_INTERNAL',
  KV_ERR_CLIENT_CLOSED: 'SERVER_ERROR KV_ERR_CLIENT_CLOSED',
  KV_ERR_PROTOCOL: 'SERVER_ERROR KV_ERR_PROTOCOL',
  KV_ERR_BACKUP_INVALID: 'SERVER_ERROR KV_ERR_BACKUP_INVALID',
  KV_ERR_NO_SPACE: 'SERVER_ERROR temporary failure: KV_ERR_NO_SPACE',
  KV_ERR_SCAN_INTERRUPTED: 'SERVER_ERROR temporary failure: KV_ERR_SCAN_INTERRUPTED',
};

test('every KvError code maps to its memcached answer', () => {
  assert.equal(Object.keys(TABLE).sort(), Object.values(ErrorCode).slice().sort(), 'the table lists every code');
  for (const [code, line] of Object.entries(TABLE) as Array<[KvErrorCode, string]>) {
    const e = new KvError(code, 'boom');
    assert.is(errorLine(e), line, code);
    assert.is(errorCodeOf(e), code);
  }
});

test('the code decides, not the type: a plain object with a known code maps the same', () => {
  assert.is(errorLine({ code: ErrorCode.BUSY, message: 'x' }), 'SERVER_ERROR temporary failure: KV_ERR_BUSY');
});

test('unknown errors become SERVER_ERROR KV_ERR_INTERNAL and never leak their text', () => {
  for (const e of [new Error('secret detail'), 'text', null, undefined, 42, { code: 'EPIPE' }]) {
    assert.is(errorLine(e), 'SERVER_ERROR KV_ERR_INTERNAL');
  }
});

test('client error messages are flattened to one bounded line', () => {
  assert.is(errorLine(KvError.badRequest('two\r\nlines\x00')), 'CLIENT_ERROR two lines');
  assert.is(errorLine(KvError.badRequest('')), 'CLIENT_ERROR bad request');
  assert.ok(errorLine(KvError.badRequest('x'.repeat(5000))).length <= 'CLIENT_ERROR '.length + 200);
});

/** Every KvError code and the binary status + text it must produce (message: "boom"). */
const BIN_TABLE: Record<KvErrorCode, [number, string]> = {
  KV_ERR_TOO_LARGE: [BinStatus.E2BIG, 'Too large.'],
  KV_ERR_OUT_OF_MEMORY: [BinStatus.ENOMEM, 'Out of memory'],
  KV_ERR_BAD_REQUEST: [BinStatus.EINVAL, 'Invalid arguments: boom'],
  KV_ERR_INVALID_ARGUMENT: [BinStatus.EINVAL, 'Invalid arguments: boom'],
  KV_ERR_UNAVAILABLE: [BinStatus.ETMPFAIL, 'Temporary failure: KV_ERR_UNAVAILABLE'],
  KV_ERR_TIMEOUT: [BinStatus.ETMPFAIL, 'Temporary failure: KV_ERR_TIMEOUT'],
  KV_ERR_CONNECTION_CLOSED: [BinStatus.ETMPFAIL, 'Temporary failure: KV_ERR_CONNECTION_CLOSED'],
  KV_ERR_BUSY: [BinStatus.ETMPFAIL, 'Temporary failure: KV_ERR_BUSY'],
  KV_ERR_NOT_MY_BUCKET: [BinStatus.ETMPFAIL, 'Temporary failure: KV_ERR_NOT_MY_BUCKET'],
  KV_ERR_DURABILITY_IMPOSSIBLE: [BinStatus.ETMPFAIL, 'Temporary failure: KV_ERR_DURABILITY_IMPOSSIBLE'],
  KV_ERR_NO_SPACE: [BinStatus.ETMPFAIL, 'Temporary failure: KV_ERR_NO_SPACE'],
  KV_ERR_SCAN_INTERRUPTED: [BinStatus.ETMPFAIL, 'Temporary failure: KV_ERR_SCAN_INTERRUPTED'],
  KV_ERR_FORBIDDEN: [BinStatus.EACCESS, 'No access'],
  KV_ERR_AUTH_NEEDED: [BinStatus.EACCESS, 'No access'],
  KV_ERR_AUTH_FAILED: [BinStatus.EACCESS, 'No access'],
  KV_ERR_NOT_FOUND: [BinStatus.KEY_ENOENT, 'Not found'],
  KV_ERR_EXISTS: [BinStatus.KEY_EEXISTS, 'Data exists for key.'],
  KV_ERR_NOT_STORED: [BinStatus.NOT_STORED, 'Not stored.'],
  KV_ERR_INTERNAL: [BinStatus.EINTERNAL, 'Internal error: KV_ERR_INTERNAL'],
  KV_ERR_CLIENT_CLOSED: [BinStatus.EINTERNAL, 'Internal error: KV_ERR_CLIENT_CLOSED'],
  KV_ERR_PROTOCOL: [BinStatus.EINTERNAL, 'Internal error: KV_ERR_PROTOCOL'],
  KV_ERR_BACKUP_INVALID: [BinStatus.EINTERNAL, 'Internal error: KV_ERR_BACKUP_INVALID'],
};

test('every KvError code maps to its binary status and text', () => {
  assert.equal(Object.keys(BIN_TABLE).sort(), Object.values(ErrorCode).slice().sort(), 'the table lists every code');
  for (const [code, [status, message]] of Object.entries(BIN_TABLE) as Array<[KvErrorCode, [number, string]]>) {
    assert.equal(binaryError(new KvError(code, 'boom')), { status, message }, code);
  }
  for (const e of [new Error('secret detail'), null, { code: 'EPIPE' }]) {
    assert.equal(binaryError(e), { status: BinStatus.EINTERNAL, message: 'Internal error: KV_ERR_INTERNAL' });
  }
  assert.is(binaryError(KvError.badRequest('two\r\nlines')).message, 'Invalid arguments: two lines');
});

test.run();
