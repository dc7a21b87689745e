import { KvError } from '../errors.js';
import { SALT_BYTES, SIGNATURE_BYTES } from './keys.js';
import { NONCE_BYTES } from './nonce-store.js';
import { isPrincipalName } from './principal.js';

/**
 * The handshake's messages and the exact bytes each side signs (docs/auth.md has the
 * layouts). Both sides build the signed bytes with these functions only.
 */

/** Prefix of the bytes a client signs. */
export const CLIENT_DOMAIN = 'pandakv-auth-v1\0';
/** Prefix of the bytes a server signs. */
export const SERVER_DOMAIN = 'pandakv-auth-v1-server\0';
/** Longest serverId, in UTF-8 bytes (the length travels as 2 bytes). */
export const MAX_SERVER_ID_BYTES = 1024;

const CLIENT_DOMAIN_BYTES = Buffer.from(CLIENT_DOMAIN, 'utf8');
const SERVER_DOMAIN_BYTES = Buffer.from(SERVER_DOMAIN, 'utf8');

/** What a server sends with AUTH_NEEDED. */
export interface AuthChallenge {
  /** 32 random bytes, single-use. */
  nonce: Uint8Array;
  /** Who the client is talking to; signed by the client. */
  serverId: string;
  /**
   * The Argon2id salt of the principal named in the request for a challenge (16 bytes).
   * Present whenever a name was given, whether or not such a principal exists.
   */
  salt?: Uint8Array;
}

/** What a client answers with (the AUTH message). */
export interface AuthMessage {
  principal: string;
  /** The challenge's nonce, echoed. */
  nonce: Uint8Array;
  /** 32 random bytes of the client's, for the server's signature. */
  clientNonce: Uint8Array;
  /** Ed25519 over `clientTranscript(nonce, serverId, clientNonce)`, 64 bytes. */
  signature: Uint8Array;
}

/** True for a serverId of 1..MAX_SERVER_ID_BYTES UTF-8 bytes. */
export function isServerId(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_SERVER_ID_BYTES) return false;
  return Buffer.byteLength(value, 'utf8') <= MAX_SERVER_ID_BYTES;
}

function checkBytes(value: Uint8Array, length: number, what: string): void {
  if (!(value instanceof Uint8Array) || value.length !== length) throw KvError.invalidArgument(`${what} must be ${length} bytes`);
}

/**
 * The bytes a client signs:
 * `"pandakv-auth-v1\0" ‖ nonce[32] ‖ u16be(len) ‖ serverId (UTF-8, len bytes) ‖ clientNonce[32]`.
 * @throws KvError INVALID_ARGUMENT for wrong lengths
 */
export function clientTranscript(nonce: Uint8Array, serverId: string, clientNonce: Uint8Array): Uint8Array {
  checkBytes(nonce, NONCE_BYTES, 'nonce');
  checkBytes(clientNonce, NONCE_BYTES, 'clientNonce');
  if (!isServerId(serverId)) throw KvError.invalidArgument(`serverId must be 1..${MAX_SERVER_ID_BYTES} UTF-8 bytes`);
  const id = Buffer.from(serverId, 'utf8');
  const out = Buffer.alloc(CLIENT_DOMAIN_BYTES.length + NONCE_BYTES + 2 + id.length + NONCE_BYTES);
  let at = CLIENT_DOMAIN_BYTES.copy(out, 0);
  out.set(nonce, at);
  at += NONCE_BYTES;
  at = out.writeUInt16BE(id.length, at);
  at += id.copy(out, at);
  out.set(clientNonce, at);
  return out;
}

/**
 * The bytes a server signs for mutual auth:
 * `"pandakv-auth-v1-server\0" ‖ clientNonce[32] ‖ nonce[32]`.
 * @throws KvError INVALID_ARGUMENT for wrong lengths
 */
export function serverTranscript(clientNonce: Uint8Array, nonce: Uint8Array): Uint8Array {
  checkBytes(clientNonce, NONCE_BYTES, 'clientNonce');
  checkBytes(nonce, NONCE_BYTES, 'nonce');
  const out = Buffer.alloc(SERVER_DOMAIN_BYTES.length + 2 * NONCE_BYTES);
  const at = SERVER_DOMAIN_BYTES.copy(out, 0);
  out.set(clientNonce, at);
  out.set(nonce, at + NONCE_BYTES);
  return out;
}

function isBytes(value: unknown, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.length === length;
}

function fields(value: unknown): Record<string, unknown> | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return null;
  return value as Record<string, unknown>;
}

/** The AUTH message in `value` (as decoded from the wire), or `null` when it is not one. Never throws. */
export function parseAuthMessage(value: unknown): AuthMessage | null {
  try {
    const v = fields(value);
    if (v === null) return null;
    const { principal, nonce, clientNonce, signature } = v;
    if (!isPrincipalName(principal)) return null;
    if (!isBytes(nonce, NONCE_BYTES) || !isBytes(clientNonce, NONCE_BYTES) || !isBytes(signature, SIGNATURE_BYTES)) return null;
    return { principal, nonce, clientNonce, signature };
  } catch {
    // A getter or proxy that throws is just another malformed message.
    return null;
  }
}

/** The challenge in `value` (as decoded from the wire), or `null` when it is not one. Never throws. */
export function parseChallenge(value: unknown): AuthChallenge | null {
  try {
    const v = fields(value);
    if (v === null) return null;
    const { nonce, serverId, salt } = v;
    if (!isBytes(nonce, NONCE_BYTES) || !isServerId(serverId)) return null;
    if (salt === undefined || salt === null) return { nonce, serverId };
    if (!isBytes(salt, SALT_BYTES)) return null;
    return { nonce, serverId, salt };
  } catch {
    return null;
  }
}
