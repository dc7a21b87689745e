import { ErrorCode, KvError, type KvErrorDetails } from '../errors.js';
import type { Role } from './principal.js';

/** Why a server refused an AUTH message. All of them are AUTH_FAILED on the wire. */
export type AuthFailureReason =
  /** Not an AUTH message: wrong types, lengths or sizes. */
  | 'malformed'
  /** The nonce was never issued to this connection, was retired, or is forgotten. */
  | 'unknown-nonce'
  /** The nonce was already used, on this or another connection. */
  | 'replay'
  /** The nonce was issued to this connection but its time ran out. */
  | 'expired'
  /** No principal has that name. */
  | 'unknown-principal'
  /** The signature does not verify with the principal's public key. */
  | 'bad-signature'
  /** Too many failures: the connection must be dropped. */
  | 'locked'
  /** The connection already authenticated; a new principal needs a new connection. */
  | 'already-authenticated';

/** Why `authorize` refused an operation. */
export type AuthzFailureReason =
  /** AUTH_NEEDED: the connection has not authenticated. */
  | 'not-authenticated'
  /** AUTH_NEEDED: the principal was removed or its key changed since the handshake. */
  | 'principal-changed'
  /** FORBIDDEN: the principal lacks a role the op needs. */
  | 'missing-role';

/** Why a client refused to answer a challenge or to accept the server. */
export type ClientFailureReason =
  /** The challenge is not well formed. */
  | 'malformed-challenge'
  /** The challenge names a server other than the one expected. */
  | 'server-id-mismatch'
  /** A password principal got a challenge without its salt. */
  | 'no-salt'
  /** The server could not prove it holds the key expected of it (mutual auth). */
  | 'server-signature';

export type AuthReason = AuthFailureReason | AuthzFailureReason | ClientFailureReason;

/** `KvError.details` of the errors made here: `reason` is for logs, never for the peer. */
export interface AuthErrorDetails extends KvErrorDetails {
  reason: AuthReason;
  /** For `missing-role`: the role that was missing. */
  role?: Role;
}

// One message for every reason, so the text sent to a peer cannot tell them apart.
const AUTH_FAILED_MESSAGE = 'authentication failed';

/** AUTH_FAILED with `details.reason`. The message is the same for every reason. */
export function authFailedError(reason: AuthFailureReason | ClientFailureReason): KvError {
  const details: AuthErrorDetails = { reason, isSafeToRetry: true };
  return new KvError(ErrorCode.AUTH_FAILED, AUTH_FAILED_MESSAGE, details);
}

/** AUTH_NEEDED with `details.reason`. */
export function authNeededError(reason: 'not-authenticated' | 'principal-changed'): KvError {
  const details: AuthErrorDetails = { reason, isSafeToRetry: true };
  return new KvError(ErrorCode.AUTH_NEEDED, 'authentication needed', details);
}

/** FORBIDDEN naming the missing role (roles and op names are not secret). */
export function forbiddenError(role: Role, opLabel: string): KvError {
  const details: AuthErrorDetails = { reason: 'missing-role', role, isSafeToRetry: true };
  return new KvError(ErrorCode.FORBIDDEN, `${opLabel} needs the ${role} role`, details);
}

const REASONS: ReadonlySet<string> = new Set<AuthReason>([
  'malformed', 'unknown-nonce', 'replay', 'expired', 'unknown-principal', 'bad-signature', 'locked',
  'already-authenticated', 'not-authenticated', 'principal-changed', 'missing-role',
  'malformed-challenge', 'server-id-mismatch', 'no-salt',
]);

/** The auth reason carried by an error made here, or `undefined`. */
export function authReasonOf(err: unknown): AuthReason | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const details: unknown = (err as { details?: unknown }).details;
  if (typeof details !== 'object' || details === null) return undefined;
  const reason: unknown = (details as { reason?: unknown }).reason;
  return typeof reason === 'string' && REASONS.has(reason) ? (reason as AuthReason) : undefined;
}
