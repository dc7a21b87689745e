import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { parseNodeArgs, nodeWarnings } from '../../../bin/commands/node.js';
import { UsageError } from '../../../bin/cli-util.js';
import { validateNodeOptions } from '../../../cluster/node/data-node.js';
import { NODE_DEFAULTS } from '../../../cluster/node/options.js';
import { ringRole } from '../../../cluster/node/ring.js';
import { MIN_PEER_IDLE_TIMEOUT_MS, PEER_PLANE_DEFAULTS, peerTimeouts } from '../../../cluster/peer/index.js';

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

test('--log-format picks text or json event lines; anything else is a one-line UsageError', () => {
  assert.equal(parseNodeArgs(['--log-format', 'json']), { logFormat: 'json' });
  assert.is(NODE_DEFAULTS.logFormat, 'text');
  for (const bad of ['Json', 'logfmt', '', '\u0000', 'x'.repeat(5000)]) {
    assert.throws(() => parseNodeArgs(['--log-format', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n') && e.message.length < 120);
  }
});

test('--sched picks batch or normal; anything else is a UsageError', () => {
  assert.equal(parseNodeArgs(['--sched', 'normal']), { sched: 'normal' });
  assert.equal(parseNodeArgs(['--sched', 'batch']), { sched: 'batch' });
  for (const bad of ['fifo', 'BATCH', '', 'x'.repeat(300)]) {
    assert.throws(() => parseNodeArgs(['--sched', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n'));
  }
});

test('malformed values raise a UsageError', () => {
  for (const args of [['--port', 'x'], ['--port', '65536'], ['--memory-size', '0'], ['--redundancy', '1.5'], ['--buckets', 'many'], ['--bogus'], ['--port']]) {
    assert.throws(() => parseNodeArgs(args), (e: Error) => e instanceof UsageError, args.join(' '));
  }
});

test('--expiry-sweep-ms sets the disk engine\'s reclaim pass interval; malformed values are a UsageError', () => {
  assert.equal(parseNodeArgs(['--expiry-sweep-ms', '250']), { expirySweepIntervalMs: 250 });
  assert.equal(parseNodeArgs(['--expiry-sweep-ms', '0']), { expirySweepIntervalMs: 0 });
  assert.is(NODE_DEFAULTS.expirySweepIntervalMs, 60_000);
  for (const bad of ['-1', '1.5', 'soon', '', '86400001', '1e400', 'x'.repeat(5000)]) {
    assert.throws(() => parseNodeArgs(['--expiry-sweep-ms', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n'), bad.slice(0, 20));
  }
  assert.throws(() => validateNodeOptions({ ...NODE_DEFAULTS, expirySweepIntervalMs: -5 }), /expiry-sweep-ms/);
});

test('--backfill-rate caps what a node copies in, in KiB/s; malformed values are a UsageError', () => {
  assert.equal(parseNodeArgs(['--backfill-rate', '64']), { backfillBytesPerSec: 65_536 });
  assert.equal(parseNodeArgs(['--backfill-rate', '0']), { backfillBytesPerSec: 0 });
  assert.equal(parseNodeArgs(['--backfill-rate', '0.5']), { backfillBytesPerSec: 512 });
  assert.is(NODE_DEFAULTS.backfillBytesPerSec, 0);
  for (const bad of ['-1', 'fast', '', '1e400', '2e9', 'x'.repeat(5000)]) {
    assert.throws(() => parseNodeArgs(['--backfill-rate', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n'), bad.slice(0, 20));
  }
  assert.throws(() => validateNodeOptions({ ...NODE_DEFAULTS, backfillBytesPerSec: -1 }), /backfill-rate/);
});

test('--peer-idle-timeout-ms sets how long a silent peer link lives, and the keep-alive that goes with it', () => {
  assert.equal(parseNodeArgs(['--peer-idle-timeout-ms', '4000']), { peerIdleTimeoutMs: 4000 });
  assert.is(NODE_DEFAULTS.peerIdleTimeoutMs, 20_000);
  for (const bad of ['999', '0', '-5', '1.5', 'soon', '', '3600001', '1e400']) {
    assert.throws(() => parseNodeArgs(['--peer-idle-timeout-ms', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n'), bad);
  }
  assert.throws(() => validateNodeOptions({ ...NODE_DEFAULTS, peerIdleTimeoutMs: 500 }), /peer-idle-timeout-ms/);
  // The default keeps the peer plane's own timings; a shorter timeout sends keep-alives four times within it.
  assert.equal(peerTimeouts(NODE_DEFAULTS.peerIdleTimeoutMs), { idleTimeoutMs: PEER_PLANE_DEFAULTS.idleTimeoutMs, keepAliveMs: PEER_PLANE_DEFAULTS.keepAliveMs });
  assert.equal(peerTimeouts(4000), { idleTimeoutMs: 4000, keepAliveMs: 1000 });
  assert.equal(peerTimeouts(120_000), { idleTimeoutMs: 120_000, keepAliveMs: 5000 });
  assert.is(peerTimeouts(MIN_PEER_IDLE_TIMEOUT_MS).keepAliveMs, 250);
});

test('--recovery-window-ms sets how long a returning node keeps units not given back; malformed values are a UsageError', () => {
  assert.equal(parseNodeArgs(['--recovery-window-ms', '5000']), { recoveryCleanupMs: 5000 });
  assert.equal(parseNodeArgs(['--recovery-window-ms', '0']), { recoveryCleanupMs: 0 });
  assert.is(NODE_DEFAULTS.recoveryCleanupMs, 60_000);
  for (const bad of ['-1', '1.5', 'soon', '', '86400001', '1e400', 'x'.repeat(5000)]) {
    assert.throws(() => parseNodeArgs(['--recovery-window-ms', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n'), bad.slice(0, 20));
  }
  assert.throws(() => validateNodeOptions({ ...NODE_DEFAULTS, recoveryCleanupMs: -1 }), /recovery-window-ms/);
});

test('switches that do nothing in a combination are named at start', () => {
  assert.equal(nodeWarnings({}), []);
  assert.equal(nodeWarnings({ redundancy: 1, manager: 'http://127.0.0.1:1' }), []);
  assert.match(nodeWarnings({ redundancy: 2, manager: 'http://127.0.0.1:1' })[0]!, /ignored: the manager's redundancy applies/);
  // Without a manager, --redundancy seeds a ring: it does something, so no warning.
  assert.equal(nodeWarnings({ redundancy: 2 }), []);
  assert.equal(nodeWarnings({ ringnode: 'ws://127.0.0.1:9/map' }), []);
  assert.match(nodeWarnings({ redundancy: 3, ringnode: 'ws://127.0.0.1:9/map' })[0]!, /ignored: the ring's redundancy/);
});

test('ring switches: --ringnode is a map URL; a ring needs --dht, a seed --data-dir; --ringnode and --manager exclude each other', () => {
  for (const bad of ['127.0.0.1:9', 'ftp://x', '']) {
    assert.throws(() => parseNodeArgs(['--ringnode', bad]), (e: Error) => e instanceof UsageError, bad);
  }
  const base = { ...NODE_DEFAULTS, isInsecure: true };
  const dht = ['127.0.0.1:1'];
  assert.throws(() => validateNodeOptions({ ...base, redundancy: 2, dataDir: '/tmp/x' }), /needs --dht/);
  assert.throws(() => validateNodeOptions({ ...base, redundancy: 2, dht }), /needs --data-dir/);
  assert.throws(() => validateNodeOptions({ ...base, ringnode: 'ws://127.0.0.1:9/map' }), /needs --dht/);
  assert.throws(() => validateNodeOptions({ ...base, ringnode: 'ws://127.0.0.1:9/map', manager: 'ws://127.0.0.1:9/map', dht }), /exclude each other/);
  assert.throws(() => validateNodeOptions({ ...NODE_DEFAULTS, redundancy: 2, dht, dataDir: '/tmp/x' }), /needs --credentials/);
  validateNodeOptions({ ...base, redundancy: 2, dht, dataDir: '/tmp/x' });
  validateNodeOptions({ ...base, ringnode: 'ws://127.0.0.1:9/map', dht });
  assert.is(ringRole({ manager: null, ringnode: null, redundancy: 2 }), 'seed');
  assert.is(ringRole({ manager: null, ringnode: 'ws://x/map', redundancy: 2 }), 'member');
  assert.is(ringRole({ manager: 'ws://x/map', ringnode: null, redundancy: 2 }), null);
  assert.is(ringRole({ manager: null, ringnode: null, redundancy: 1 }), null);
});

test.run();
