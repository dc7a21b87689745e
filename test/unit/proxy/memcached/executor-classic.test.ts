import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { KvError } from '../../../../shared/errors.js';
import { MemoryBackend } from './memory-backend.js';
import { ExecSession, FailingBackend, principal } from './exec-helpers.js';

const test = suite('proxy memcached - executor, classic commands');

function casOf(text: string): string {
  const m = /^VALUE \S+ \d+ \d+ (\d+)\r\n/.exec(text);
  assert.ok(m, `a gets answer: ${JSON.stringify(text)}`);
  return m![1]!;
}

test('set then get and gets answer VALUE lines for hits only, then END', async () => {
  const s = new ExecSession(new MemoryBackend());
  assert.is(await s.send('set a 5 0 3\r\nabc\r\n'), 'STORED\r\n');
  assert.is(await s.send('get a missing a\r\n'), 'VALUE a 5 3\r\nabc\r\nVALUE a 5 3\r\nabc\r\nEND\r\n');
  assert.is(await s.send('get missing\r\n'), 'END\r\n');
  assert.match(await s.send('gets a\r\n'), /^VALUE a 5 3 \d+\r\nabc\r\nEND\r\n$/);
  assert.is(await s.send('set e 0 0 0\r\n\r\nget e\r\n'), 'STORED\r\nVALUE e 0 0\r\n\r\nEND\r\n');
});

test('add, replace, append, prepend and cas follow memcached', async () => {
  const s = new ExecSession(new MemoryBackend());
  assert.is(await s.send('add a 0 0 1\r\n1\r\n'), 'STORED\r\n');
  assert.is(await s.send('add a 0 0 1\r\n2\r\n'), 'NOT_STORED\r\n');
  assert.is(await s.send('replace b 0 0 1\r\n2\r\n'), 'NOT_STORED\r\n');
  assert.is(await s.send('replace a 0 0 1\r\n3\r\n'), 'STORED\r\n');
  assert.is(await s.send('append a 0 0 2\r\n>>\r\nprepend a 0 0 2\r\n<<\r\n'), 'STORED\r\nSTORED\r\n');
  assert.is(await s.send('append nope 0 0 1\r\nx\r\n'), 'NOT_STORED\r\n');
  const cas = casOf(await s.send('gets a\r\n'));
  assert.is(await s.send(`cas a 0 0 1 ${BigInt(cas) + 1n}\r\nx\r\n`), 'EXISTS\r\n');
  assert.is(await s.send(`cas a 9 0 1 ${cas}\r\ny\r\n`), 'STORED\r\n');
  assert.is(await s.send(`cas a 0 0 1 ${cas}\r\nz\r\n`), 'EXISTS\r\n', 'the cas changed with the store');
  assert.is(await s.send('cas nope 0 0 1 1\r\nx\r\n'), 'NOT_FOUND\r\n');
  assert.is(await s.send('get a\r\n'), 'VALUE a 9 1\r\ny\r\nEND\r\n');
});

test('delete, touch and gat', async () => {
  let now = 1_700_000_000_000;
  const s = new ExecSession(new MemoryBackend({ nowMs: () => now }));
  assert.is(await s.send('set a 0 10 1\r\nx\r\ndelete a\r\ndelete a\r\n'), 'STORED\r\nDELETED\r\nNOT_FOUND\r\n');
  assert.is(await s.send('set t 0 10 1\r\nx\r\ntouch t 100\r\ntouch nope 1\r\n'), 'STORED\r\nTOUCHED\r\nNOT_FOUND\r\n');
  now += 50_000;
  assert.is(await s.send('get t\r\n'), 'VALUE t 0 1\r\nx\r\nEND\r\n', 'touch extended the ttl');
  assert.match(await s.send('gats 5 t\r\n'), /^VALUE t 0 1 \d+\r\nx\r\nEND\r\n$/);
  now += 6_000;
  assert.is(await s.send('gat 5 t\r\n'), 'END\r\n', 'gat set the ttl');
  assert.is(await s.send('set n 0 -1 1\r\nx\r\nget n\r\n'), 'STORED\r\nEND\r\n', 'a negative exptime expires at once');
});

test('incr wraps at 2^64, decr stops at 0, non-numbers and misses are answered', async () => {
  const s = new ExecSession(new MemoryBackend());
  assert.is(await s.send('set n 0 0 20\r\n18446744073709551615\r\nincr n 1\r\n'), 'STORED\r\n0\r\n');
  assert.is(await s.send('incr n 41\r\ndecr n 2\r\ndecr n 100\r\n'), '41\r\n39\r\n0\r\n');
  assert.is(await s.send('incr missing 1\r\n'), 'NOT_FOUND\r\n');
  assert.is(await s.send('set t 0 0 3\r\nabc\r\nincr t 1\r\n'), 'STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n');
});

test('noreply leaves out every answer, errors included, and the next command answers normally', async () => {
  const s = new ExecSession(new MemoryBackend());
  assert.is(await s.send('set a 0 0 1 noreply\r\nx\r\nadd a 0 0 1 noreply\r\ny\r\n'), '');
  assert.is(await s.send('set t 0 0 1 noreply\r\nx\r\nincr t 1 noreply\r\nincr nope 1 noreply\r\n'), '');
  assert.is(await s.send('delete a noreply\r\ntouch t 1 noreply\r\nverbosity 1 noreply\r\n'), '');
  assert.is(await s.send('set k x 0 1 noreply\r\nx\r\n'), '', 'a malformed line with noreply is silent too');
  assert.is(await s.send('get a t\r\n'), 'VALUE t 0 1\r\nx\r\nEND\r\n');
});

test('version, verbosity, mn and stats', async () => {
  const s = new ExecSession(new MemoryBackend());
  assert.is(await s.send('version\r\nverbosity 1\r\nmn\r\n'), 'VERSION 1.6.21\r\nOK\r\nMN\r\n');
  const stats = await s.send('stats\r\n');
  assert.match(stats, /^STAT pid 1\r\n/);
  assert.match(stats, /STAT pandakv_proxy_memcached_commands_total 0\r\n/);
  assert.match(stats, /STAT curr_items 0\r\nEND\r\n$/);
  assert.is(await s.send('stats slabs\r\n'), 'ERROR\r\n');
});

test('roles: reads need read, writes need write, commands that do both need both', async () => {
  const backend = new MemoryBackend();
  await new ExecSession(backend).send('set a 0 0 1\r\nx\r\nset n 0 0 1\r\n1\r\n');
  const reader = new ExecSession(backend, principal('r', ['read']));
  assert.is(await reader.send('get a\r\n'), 'VALUE a 0 1\r\nx\r\nEND\r\n');
  assert.is(await reader.send('set a 0 0 1\r\ny\r\n'), 'CLIENT_ERROR unauthorized\r\n');
  assert.is(await reader.send('set a 0 0 1 noreply\r\ny\r\n'), '', 'noreply hides it');
  assert.is(await reader.send('gat 10 a\r\nincr n 1\r\ndelete a\r\ntouch a 1\r\n'), 'CLIENT_ERROR unauthorized\r\n'.repeat(4));
  assert.is(await reader.send('version\r\nmn\r\n'), 'VERSION 1.6.21\r\nMN\r\n');
  const writer = new ExecSession(backend, principal('w', ['write']));
  assert.is(await writer.send('set a 0 0 1\r\nz\r\ndelete n\r\n'), 'STORED\r\nDELETED\r\n');
  assert.is(await writer.send('get a\r\n'), 'CLIENT_ERROR unauthorized\r\n');
  const both = new ExecSession(backend, principal('rw', ['read', 'write']));
  assert.is(await both.send('gat 0 a\r\n'), 'VALUE a 0 1\r\nz\r\nEND\r\n');
  assert.is(Buffer.from(backend.items.get('a')!.value).toString(), 'z', 'the refused set did not store');
});

test('backend failures become memcached errors and the session stays usable', async () => {
  const failing = new FailingBackend(KvError.unavailable('node down'));
  const s = new ExecSession(failing);
  assert.is(await s.send('get a b\r\n'), 'SERVER_ERROR temporary failure: KV_ERR_UNAVAILABLE\r\n');
  assert.is(await s.send('set a 0 0 1\r\nx\r\n'), 'SERVER_ERROR temporary failure: KV_ERR_UNAVAILABLE\r\n');
  assert.is(await s.send('set a 0 0 1 noreply\r\nx\r\n'), '');
  failing.failure = KvError.tooLarge();
  assert.is(await s.send('set a 0 0 1\r\nx\r\n'), 'SERVER_ERROR object too large for cache\r\n');
  failing.failure = KvError.badRequest('value is not a decimal number');
  assert.is(await s.send('incr a 1\r\n'), 'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n');
  assert.is(await s.send('touch a 1\r\n'), 'CLIENT_ERROR value is not a decimal number\r\n');
  failing.failure = new TypeError('bug with secret');
  assert.is(await s.send('delete a\r\nstats\r\n'), 'SERVER_ERROR KV_ERR_INTERNAL\r\n'.repeat(2));
  assert.is(await s.send('version\r\n'), 'VERSION 1.6.21\r\n');
});

test.run();
