import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { parseSaslPlain } from '../../../../proxy/memcached/sasl.js';

const test = suite('proxy memcached - SASL PLAIN messages');

const msg = (s: string): Buffer => Buffer.from(s, 'utf8');

test('authcid and password, with an empty or equal authzid', () => {
  assert.equal(parseSaslPlain(msg('\0alice\0s3cret')), { user: 'alice', password: 's3cret' });
  assert.equal(parseSaslPlain(msg('alice\0alice\0pass with spaces')), { user: 'alice', password: 'pass with spaces' });
  assert.equal(parseSaslPlain(msg('\0ålice\0pässword')), { user: 'ålice', password: 'pässword' });
});

test('malformed, empty parts, control characters and acting as another identity are refused', () => {
  for (const bad of [
    '', 'alice', '\0alice', '\0alice\0', '\0\0pw', 'bob\0alice\0pw', '\0alice\0pw\0extra', '\0al ice\0pw', '\0al\x01ice\0pw', '\0alice\0pw\r\nmore',
  ]) {
    assert.is(parseSaslPlain(msg(bad)), null, JSON.stringify(bad));
  }
});

test('hostile: random bytes never throw', () => {
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.alloc(i % 64);
    for (let j = 0; j < b.length; j++) b[j] = (i * 31 + j * 17) % 256;
    parseSaslPlain(b);
  }
});

test.run();
