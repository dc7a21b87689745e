import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { UsageError, connLimitArgs, managerUrlArg } from '../../../bin/cli-util.js';

const test = suite('bin - shared switches');

test('manager URLs: one or a comma list of http(s) or ws(s) URLs with a host', () => {
  assert.is(managerUrlArg('http://127.0.0.1:7070', 'manager'), 'http://127.0.0.1:7070');
  assert.is(managerUrlArg('ws://a:1, wss://b:2 ', 'map'), 'ws://a:1,wss://b:2');
  for (const bad of ['', 'nope', 'ftp://x:1', 'http://[oops', 'http://a:1,,http://b:2', 'file:///tmp/x', 'http://a:99999']) {
    assert.throws(() => managerUrlArg(bad, 'manager'), (e: unknown) => e instanceof UsageError && e.message.startsWith('--manager: '), JSON.stringify(bad));
  }
});

test('connection-limit switches: whole numbers, 0 turning a timeout off, caps at least 1', () => {
  assert.equal(connLimitArgs({}), {});
  assert.equal(connLimitArgs({ 'pre-auth-timeout-ms': '0', 'idle-timeout-ms': '60000', 'read-timeout-ms': '500', 'max-connections': '10', 'max-connections-per-address': '2' }), {
    preAuthTimeoutMs: 0, idleTimeoutMs: 60_000, readTimeoutMs: 500, maxConnections: 10, maxConnectionsPerAddress: 2,
  });
  for (const [name, value] of [['idle-timeout-ms', '-1'], ['read-timeout-ms', '1.5'], ['max-connections', '0'], ['max-connections-per-address', 'x']]) {
    assert.throws(() => connLimitArgs({ [name!]: value }), (e: unknown) => e instanceof UsageError && e.message.includes(`--${name}`), `${name} ${value}`);
  }
});

test.run();
