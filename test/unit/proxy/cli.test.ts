import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { UsageError } from '../../../bin/cli-util.js';
import { parseProxyArgs } from '../../../bin/commands/proxy.js';
import { PROXY_DEFAULTS } from '../../../proxy/options.js';

const test = suite('proxy - command line');

const MAP = ['--map', 'ws://127.0.0.1:1', '--insecure'];

test('--idle-poll-us takes a whole number of microseconds, 0 turning it off', () => {
  const on = parseProxyArgs([...MAP, '--idle-poll-us', '500']);
  assert.is(on !== 'help' && on.idlePollUs, 500);
  const off = parseProxyArgs([...MAP, '--idle-poll-us', '0']);
  assert.is(off !== 'help' && off.idlePollUs, 0);
  const unset = parseProxyArgs(MAP);
  assert.is(unset !== 'help' && unset.idlePollUs, undefined);
});

test('--log-format picks text or json event lines; anything else is a one-line usage error', () => {
  const json = parseProxyArgs([...MAP, '--log-format', 'json']);
  assert.is(json !== 'help' && json.logFormat, 'json');
  for (const bad of ['TEXT', 'xml', '', 'json ', 'a\nb']) {
    assert.throws(() => parseProxyArgs([...MAP, '--log-format', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n'));
  }
});

test('--sched picks batch or normal (the default stays unset here); anything else is a one-line usage error', () => {
  for (const policy of ['batch', 'normal'] as const) {
    const o = parseProxyArgs([...MAP, '--sched', policy]);
    assert.is(o !== 'help' && o.sched, policy);
  }
  const unset = parseProxyArgs(MAP);
  assert.is(unset !== 'help' && unset.sched, undefined);
  for (const bad of ['BATCH', 'fifo', '', 'batch ', 'batch\nnormal', 'x'.repeat(5000)]) {
    assert.throws(() => parseProxyArgs([...MAP, '--sched', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n') && e.message.length < 120, `refuses ${JSON.stringify(bad.slice(0, 20))}`);
  }
});

test('--upstream-layout picks packed or cbor; anything else is a one-line usage error', () => {
  for (const layout of ['packed', 'cbor'] as const) {
    const o = parseProxyArgs([...MAP, '--upstream-layout', layout]);
    assert.is(o !== 'help' && o.upstreamLayout, layout);
  }
  const unset = parseProxyArgs(MAP);
  assert.is(unset !== 'help' && unset.upstreamLayout, undefined, 'the default comes from PROXY_DEFAULTS');
  for (const bad of ['PACKED', 'json', '', 'cbor ', 'packed\ncbor']) {
    assert.throws(() => parseProxyArgs([...MAP, '--upstream-layout', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n'), `refuses "${bad}"`);
  }
});

test('--idle-poll-spare takes the idle cores polling needs, 0 polling whatever the load; the default comes from PROXY_DEFAULTS', () => {
  for (const n of [0, 0.25, 1, 64]) {
    const o = parseProxyArgs([...MAP, '--idle-poll-spare', String(n)]);
    assert.is(o !== 'help' && o.idlePollSpareCores, n);
  }
  const unset = parseProxyArgs(MAP);
  assert.is(unset !== 'help' && unset.idlePollSpareCores, undefined);
  assert.is(PROXY_DEFAULTS.idlePollSpareCores, 0.5);
  assert.is(PROXY_DEFAULTS.idlePollUs, 200);
  for (const bad of ['-0.5', 'abc', '', '1025', 'NaN', 'Infinity', '1e400']) {
    assert.throws(() => parseProxyArgs([...MAP, '--idle-poll-spare', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n'), `refuses "${bad}"`);
  }
});

test('--idle-poll-pressure takes a share in (0, 1]; the default comes from PROXY_DEFAULTS', () => {
  for (const n of [0.05, 0.25, 1]) {
    const o = parseProxyArgs([...MAP, '--idle-poll-pressure', String(n)]);
    assert.is(o !== 'help' && o.idlePollMaxPressure, n);
  }
  assert.is(PROXY_DEFAULTS.idlePollMaxPressure, 0.3);
  for (const bad of ['0', '-0.1', '1.01', 'abc', '', 'NaN']) {
    assert.throws(() => parseProxyArgs([...MAP, '--idle-poll-pressure', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n'), `refuses "${bad}"`);
  }
});

test('a malformed --idle-poll-us is a usage error', () => {
  for (const bad of ['-1', '1.5', 'abc', '', '2000000', '1e400']) {
    assert.throws(() => parseProxyArgs([...MAP, '--idle-poll-us', bad]), (e: unknown) => e instanceof UsageError, `refuses "${bad}"`);
  }
});

test('--send-window takes 0 (no limit) to 1024 messages; the default comes from PROXY_DEFAULTS', () => {
  for (const n of [0, 1, 4, 1024]) {
    const o = parseProxyArgs([...MAP, '--send-window', String(n)]);
    assert.is(o !== 'help' && o.sendWindow, n);
  }
  const unset = parseProxyArgs(MAP);
  assert.is(unset !== 'help' && unset.sendWindow, undefined);
  for (const bad of ['-1', '1.5', 'abc', '', '1025', '1e400']) {
    assert.throws(() => parseProxyArgs([...MAP, '--send-window', bad]), (e: Error) => e instanceof UsageError && !e.message.includes('\n'), `refuses "${bad}"`);
  }
});

test('the required switches are required', () => {
  assert.throws(() => parseProxyArgs(['--insecure']), (e: unknown) => e instanceof UsageError);
  assert.throws(() => parseProxyArgs(['--map', 'ws://127.0.0.1:1']), (e: unknown) => e instanceof UsageError);
  assert.throws(() => parseProxyArgs(['--map', 'not a url', '--insecure']), (e: unknown) => e instanceof UsageError);
  assert.is(parseProxyArgs(['--help']), 'help');
});

test.run();
