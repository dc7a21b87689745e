import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { clientTranscript as sharedClient, serverTranscript as sharedServer } from '../../../../shared/auth/transcript.js';
import { derivePasswordKeyPair, generateKeyPair, publicKeyOf, randomBytes, newSalt } from '../../../../shared/auth/index.js';
import { clientTranscript, fromHex, passwordSeed, publicKeyOfSeed, serverTranscript, toHex } from '../../../../cluster/manager/ui/login.js';

const test = suite('dashboard - the page\'s login (portable code against shared/auth)');

test('the transcripts are byte for byte those of shared/auth', () => {
  for (const serverId of ['m', 'manager-0123456789abcdef', 'ünïcode-id', 'x'.repeat(1024)]) {
    const nonce = randomBytes(32);
    const clientNonce = randomBytes(32);
    assert.equal(Buffer.from(clientTranscript(nonce, serverId, clientNonce)), Buffer.from(sharedClient(nonce, serverId, clientNonce)));
    assert.equal(Buffer.from(serverTranscript(clientNonce, nonce)), Buffer.from(sharedServer(clientNonce, nonce)));
  }
});

test('a password gives the key pair libsodium derives (Argon2id, the default cost)', async () => {
  const salt = newSalt();
  for (const password of ['correct horse', 'Ångström\u0301', '密码']) {
    const seed = await passwordSeed(password, salt);
    assert.is(toHex(publicKeyOfSeed(seed)), toHex(derivePasswordKeyPair(password, salt).publicKey), password);
  }
});

test('a key credentials file\'s secret key gives its public key', () => {
  const kp = generateKeyPair();
  assert.is(toHex(publicKeyOfSeed(kp.secretKey.slice(0, 32))), toHex(publicKeyOf(kp.secretKey)));
});

test('hex helpers round-trip and refuse non-hex', () => {
  const b = randomBytes(40);
  assert.equal(Buffer.from(fromHex(toHex(b))), Buffer.from(b));
  assert.throws(() => fromHex('abc'));
  assert.throws(() => fromHex('zz'));
});

test.run();
