import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { isAllowed, parseCredentials, requiredRoles } from '../../../../proxy/memcached/auth.js';
import type { McCommand } from '../../../../proxy/memcached/commands.js';
import type { McRole } from '../../../../proxy/memcached/backend.js';
import { McParser } from '../../../../proxy/memcached/parser.js';

const test = suite('proxy memcached - auth');

function command(text: string): McCommand {
  const p = new McParser();
  p.push(Buffer.from(text, 'latin1'));
  const r = p.next();
  if (r === null || r.kind === 'error') throw new Error(`not a command: ${text}`);
  return r;
}

test('credentials are the first word and the rest of the block', () => {
  assert.equal(parseCredentials(Buffer.from('alice secret')), { user: 'alice', password: 'secret' });
  assert.equal(parseCredentials(Buffer.from('alice pass with spaces ')), { user: 'alice', password: 'pass with spaces ' });
  assert.equal(parseCredentials(Buffer.from('ålice pässword')), { user: 'ålice', password: 'pässword' });
  for (const bad of ['', 'alice', 'alice ', ' secret', 'al\x01ice pw', 'alice pw\r\nmore']) {
    assert.is(parseCredentials(Buffer.from(bad)), null, JSON.stringify(bad));
  }
});

test('listing keys needs scan; flush_all needs admin', () => {
  assert.equal([...requiredRoles(command('stats cachedump 1 0\r\n'))], ['scan']);
  assert.equal([...requiredRoles(command('flush_all\r\n'))], ['admin']);
  assert.not.ok(isAllowed({ name: 'x', roles: new Set(['read', 'write']) }, command('stats cachedump 1 0\r\n')));
  assert.not.ok(isAllowed({ name: 'x', roles: new Set(['read', 'write', 'scan']) }, command('flush_all\r\n')));
});

test('each command needs the roles for what it does to data', () => {
  const table: Array<[string, McRole[]]> = [
    ['get a\r\n', ['read']], ['gets a\r\n', ['read']], ['gat 1 a\r\n', ['read', 'write']], ['gats 1 a\r\n', ['read', 'write']],
    ['set a 0 0 1\r\nx\r\n', ['write']], ['cas a 0 0 1 1\r\nx\r\n', ['write']], ['append a 0 0 1\r\nx\r\n', ['write']],
    ['delete a\r\n', ['write']], ['touch a 1\r\n', ['write']], ['incr a 1\r\n', ['read', 'write']],
    ['mg a v\r\n', ['read']], ['mg a T1\r\n', ['read', 'write']], ['mg a N1\r\n', ['read', 'write']],
    ['ms a 1\r\nx\r\n', ['write']], ['md a\r\n', ['write']], ['ma a\r\n', ['read', 'write']],
    ['version\r\n', []], ['stats\r\n', []], ['mn\r\n', []], ['verbosity 1\r\n', []], ['quit\r\n', []],
  ];
  for (const [text, roles] of table) {
    assert.equal([...requiredRoles(command(text))], roles, text);
    assert.ok(isAllowed({ name: 'x', roles: new Set(roles) }, command(text)), `${text} with exactly its roles`);
    if (roles.length > 0) assert.not.ok(isAllowed({ name: 'x', roles: new Set(['scan', 'admin']) }, command(text)), `${text} without them`);
  }
});

test.run();
