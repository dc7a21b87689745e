import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseNodeArgs, nodeWarnings } from '../../../cluster/node/cli.js';
import { UsageError } from '../../../bin/cli-util.js';

const test = suite('cluster - node switches');

test('seed switches map onto node options', () => {
  const o = parseNodeArgs(['--memory-size', '64', '--incoming-ip', '10.0.0.0/8', '--incoming-ip', '::1/128,127.0.0.1', '--port', '0', '--ip', '::1', '--buckets', '2^20', '--ringnode', 'ws://127.0.0.1:9', '--redundancy', '2', '--data-dir', '/tmp/x', '--zone', 'a', '--no-evict']);
  assert.equal(o, {
    memorySizeMb: 64, incomingIp: ['10.0.0.0/8', '::1/128', '127.0.0.1'], port: 0, ip: '::1', buckets: 2 ** 20,
    ringnode: 'ws://127.0.0.1:9', redundancy: 2, dataDir: '/tmp/x', zone: 'a', isEvictionEnabled: false,
  });
});

test('no switches give no overrides, and --help is recognised', () => {
  assert.equal(parseNodeArgs([]), {});
  assert.is(parseNodeArgs(['--help']), 'help');
});

test('malformed values raise a UsageError', () => {
  for (const args of [['--port', 'x'], ['--port', '65536'], ['--memory-size', '0'], ['--redundancy', '1.5'], ['--buckets', 'many'], ['--bogus'], ['--port']]) {
    assert.throws(() => parseNodeArgs(args), (e: Error) => e instanceof UsageError, args.join(' '));
  }
});

test('switches that do nothing in a combination are named at start', () => {
  assert.equal(nodeWarnings({}), []);
  assert.equal(nodeWarnings({ redundancy: 1, manager: 'http://127.0.0.1:1' }), []);
  assert.match(nodeWarnings({ redundancy: 2, manager: 'http://127.0.0.1:1' })[0]!, /ignored: the manager's redundancy applies/);
  assert.match(nodeWarnings({ redundancy: 2 })[0]!, /no effect: without a manager/);
  assert.match(nodeWarnings({ ringnode: 'ws://127.0.0.1:9' })[0]!, /--ringnode has no effect/);
});

test.run();
