import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { parseManagerArgs } from '../../../bin/commands/manager.js';
import { managerOptions } from '../../../cluster/manager/options.js';
import { UsageError } from '../../../bin/cli-util.js';

const test = suite('cluster - manager switches');

test('switches map onto manager options', () => {
  const o = parseManagerArgs(['--cfg', 'etcd://127.0.0.1:2379', '--port', '0', '--redundancy', '3', '--buckets', '2^12',
    '--failover-after-ms', '800', '--no-auto-add', '--no-auto-restore', '--moves-per-node', '4', '--max-moves', '16', '--insecure']);
  assert.equal(o, {
    cfg: 'etcd://127.0.0.1:2379', port: 0, redundancy: 3, bits: 12, failoverAfterMs: 800, isAutoAdd: false,
    isAutoRestore: false, movesPerNode: 4, maxMoves: 16, isInsecure: true,
  });
});

test('defaults: copies are restored after a failover, nodes are placed on registration', () => {
  const o = managerOptions({});
  assert.ok(o.isAutoRestore);
  assert.ok(o.isAutoAdd);
  assert.is(o.heartbeatMs, 1000);
});

test('--move-timeout-ms sets how long a batch may take to catch up', () => {
  assert.is((parseManagerArgs(['--move-timeout-ms', '1500']) as { moveTimeoutMs?: number }).moveTimeoutMs, 1500);
});

test('--log-format picks text or json lines for cluster events; text is the default', () => {
  assert.is((parseManagerArgs(['--log-format', 'json']) as { logFormat?: string }).logFormat, 'json');
  assert.is((parseManagerArgs(['--log-format=text']) as { logFormat?: string }).logFormat, 'text');
  assert.is(managerOptions({}).logFormat, 'text');
  for (const bad of ['JSON', 'yaml', '', 'text\nevent=forged', 'x'.repeat(10_000)]) {
    assert.throws(() => parseManagerArgs(['--log-format', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n') && e.message.length < 120, JSON.stringify(bad.slice(0, 20)));
  }
  assert.throws(() => parseManagerArgs(['--log-format']), (e: Error) => e instanceof UsageError);
});

test('malformed values raise a UsageError', () => {
  for (const args of [['--port', '-1'], ['--redundancy', '9'], ['--redundancy', 'two'], ['--buckets', '3'], ['--buckets', '2^40'],
    ['--failover-after-ms', '10'], ['--cfg', 'http://x'], ['--moves-per-node', '0'], ['--move-timeout-ms', '50'], ['--move-timeout-ms', 'soon'], ['--no-auto-restore=1'], ['extra'], ['--bogus']]) {
    assert.throws(() => parseManagerArgs(args), (e: Error) => e instanceof UsageError, args.join(' '));
  }
});

test.run();
