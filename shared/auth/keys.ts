import sodium from 'sodium-native';
import { ErrorCode, KvError } from '../errors.js';

/**
 * Ed25519 identities and the byte helpers around them (DESIGN §9). Every function here
 * is synchronous and pure apart from drawing randomness from libsodium's CSPRNG.
 */

/** Bytes in an Ed25519 public key. */
export const PUBLIC_KEY_BYTES = 32;
/** Bytes in an Ed25519 secret key as libsodium stores it (seed ‖ public key). */
export const SECRET_KEY_BYTES = 64;
/** Bytes in the seed a key pair is derived from. */
export const SEED_BYTES = 32;
/** Bytes in a detached Ed25519 signature. */
export const SIGNATURE_BYTES = 64;
/** Bytes in an Argon2id salt. */
export const SALT_BYTES: number = sodium.crypto_pwhash_SALTBYTES;

export interface KeyPair {
  /** 32 bytes. */
  publicKey: Uint8Array;
  /** 64 bytes: the seed followed by the public key. */
  secretKey: Uint8Array;
}

/** Argon2id cost parameters for password principals. */
export interface PasswordLimits {
  /**
   * Passes over memory (`crypto_pwhash` opslimit).
   * @default crypto_pwhash_OPSLIMIT_INTERACTIVE (2)
   */
  opsLimit: number;
  /**
   * Memory used, in bytes (`crypto_pwhash` memlimit).
   * @default crypto_pwhash_MEMLIMIT_INTERACTIVE (64 MiB)
   */
  memLimitBytes: number;
}

/** The default cost: libsodium's "interactive" level. */
export const PASSWORD_LIMITS_INTERACTIVE: Readonly<PasswordLimits> = Object.freeze({
  opsLimit: sodium.crypto_pwhash_OPSLIMIT_INTERACTIVE,
  memLimitBytes: sodium.crypto_pwhash_MEMLIMIT_INTERACTIVE,
});

/** The cheapest cost libsodium accepts. For tests only: it offers no real resistance. */
export const PASSWORD_LIMITS_MIN: Readonly<PasswordLimits> = Object.freeze({
  opsLimit: sodium.crypto_pwhash_OPSLIMIT_MIN,
  memLimitBytes: sodium.crypto_pwhash_MEMLIMIT_MIN,
});

// The typings take Buffers; a view over the same memory avoids a copy.
function buf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `n` bytes from libsodium's CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw KvError.invalidArgument('randomBytes: n must be a non-negative integer');
  const out = Buffer.alloc(n);
  if (n > 0) sodium.randombytes_buf(out);
  return out;
}

/** A fresh random key pair. */
export function generateKeyPair(): KeyPair {
  const publicKey = Buffer.alloc(PUBLIC_KEY_BYTES);
  const secretKey = Buffer.alloc(SECRET_KEY_BYTES);
  sodium.crypto_sign_keypair(publicKey, secretKey);
  return { publicKey, secretKey };
}

/** The key pair a 32-byte seed determines. @throws KvError INVALID_ARGUMENT on a wrong length */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
    throw KvError.invalidArgument(`a key seed must be ${SEED_BYTES} bytes`);
  }
  const publicKey = Buffer.alloc(PUBLIC_KEY_BYTES);
  const secretKey = Buffer.alloc(SECRET_KEY_BYTES);
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, buf(seed));
  return { publicKey, secretKey };
}

/**
 * True when `secretKey` is a well-formed secret key whose embedded public key is the one
 * its seed derives (a file edited by hand can break that).
 */
export function isConsistentSecretKey(secretKey: Uint8Array): boolean {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== SECRET_KEY_BYTES) return false;
  const pair = keyPairFromSeed(secretKey.subarray(0, SEED_BYTES));
  return equalBytes(pair.secretKey, secretKey);
}

/** The public key embedded in a secret key. @throws KvError INVALID_ARGUMENT on a wrong length */
export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== SECRET_KEY_BYTES) {
    throw KvError.invalidArgument(`a secret key must be ${SECRET_KEY_BYTES} bytes`);
  }
  return Buffer.from(secretKey.subarray(SEED_BYTES));
}

/** A detached signature of `message`. @throws KvError INVALID_ARGUMENT on a wrong key length */
export function sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== SECRET_KEY_BYTES) {
    throw KvError.invalidArgument(`a secret key must be ${SECRET_KEY_BYTES} bytes`);
  }
  if (!(message instanceof Uint8Array)) throw KvError.invalidArgument('the message to sign must be bytes');
  const signature = Buffer.alloc(SIGNATURE_BYTES);
  sodium.crypto_sign_detached(signature, buf(message), buf(secretKey));
  return signature;
}

/**
 * Whether `signature` is a valid signature of `message` by `publicKey`. Never throws:
 * anything of the wrong type or length is simply not a valid signature.
 */
export function verify(publicKey: unknown, message: unknown, signature: unknown): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) return false;
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) return false;
  if (!(message instanceof Uint8Array)) return false;
  return sodium.crypto_sign_verify_detached(buf(signature), buf(message), buf(publicKey));
}

/** A fresh random Argon2id salt. */
export function newSalt(): Uint8Array {
  return randomBytes(SALT_BYTES);
}

function checkLimits(limits: PasswordLimits): void {
  const { opsLimit, memLimitBytes } = limits;
  if (!Number.isSafeInteger(opsLimit) || opsLimit < sodium.crypto_pwhash_OPSLIMIT_MIN || opsLimit > sodium.crypto_pwhash_OPSLIMIT_MAX) {
    throw KvError.invalidArgument(`opsLimit must be an integer in ${sodium.crypto_pwhash_OPSLIMIT_MIN}..${sodium.crypto_pwhash_OPSLIMIT_MAX}`);
  }
  if (!Number.isSafeInteger(memLimitBytes) || memLimitBytes < sodium.crypto_pwhash_MEMLIMIT_MIN || memLimitBytes > sodium.crypto_pwhash_MEMLIMIT_MAX) {
    throw KvError.invalidArgument(`memLimitBytes must be an integer of at least ${sodium.crypto_pwhash_MEMLIMIT_MIN}`);
  }
}

/**
 * The key pair of a password principal: Argon2id (`crypto_pwhash`, ALG_ARGON2ID13) turns
 * the password (Unicode NFC, then UTF-8) and the principal's salt into a 32-byte seed,
 * and `crypto_sign_seed_keypair` turns the seed into the key pair. Deterministic for
 * (password, salt, limits). Blocks the thread for the whole derivation (about 0.1 s and
 * 64 MiB at the default cost).
 * @throws KvError INVALID_ARGUMENT for an empty password, a salt of the wrong length or
 *   limits outside libsodium's range; the message never contains the password
 */
export function derivePasswordKeyPair(password: string, salt: Uint8Array, limits: Partial<PasswordLimits> = {}): KeyPair {
  const job = pwhashJob(password, salt, limits);
  try {
    sodium.crypto_pwhash(job.seed, job.passwordBytes, buf(salt), job.limits.opsLimit, job.limits.memLimitBytes, sodium.crypto_pwhash_ALG_ARGON2ID13);
    return keyPairFromSeed(job.seed);
  } catch (err) {
    throw derivationFailed(err);
  } finally {
    job.wipe();
  }
}

/**
 * `derivePasswordKeyPair` on libuv's thread pool, so a server checking a password (the
 * proxy's memcached auth) keeps serving while Argon2id runs.
 * @throws KvError as `derivePasswordKeyPair`
 */
export async function derivePasswordKeyPairAsync(password: string, salt: Uint8Array, limits: Partial<PasswordLimits> = {}): Promise<KeyPair> {
  const job = pwhashJob(password, salt, limits);
  const pwhashAsync = (sodium as unknown as {
    crypto_pwhash_async: (out: Buffer, pw: Buffer, salt: Buffer, ops: number, mem: number, alg: number, cb: (err: Error | null) => void) => void;
  }).crypto_pwhash_async;
  try {
    await new Promise<void>((resolve, reject) => {
      pwhashAsync(job.seed, job.passwordBytes, buf(salt), job.limits.opsLimit, job.limits.memLimitBytes, sodium.crypto_pwhash_ALG_ARGON2ID13, (err) => (err ? reject(err) : resolve()));
    });
    return keyPairFromSeed(job.seed);
  } catch (err) {
    throw derivationFailed(err);
  } finally {
    job.wipe();
  }
}

/** Validated inputs and output buffer of one Argon2id derivation; `wipe()` clears the secrets. */
function pwhashJob(password: string, salt: Uint8Array, limits: Partial<PasswordLimits>): { limits: PasswordLimits; passwordBytes: Buffer; seed: Buffer; wipe: () => void } {
  if (typeof password !== 'string' || password.length === 0) throw KvError.invalidArgument('a password must be a non-empty string');
  if (!(salt instanceof Uint8Array) || salt.length !== SALT_BYTES) throw KvError.invalidArgument(`a password salt must be ${SALT_BYTES} bytes`);
  const full: PasswordLimits = {
    opsLimit: limits.opsLimit ?? PASSWORD_LIMITS_INTERACTIVE.opsLimit,
    memLimitBytes: limits.memLimitBytes ?? PASSWORD_LIMITS_INTERACTIVE.memLimitBytes,
  };
  checkLimits(full);
  const passwordBytes = Buffer.from(password.normalize('NFC'), 'utf8');
  const seed = Buffer.alloc(SEED_BYTES);
  return {
    limits: full, passwordBytes, seed,
    wipe: () => {
      sodium.sodium_memzero(seed);
      sodium.sodium_memzero(passwordBytes);
    },
  };
}

// libsodium fails here only when it cannot get the memory it was asked for.
function derivationFailed(err: unknown): KvError {
  return new KvError(ErrorCode.OUT_OF_MEMORY, 'password key derivation failed', {}, err);
}

/**
 * Keyed BLAKE2b (`crypto_generichash`) of `message`, `outBytes` long (16..64).
 * `key` is 16..64 bytes.
 */
export function keyedHash(key: Uint8Array, message: Uint8Array, outBytes: number): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length < sodium.crypto_generichash_KEYBYTES_MIN || key.length > sodium.crypto_generichash_KEYBYTES_MAX) {
    throw KvError.invalidArgument(`a hash key must be ${sodium.crypto_generichash_KEYBYTES_MIN}..${sodium.crypto_generichash_KEYBYTES_MAX} bytes`);
  }
  if (!Number.isInteger(outBytes) || outBytes < sodium.crypto_generichash_BYTES_MIN || outBytes > sodium.crypto_generichash_BYTES_MAX) {
    throw KvError.invalidArgument(`a hash output must be ${sodium.crypto_generichash_BYTES_MIN}..${sodium.crypto_generichash_BYTES_MAX} bytes`);
  }
  const out = Buffer.alloc(outBytes);
  sodium.crypto_generichash(out, buf(message), buf(key));
  return out;
}

/** Constant-time equality of two byte strings (lengths are not secret). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if (a.length === 0) return true;
  return sodium.sodium_memcmp(buf(a), buf(b));
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return buf(bytes).toString('hex');
}

/** True when `value` is a hex string (either case), of exactly `bytes` bytes when given. */
export function isHex(value: unknown, bytes?: number): value is string {
  if (typeof value !== 'string') return false;
  if (bytes !== undefined && value.length !== bytes * 2) return false;
  return HEX_RE.test(value);
}

/**
 * The bytes a hex string spells, of exactly `bytes` bytes when given.
 * @throws KvError INVALID_ARGUMENT for anything else (the message never echoes the input)
 */
export function fromHex(hex: string, bytes?: number): Uint8Array {
  if (!isHex(hex, bytes)) {
    throw KvError.invalidArgument(bytes === undefined ? 'not a hex string' : `not a hex string of ${bytes} bytes`);
  }
  return Buffer.from(hex, 'hex');
}
