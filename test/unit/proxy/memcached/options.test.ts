import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { MEMCACHED_DEFAULTS, resolveOptions } from '../../../../proxy/memcached/options.js';

const test = suite('proxy memcached - options');

test('defaults match memcached\'s limits and are frozen', () => {
  assert.is(MEMCACHED_DEFAULTS.maxLineBytes, 2048);
  assert.is(MEMCACHED_DEFAULTS.maxKeyBytes, 250);
  assert.is(MEMCACHED_DEFAULTS.maxValueBytes, 1024 * 1024);
  assert.ok(Object.isFrozen(MEMCACHED_DEFAULTS));
  assert.equal(resolveOptions(), MEMCACHED_DEFAULTS);
  assert.ok(Object.isFrozen(resolveOptions({ port: 0 })));
});

test('given options override defaults; undefined ones do not', () => {
  const o = resolveOptions({ port: 0, maxValueBytes: 10, isAuthRequired: true, version: undefined });
  assert.is(o.port, 0);
  assert.is(o.maxValueBytes, 10);
  assert.is(o.isAuthRequired, true);
  assert.is(o.version, MEMCACHED_DEFAULTS.version);
});

test('limits that cannot work are refused', () => {
  for (const bad of [
    { maxLineBytes: 0 }, { maxLineBytes: 10 }, { maxValueBytes: -1 }, { maxPipelinedCommands: 1.5 },
    { maxRetrievalLineBytes: 100 }, { port: -1 }, { maxSwallowBytes: NaN }, { version: 'a\r\nb' },
  ]) {
    assert.throws(() => resolveOptions(bad), RangeError, JSON.stringify(bad));
  }
});

test.run();
