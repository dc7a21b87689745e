import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  PASSWORD_LIMITS_MIN, PUBLIC_KEY_BYTES, SALT_BYTES, SECRET_KEY_BYTES, SIGNATURE_BYTES, derivePasswordKeyPair, equalBytes, fromHex,
  generateKeyPair, isConsistentSecretKey, isHex, keyPairFromSeed, keyedHash, newSalt, publicKeyOf, randomBytes, sign, toHex, verify,
} from '../../../../shared/auth/keys.js';
import { KvError } from '../../../../shared/errors.js';

const test = suite('shared - auth keys');

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7));
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as KvError).code;
  }
  return undefined;
}

const PAIR = generateKeyPair();

test('a generated key pair has the libsodium sizes and a consistent secret key', () => {
  assert.is(PAIR.publicKey.length, PUBLIC_KEY_BYTES);
  assert.is(PAIR.secretKey.length, SECRET_KEY_BYTES);
  assert.ok(isConsistentSecretKey(PAIR.secretKey));
  assert.ok(equalBytes(publicKeyOf(PAIR.secretKey), PAIR.publicKey));
  assert.not.ok(equalBytes(generateKeyPair().publicKey, PAIR.publicKey), 'two pairs differ');
});

test('a seed always gives the same key pair and a different seed another', () => {
  const seed = randomBytes(32);
  const a = keyPairFromSeed(seed);
  const b = keyPairFromSeed(Uint8Array.from(seed));
  assert.ok(equalBytes(a.secretKey, b.secretKey));
  assert.not.ok(equalBytes(keyPairFromSeed(flipBit(seed, 0)).publicKey, a.publicKey));
  assert.is(codeOf(() => keyPairFromSeed(randomBytes(31))), 'KV_ERR_INVALID_ARGUMENT');
});

test('a secret key whose public half does not match its seed is not consistent', () => {
  const broken = Uint8Array.from(PAIR.secretKey);
  broken[63] = (broken[63] as number) ^ 1;
  assert.not.ok(isConsistentSecretKey(broken));
  assert.not.ok(isConsistentSecretKey(PAIR.secretKey.subarray(0, 32)));
});

test('any message signed verifies with the signer\'s public key', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (message) => {
    const signature = sign(PAIR.secretKey, message);
    return signature.length === SIGNATURE_BYTES && verify(PAIR.publicKey, message, signature);
  }));
});

test('flipping any bit of the message, the signature or the public key fails verification', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.nat(), fc.constantFrom('message', 'signature', 'key'), (message, n, part) => {
    const signature = sign(PAIR.secretKey, message);
    if (part === 'message') return !verify(PAIR.publicKey, flipBit(message, n % (message.length * 8)), signature);
    if (part === 'signature') return !verify(PAIR.publicKey, message, flipBit(signature, n % (SIGNATURE_BYTES * 8)));
    return !verify(flipBit(PAIR.publicKey, n % (PUBLIC_KEY_BYTES * 8)), message, signature);
  }), { numRuns: 300 });
});

test('verify returns false, never throws, for wrong types and lengths', () => {
  const message = Uint8Array.of(1, 2, 3);
  const signature = sign(PAIR.secretKey, message);
  assert.not.ok(verify(PAIR.publicKey.subarray(0, 31), message, signature));
  assert.not.ok(verify(PAIR.publicKey, message, signature.subarray(0, 63)));
  assert.not.ok(verify(PAIR.publicKey, message, new Uint8Array(65)));
  assert.not.ok(verify(toHex(PAIR.publicKey), message, signature));
  assert.not.ok(verify(PAIR.publicKey, 'abc', signature));
  fc.assert(fc.property(fc.anything(), fc.anything(), fc.anything(), (k, m, s) => verify(k, m, s) === false));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 80 }), (k, s) => verify(k, message, s) === false));
});

test('signing with a secret key of the wrong length is an invalid argument', () => {
  assert.is(codeOf(() => sign(PAIR.secretKey.subarray(0, 32), Uint8Array.of(1))), 'KV_ERR_INVALID_ARGUMENT');
});

test('password derivation is deterministic for (password, salt) and differs across salts and passwords', () => {
  const salt = newSalt();
  assert.is(salt.length, SALT_BYTES);
  const a = derivePasswordKeyPair('correct horse', salt, PASSWORD_LIMITS_MIN);
  const b = derivePasswordKeyPair('correct horse', Uint8Array.from(salt), PASSWORD_LIMITS_MIN);
  assert.ok(equalBytes(a.secretKey, b.secretKey));
  assert.ok(isConsistentSecretKey(a.secretKey));
  assert.not.ok(equalBytes(derivePasswordKeyPair('correct horse', newSalt(), PASSWORD_LIMITS_MIN).publicKey, a.publicKey));
  assert.not.ok(equalBytes(derivePasswordKeyPair('correct horsf', salt, PASSWORD_LIMITS_MIN).publicKey, a.publicKey));
  assert.not.ok(equalBytes(derivePasswordKeyPair('correct horse', salt, { ...PASSWORD_LIMITS_MIN, opsLimit: 2 }).publicKey, a.publicKey), 'the cost is part of the derivation');
});

test('password derivation normalises to NFC, so composed and decomposed accents agree', () => {
  const salt = newSalt();
  const composed = derivePasswordKeyPair('caf\u00e9', salt, PASSWORD_LIMITS_MIN);
  const decomposed = derivePasswordKeyPair('cafe\u0301', salt, PASSWORD_LIMITS_MIN);
  assert.ok(equalBytes(composed.publicKey, decomposed.publicKey));
});

test('password derivation at the default (interactive) cost works', () => {
  const salt = fromHex('000102030405060708090a0b0c0d0e0f', SALT_BYTES);
  const pair = derivePasswordKeyPair('pw', salt);
  assert.ok(isConsistentSecretKey(pair.secretKey));
  assert.not.ok(equalBytes(pair.publicKey, derivePasswordKeyPair('pw', salt, PASSWORD_LIMITS_MIN).publicKey));
});

test('password derivation refuses bad input without echoing the password', () => {
  const secret = 'my-very-secret-password';
  for (const fn of [
    () => derivePasswordKeyPair('', newSalt(), PASSWORD_LIMITS_MIN),
    () => derivePasswordKeyPair(secret, randomBytes(15), PASSWORD_LIMITS_MIN),
    () => derivePasswordKeyPair(secret, newSalt(), { opsLimit: 0, memLimitBytes: PASSWORD_LIMITS_MIN.memLimitBytes }),
    () => derivePasswordKeyPair(secret, newSalt(), { opsLimit: 1, memLimitBytes: 1024 }),
  ]) {
    try {
      fn();
      assert.unreachable('should throw');
    } catch (err) {
      assert.is((err as KvError).code, 'KV_ERR_INVALID_ARGUMENT');
      assert.not.ok((err as Error).message.includes(secret));
    }
  }
});

test('hex helpers round-trip and refuse what is not hex of the asked length', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => equalBytes(fromHex(toHex(bytes)), bytes) && isHex(toHex(bytes), bytes.length)));
  assert.ok(isHex('ABcd', 2));
  assert.not.ok(isHex('abc'));
  assert.not.ok(isHex('zz'));
  assert.not.ok(isHex('abcd', 1));
  assert.not.ok(isHex(42));
  assert.is(codeOf(() => fromHex('0g')), 'KV_ERR_INVALID_ARGUMENT');
  assert.is(codeOf(() => fromHex('00', 2)), 'KV_ERR_INVALID_ARGUMENT');
});

test('keyed hashes depend on the key and the message and have the asked length', () => {
  const k1 = randomBytes(32);
  const h = keyedHash(k1, Uint8Array.of(1), 16);
  assert.is(h.length, 16);
  assert.ok(equalBytes(h, keyedHash(k1, Uint8Array.of(1), 16)));
  assert.not.ok(equalBytes(h, keyedHash(randomBytes(32), Uint8Array.of(1), 16)));
  assert.not.ok(equalBytes(h, keyedHash(k1, Uint8Array.of(2), 16)));
  assert.is(codeOf(() => keyedHash(randomBytes(8), Uint8Array.of(1), 16)), 'KV_ERR_INVALID_ARGUMENT');
});

test('randomBytes gives the asked number of bytes and refuses a negative count', () => {
  assert.is(randomBytes(0).length, 0);
  assert.is(randomBytes(33).length, 33);
  assert.is(codeOf(() => randomBytes(-1)), 'KV_ERR_INVALID_ARGUMENT');
});

test.run();
