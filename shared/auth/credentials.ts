import { ErrorCode, KvError } from '../errors.js';
import { PUBLIC_KEY_BYTES, SECRET_KEY_BYTES, equalBytes, fromHex, isConsistentSecretKey, isHex, publicKeyOf, toHex, type KeyPair } from './keys.js';
import { MAX_PRINCIPAL_NAME_LENGTH, isPrincipalName } from './principal.js';

/**
 * Client credentials and their JSON file format (pure; file I/O is in
 * credentials-file.ts). A file holds one of:
 *
 *   { "principal": "name", "secretKey": "<128 hex>", "publicKey": "<64 hex>" }
 *   { "principal": "name", "password": "…" }
 *
 * Error messages name the field at fault and never echo a value.
 */

/** A key principal's credentials. */
export interface KeyCredentials {
  kind: 'key';
  principal: string;
  /** 64 bytes (seed ‖ public key). */
  secretKey: Uint8Array;
  /** 32 bytes; always the key embedded in `secretKey`. */
  publicKey: Uint8Array;
}

/** A password principal's credentials; the key pair is derived with the server's salt. */
export interface PasswordCredentials {
  kind: 'password';
  principal: string;
  password: string;
}

export type Credentials = KeyCredentials | PasswordCredentials;

/** Largest credentials text accepted. */
export const MAX_CREDENTIALS_BYTES = 64 * 1024;
/** Longest password accepted, in UTF-16 code units. */
export const MAX_PASSWORD_LENGTH = 4096;

const KEY_FIELDS: ReadonlySet<string> = new Set(['principal', 'secretKey', 'publicKey']);
const PASSWORD_FIELDS: ReadonlySet<string> = new Set(['principal', 'password']);

function fail(message: string): never {
  throw KvError.invalidArgument(`credentials: ${message}`);
}

/** Credentials for a key principal. @throws KvError INVALID_ARGUMENT for a bad name or key */
export function keyCredentials(principal: string, keyPair: KeyPair): KeyCredentials {
  if (!isPrincipalName(principal)) fail(`"principal" must be 1..${MAX_PRINCIPAL_NAME_LENGTH} characters of [A-Za-z0-9._@-]`);
  if (!isConsistentSecretKey(keyPair.secretKey)) fail('"secretKey" is not a valid Ed25519 secret key');
  if (!equalBytes(publicKeyOf(keyPair.secretKey), keyPair.publicKey)) fail('"publicKey" does not belong to "secretKey"');
  return { kind: 'key', principal, secretKey: Uint8Array.from(keyPair.secretKey), publicKey: Uint8Array.from(keyPair.publicKey) };
}

/** Credentials for a password principal. @throws KvError INVALID_ARGUMENT for a bad name or password */
export function passwordCredentials(principal: string, password: string): PasswordCredentials {
  if (!isPrincipalName(principal)) fail(`"principal" must be 1..${MAX_PRINCIPAL_NAME_LENGTH} characters of [A-Za-z0-9._@-]`);
  if (typeof password !== 'string' || password.length === 0) fail('"password" must be a non-empty string');
  if (password.length > MAX_PASSWORD_LENGTH) fail(`"password" is longer than ${MAX_PASSWORD_LENGTH} characters`);
  return { kind: 'password', principal, password };
}

// A field name is echoed only when it looks like a field name, not like pasted secret.
function describeField(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]{0,31}$/.test(name) ? `"${name}"` : 'a field';
}

/**
 * Parse a credentials file's text.
 * @throws KvError INVALID_ARGUMENT saying what is wrong (never quoting the file)
 */
export function parseCredentials(text: string): Credentials {
  if (typeof text !== 'string') fail('expected text');
  if (text.length > MAX_CREDENTIALS_BYTES) fail(`larger than ${MAX_CREDENTIALS_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error, which may be the secret.
    throw new KvError(ErrorCode.INVALID_ARGUMENT, 'credentials: not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('expected a JSON object');
  const record = value as Record<string, unknown>;
  const hasKey = Object.hasOwn(record, 'secretKey');
  const hasPassword = Object.hasOwn(record, 'password');
  if (hasKey && hasPassword) fail('give either "secretKey" or "password", not both');
  if (!hasKey && !hasPassword) fail('missing "secretKey" (key principal) or "password" (password principal)');
  const allowed = hasKey ? KEY_FIELDS : PASSWORD_FIELDS;
  for (const field of Object.keys(record)) {
    if (!allowed.has(field)) fail(`unknown field ${describeField(field)} (allowed: ${Array.from(allowed).join(', ')})`);
  }
  const principal = record.principal;
  if (principal === undefined) fail('missing "principal"');
  if (!isPrincipalName(principal)) fail(`"principal" must be 1..${MAX_PRINCIPAL_NAME_LENGTH} characters of [A-Za-z0-9._@-]`);
  if (hasPassword) {
    const password = record.password;
    if (typeof password !== 'string') fail('"password" must be a string');
    return passwordCredentials(principal, password);
  }
  const secretHex = record.secretKey;
  if (!isHex(secretHex, SECRET_KEY_BYTES)) fail(`"secretKey" must be ${SECRET_KEY_BYTES * 2} hex digits`);
  const secretKey = fromHex(secretHex, SECRET_KEY_BYTES);
  if (!isConsistentSecretKey(secretKey)) fail('"secretKey" is not a valid Ed25519 secret key (its public half does not match its seed)');
  const embedded = publicKeyOf(secretKey);
  if (record.publicKey !== undefined) {
    if (!isHex(record.publicKey, PUBLIC_KEY_BYTES)) fail(`"publicKey" must be ${PUBLIC_KEY_BYTES * 2} hex digits`);
    if (!equalBytes(fromHex(record.publicKey, PUBLIC_KEY_BYTES), embedded)) fail('"publicKey" does not belong to "secretKey"');
  }
  return { kind: 'key', principal, secretKey, publicKey: embedded };
}

/**
 * The file text for `creds` (pretty JSON, trailing newline).
 * @throws KvError INVALID_ARGUMENT when `creds` is not valid
 */
export function formatCredentials(creds: Credentials): string {
  // Validate through the constructors so a file that is written can always be read back.
  const record = creds.kind === 'password'
    ? { principal: creds.principal, password: passwordCredentials(creds.principal, creds.password).password }
    : (() => {
        const c = keyCredentials(creds.principal, creds);
        return { principal: c.principal, secretKey: toHex(c.secretKey), publicKey: toHex(c.publicKey) };
      })();
  return `${JSON.stringify(record, null, 2)}\n`;
}
