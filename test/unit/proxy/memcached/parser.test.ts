import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { McParser } from '../../../../proxy/memcached/parser.js';
import { err, parseAll, parseChunks, drain } from './parse-helpers.js';

const test = suite('proxy memcached - parser, classic commands');

function store(mode: string, key: string, value: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { kind: 'store', mode, key, flags: 0, ttl: 0, value, cas: '0', isNoreply: false, ...extra };
}

test('get, gets, gat and gats carry every key and the touch ttl', () => {
  assert.equal(parseAll('get a\r\n'), [{ kind: 'get', op: 'get', keys: ['a'], ttl: 0 }]);
  assert.equal(parseAll('gets a b c\r\n'), [{ kind: 'get', op: 'gets', keys: ['a', 'b', 'c'], ttl: 0 }]);
  assert.equal(parseAll('gat 10 a b\r\n'), [{ kind: 'get', op: 'gat', keys: ['a', 'b'], ttl: 10 }]);
  assert.equal(parseAll('gats -1 a\r\n'), [{ kind: 'get', op: 'gats', keys: ['a'], ttl: -1 }]);
  assert.equal(parseAll('get  a   b \r\n'), [{ kind: 'get', op: 'get', keys: ['a', 'b'], ttl: 0 }], 'runs of spaces separate');
  assert.equal(parseAll('get a\n'), [{ kind: 'get', op: 'get', keys: ['a'], ttl: 0 }], 'a bare LF ends a line too');
  assert.equal(parseAll('get \xe4\xf6\r\n'), [{ kind: 'get', op: 'get', keys: ['\xe4\xf6'], ttl: 0 }], 'bytes above 0x7f are key bytes');
});

test('retrieval lines without keys or with a bad exptime are refused as memcached does', () => {
  assert.equal(parseAll('get\r\n'), [err('ERROR')]);
  assert.equal(parseAll('gets \r\n'), [err('ERROR')]);
  assert.equal(parseAll('gat 10\r\n'), [err('ERROR')]);
  assert.equal(parseAll('gat ten a\r\n'), [err('CLIENT_ERROR invalid exptime argument')]);
  assert.equal(parseAll('gat 99999999999 a\r\n'), [err('CLIENT_ERROR invalid exptime argument')]);
});

test('storage commands carry key, flags, exptime, data and noreply', () => {
  assert.equal(parseAll('set k 5 100 3\r\nabc\r\n'), [store('set', 'k', 'abc', { flags: 5, ttl: 100 })]);
  assert.equal(parseAll('add k 0 0 3 noreply\r\nabc\r\n'), [store('add', 'k', 'abc', { isNoreply: true })]);
  assert.equal(parseAll('replace k 4294967295 -1 1\r\nx\r\n'), [store('replace', 'k', 'x', { flags: 4294967295, ttl: -1 })]);
  assert.equal(parseAll('append k 0 0 1\r\nx\r\n'), [store('append', 'k', 'x')]);
  assert.equal(parseAll('prepend k 0 0 1\r\nx\r\n'), [store('prepend', 'k', 'x')]);
  assert.equal(parseAll('cas k 1 2 3 18446744073709551615\r\nabc\r\n'), [store('cas', 'k', 'abc', { flags: 1, ttl: 2, cas: '18446744073709551615' })]);
  assert.equal(parseAll('cas k 0 0 1 9 noreply\r\nx\r\n'), [store('cas', 'k', 'x', { cas: '9', isNoreply: true })]);
  assert.equal(parseAll('set k 0 0 0\r\n\r\n'), [store('set', 'k', '')], 'an empty data block');
  assert.equal(parseAll('set k 0 0 6\r\n\r\nget\n\r\n'), [store('set', 'k', '\r\nget\n')], 'data is opaque, line breaks included');
});

test('storage lines with the wrong number of tokens get ERROR and the stream goes on line by line', () => {
  assert.equal(parseAll('set k 0 0\r\nget a\r\n'), [err('ERROR'), { kind: 'get', op: 'get', keys: ['a'], ttl: 0 }]);
  assert.equal(parseAll('cas k 0 0 1\r\n'), [err('ERROR')]);
  assert.equal(parseAll('set k 0 0 1 noreply extra\r\n'), [err('ERROR')]);
});

test('a bad field in a storage line is answered and its data block is skipped', () => {
  const next = { kind: 'get', op: 'get', keys: ['a'], ttl: 0 };
  assert.equal(parseAll('set k x 0 3\r\nabc\r\nget a\r\n'), [err('CLIENT_ERROR bad command line format'), next]);
  assert.equal(parseAll('set k 4294967296 0 3\r\nabc\r\nget a\r\n'), [err('CLIENT_ERROR bad command line format'), next]);
  assert.equal(parseAll('set k 0 1e3 3\r\nabc\r\nget a\r\n'), [err('CLIENT_ERROR bad command line format'), next]);
  assert.equal(parseAll('cas k 0 0 3 -1\r\nabc\r\nget a\r\n'), [err('CLIENT_ERROR bad command line format'), next]);
  assert.equal(parseAll('set k 0 0 3 norepl\r\nabc\r\nget a\r\n'), [err('CLIENT_ERROR bad command line format'), next]);
  assert.equal(parseAll(`set ${'k'.repeat(251)} 0 0 3 noreply\r\nabc\r\nget a\r\n`), [err('CLIENT_ERROR bad command line format', false, true), next]);
});

test('an unusable data length closes the stream: it cannot be resynced', () => {
  assert.equal(parseAll('set k 0 0 abc\r\nget a\r\n'), [err('CLIENT_ERROR bad command line format', true)]);
  assert.equal(parseAll('set k 0 0 -1\r\nget a\r\n'), [err('CLIENT_ERROR bad command line format', true)]);
  assert.equal(parseAll('set k 0 0 99999999999999999999999\r\n'), [err('CLIENT_ERROR bad data chunk', true)]);
  assert.equal(parseAll('set k 0 0 16777217\r\n'), [err('CLIENT_ERROR bad data chunk', true)]);
  const p = new McParser();
  p.push(Buffer.from('set k 0 0 -5\r\n'));
  assert.equal(drain(p).length, 1);
  assert.ok(p.isClosed);
  p.push(Buffer.from('get a\r\n'));
  assert.equal(drain(p), [], 'nothing is parsed after a fatal error');
});

test('a value over the limit is refused and swallowed; one at the limit is taken', () => {
  const limit = 1024 * 1024;
  const big = 'v'.repeat(limit + 1);
  assert.equal(parseAll(`set k 0 0 ${limit + 1}\r\n${big}\r\nget a\r\n`), [
    err('SERVER_ERROR object too large for cache'),
    { kind: 'get', op: 'get', keys: ['a'], ttl: 0 },
  ]);
  const exact = parseAll(`set k 0 0 ${limit}\r\n${big.slice(1)}\r\n`);
  assert.is(exact.length, 1);
  assert.is((exact[0]!.value as string).length, limit);
  assert.equal(parseAll('set k 0 0 11\r\nhello world\r\n', { maxValueBytes: 10 }), [err('SERVER_ERROR object too large for cache')]);
});

test('a data block that does not end in CRLF is a bad data chunk and parsing goes on after it', () => {
  // As in memcached: the block is the declared length plus two bytes; what follows is a new line.
  assert.equal(parseAll('set k 0 0 3\r\nabcde\r\nget a\r\n'), [
    err('CLIENT_ERROR bad data chunk'), err('ERROR'), { kind: 'get', op: 'get', keys: ['a'], ttl: 0 },
  ]);
  assert.equal(parseAll('set k 0 0 3 noreply\r\nabc\n\nget a\r\n'), [
    err('CLIENT_ERROR bad data chunk', false, true), { kind: 'get', op: 'get', keys: ['a'], ttl: 0 },
  ]);
  assert.equal(parseAll('set k 0 0 3\r\nabc'), [], 'an unfinished block waits for more bytes');
});

test('delete, incr, decr, touch and their noreply forms', () => {
  assert.equal(parseAll('delete k\r\n'), [{ kind: 'delete', key: 'k', isNoreply: false }]);
  assert.equal(parseAll('delete k noreply\r\n'), [{ kind: 'delete', key: 'k', isNoreply: true }]);
  assert.equal(parseAll('delete k 0\r\n'), [{ kind: 'delete', key: 'k', isNoreply: false }]);
  assert.equal(parseAll('delete k 0 noreply\r\n'), [{ kind: 'delete', key: 'k', isNoreply: true }]);
  assert.equal(parseAll('delete k 5\r\n'), [err('CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]')]);
  assert.equal(parseAll('delete\r\n'), [err('ERROR')]);
  assert.equal(parseAll('delete a b c d\r\n'), [err('ERROR')]);
  assert.equal(parseAll('incr k 18446744073709551615\r\n'), [{ kind: 'counter', op: 'incr', key: 'k', delta: '18446744073709551615', isNoreply: false }]);
  assert.equal(parseAll('decr k 1 noreply\r\n'), [{ kind: 'counter', op: 'decr', key: 'k', delta: '1', isNoreply: true }]);
  assert.equal(parseAll('incr k 18446744073709551616\r\n'), [err('CLIENT_ERROR invalid numeric delta argument')]);
  assert.equal(parseAll('incr k -1\r\n'), [err('CLIENT_ERROR invalid numeric delta argument')]);
  assert.equal(parseAll('incr k\r\n'), [err('ERROR')]);
  assert.equal(parseAll('touch k 10\r\n'), [{ kind: 'touch', key: 'k', ttl: 10, isNoreply: false }]);
  assert.equal(parseAll('touch k 10 noreply\r\n'), [{ kind: 'touch', key: 'k', ttl: 10, isNoreply: true }]);
  assert.equal(parseAll('touch k soon\r\n'), [err('CLIENT_ERROR invalid exptime argument')]);
});

test('version, quit, verbosity, stats and mn', () => {
  assert.equal(parseAll('version\r\nquit\r\nmn\r\n'), [{ kind: 'version' }, { kind: 'quit' }, { kind: 'mn' }]);
  assert.equal(parseAll('version foo bar\r\nquit noreply\r\n'), [{ kind: 'version' }, err('ERROR')], 'as memcached: words after version are ignored, after quit refused');
  assert.equal(parseAll('verbosity 1\r\nverbosity 1 noreply\r\n'), [{ kind: 'verbosity', isNoreply: false }, { kind: 'verbosity', isNoreply: true }]);
  assert.equal(parseAll('verbosity\r\n'), [err('ERROR')]);
  assert.equal(parseAll('stats\r\nstats items\r\n'), [{ kind: 'stats', args: [] }, { kind: 'stats', args: ['items'] }]);
});

test('unknown commands, empty lines and upper case get ERROR and the stream stays usable', () => {
  assert.equal(parseAll('foo bar\r\n\r\nGET a\r\nFLUSH_ALL\r\nget a\r\n'), [
    err('ERROR'), err('ERROR'), err('ERROR'), err('ERROR'), { kind: 'get', op: 'get', keys: ['a'], ttl: 0 },
  ]);
});

test('flush_all with its delay and noreply; malformed forms are refused', () => {
  assert.equal(parseAll('flush_all\r\nflush_all 10\r\nflush_all noreply\r\nflush_all 0 noreply\r\n'), [
    { kind: 'flush', delaySec: 0, isNoreply: false },
    { kind: 'flush', delaySec: 10, isNoreply: false },
    { kind: 'flush', delaySec: 0, isNoreply: true },
    { kind: 'flush', delaySec: 0, isNoreply: true },
  ]);
  const bad = err('CLIENT_ERROR bad command line format');
  assert.equal(parseAll('flush_all -1\r\nflush_all soon\r\nflush_all 1 2\r\n'), [bad, bad, bad]);
  assert.equal(parseAll('flush_all 1 2 noreply\r\n'), [err('ERROR')]);
  assert.equal(parseAll('flush_all 99999999999\r\n'), [bad], 'a delay past 32 bits is refused');
});

test('keys longer than 250 bytes or holding control characters are refused', () => {
  const bad = err('CLIENT_ERROR bad command line format');
  assert.equal(parseAll(`get ${'k'.repeat(250)}\r\n`)[0]!.kind, 'get');
  assert.equal(parseAll(`get ${'k'.repeat(251)}\r\n`), [bad]);
  assert.equal(parseAll(`get a ${'k'.repeat(251)}\r\n`), [bad]);
  assert.equal(parseAll('get a\tb\r\n'), [bad]);
  assert.equal(parseAll('get a\x7fb\r\n'), [bad]);
  assert.equal(parseAll('get a\rb\r\n'), [bad], 'a CR inside a line is a key byte, not a terminator');
  assert.equal(parseAll('delete a\x01\r\n'), [bad]);
  assert.equal(parseAll('touch a\x00 1\r\n'), [bad]);
});

test('a line over the limit is refused and closes the stream, a retrieval line may be longer', () => {
  const limitLine = `${'x'.repeat(2048)}\r\n`;
  assert.equal(parseAll(limitLine), [err('ERROR')], 'exactly the limit is still a line');
  assert.equal(parseAll(`${'x'.repeat(2049)}\r\nget a\r\n`), [err('CLIENT_ERROR line too long', true)]);
  assert.equal(parseAll('x'.repeat(5000)), [err('CLIENT_ERROR line too long', true)], 'without any line feed');
  const keys = Array.from({ length: 400 }, (_, i) => `key:${i.toString().padStart(6, '0')}`);
  const [long] = parseAll(`get ${keys.join(' ')}\r\n`);
  assert.is(long!.kind, 'get');
  assert.is((long!.keys as string[]).length, 400);
  assert.equal(parseAll(`get ${'k '.repeat(1500)}\r\n`, { maxRetrievalLineBytes: 3000 }), [err('CLIENT_ERROR line too long', true)]);
});

test('too many keys in one get is a client error', () => {
  assert.equal(parseAll('get a b c d\r\n', { maxKeysPerGet: 3 }), [err('CLIENT_ERROR too many keys')]);
  assert.is(parseAll('get a b c\r\n', { maxKeysPerGet: 3 })[0]!.kind, 'get');
  assert.equal(parseAll(`get ${'k '.repeat(1025)}\r\n`), [err('CLIENT_ERROR too many keys')]);
});

test('setValueLimit lowers the data limit for lines parsed afterwards', () => {
  const p = new McParser();
  p.setValueLimit(4);
  p.push(Buffer.from('set k 0 0 5\r\nhello\r\n'));
  assert.equal(drain(p), [err('SERVER_ERROR object too large for cache')]);
  p.setValueLimit(Infinity);
  p.push(Buffer.from('set k 0 0 5\r\nhello\r\n'));
  assert.equal(drain(p)[0]!.value, 'hello');
});

test('a pipeline of many commands in one chunk is handed out one at a time', () => {
  const p = new McParser();
  p.push(Buffer.from('mn\r\n'.repeat(1000)));
  let n = 0;
  while (p.next() !== null) n++;
  assert.is(n, 1000);
  assert.is(p.bufferedBytes, 0);
});

test('bytes split inside CRLF and inside data blocks parse the same as whole', () => {
  const input = 'set k 0 0 4\r\nab\r\n\r\nget k\r\n';
  const whole = parseAll(input);
  for (let i = 1; i < input.length; i++) assert.equal(parseChunks(input, [i]), whole, `cut at ${i}`);
  assert.equal(parseChunks(input, Array.from({ length: input.length }, (_, i) => i)), whole, 'one byte at a time');
});

test.run();
