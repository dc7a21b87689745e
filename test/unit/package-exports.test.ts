import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';

const test = suite('package - public entry points');

test('every entry point named in package.json loads and exports its main API', async () => {
  const sdk = await import('pandakv');
  assert.type(sdk.connect, 'function');
  assert.type(sdk.KvError, 'function');
  const proxy = await import('pandakv/proxy');
  assert.type(proxy.Proxy, 'function');
  const cluster = await import('pandakv/cluster');
  assert.type(cluster.DataNode, 'function');
  assert.type(cluster.Manager, 'function');
  assert.type(cluster.plan, 'function');
  const shared = await import('pandakv/shared');
  assert.is(shared.bucketOf('user:42', 10), 880);
  assert.type(shared.encodeMap, 'function');
});

test.run();
