import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { IpAllowList } from '../../../cluster/node/ip-allow-list.js';

const test = suite('cluster - ip allow-list');

test('an empty list allows everyone', () => {
  assert.ok(new IpAllowList([]).allows('203.0.113.9'));
});

test('IPv4 CIDRs match their addresses only', () => {
  const list = new IpAllowList(['10.0.0.0/8', '192.168.1.7']);
  assert.ok(list.allows('10.1.2.3'));
  assert.ok(list.allows('192.168.1.7'));
  assert.not.ok(list.allows('192.168.1.8'));
  assert.not.ok(list.allows('127.0.0.1'));
});

test('IPv4-mapped IPv6 addresses match IPv4 ranges', () => {
  const list = new IpAllowList(['127.0.0.0/8']);
  assert.ok(list.allows('::ffff:127.0.0.1'));
  assert.not.ok(list.allows('::ffff:10.0.0.1'));
});

test('IPv6 CIDRs match IPv6 addresses', () => {
  const list = new IpAllowList(['fd00::/8', '::1/128']);
  assert.ok(list.allows('fd12:3456::1'));
  assert.ok(list.allows('::1'));
  assert.not.ok(list.allows('fe80::1'));
});

test('garbage and missing addresses are refused', () => {
  const list = new IpAllowList(['0.0.0.0/0']);
  assert.not.ok(list.allows(undefined));
  assert.not.ok(list.allows('not-an-ip'));
});

test('invalid CIDRs are rejected with a RangeError naming the entry', () => {
  for (const bad of ['10.0.0.0/33', 'abc', '1.2.3.4/-1', '::/129', '']) {
    assert.throws(() => new IpAllowList([bad]), (e: Error) => e instanceof RangeError && e.message.includes(`"${bad}"`));
  }
});

test.run();
