import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { openCfg, parseCfgUrl } from '../../../../cluster/manager/cfg/open-cfg.js';
import { prefixRange } from '../../../../cluster/manager/cfg/etcd-util.js';
import { ErrorCode } from '../../../../shared/errors.js';
import { rejection } from '../../../helpers/deadline.js';

const test = suite('cluster - cfg store URLs and key ranges');

test('file and etcd URLs parse into a path or a host list', () => {
  assert.equal(parseCfgUrl('file:./data/cfg.json'), { kind: 'file', path: './data/cfg.json' });
  assert.equal(parseCfgUrl('file:/var/lib/pandakv/cfg.json'), { kind: 'file', path: '/var/lib/pandakv/cfg.json' });
  assert.equal(parseCfgUrl('file:///var/lib/cfg.json'), { kind: 'file', path: '/var/lib/cfg.json' });
  assert.equal(parseCfgUrl('etcd://127.0.0.1:2379'), { kind: 'etcd', hosts: ['127.0.0.1:2379'] });
  assert.equal(parseCfgUrl('etcd://127.0.0.1:2379,127.0.0.1:22379/'), { kind: 'etcd', hosts: ['127.0.0.1:2379', '127.0.0.1:22379'] });
  assert.equal(parseCfgUrl('etcd://[::1]:2379'), { kind: 'etcd', hosts: ['[::1]:2379'] });
});

const bad = [
  'redis://127.0.0.1:6379', 'cfg.json', '', 'file:', 'etcd://', 'etcd://127.0.0.1',
  'etcd://127.0.0.1:0', 'etcd://127.0.0.1:70000', 'etcd://127.0.0.1:2379,', 'etcd://user@127.0.0.1:2379',
];

for (const url of bad) {
  test(`the URL ${JSON.stringify(url)} is refused with INVALID_ARGUMENT`, async () => {
    assert.throws(() => parseCfgUrl(url), (err: Error & { code?: string }) => err.code === ErrorCode.INVALID_ARGUMENT);
    assert.is((await rejection(openCfg(url))).code, ErrorCode.INVALID_ARGUMENT);
  });
}

test('a prefix becomes the etcd range of every key that starts with it', () => {
  const r = (p: string): [number[], number[]] => {
    const { key, rangeEnd } = prefixRange(p);
    return [[...key], [...rangeEnd]];
  };
  assert.equal(r('ab'), [[0x61, 0x62], [0x61, 0x63]]);
  assert.equal(r(''), [[0], [0]], 'the empty prefix is the whole keyspace');
  assert.equal(r('a\u00ff'), [[0x61, 0xc3, 0xbf], [0x61, 0xc3, 0xc0]]);
});

test.run();
