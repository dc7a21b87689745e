import { KvError } from '../errors.js';
import { opName } from '../protocol/ops.js';
import { authFailedError, authNeededError, forbiddenError, type AuthFailureReason } from './auth-error.js';
import type { Credentials } from './credentials.js';
import {
  PUBLIC_KEY_BYTES, SALT_BYTES, SEED_BYTES, derivePasswordKeyPair, equalBytes, fromHex, generateKeyPair, isConsistentSecretKey,
  isHex, keyedHash, publicKeyOf, randomBytes, sign, toHex, verify, type KeyPair, type PasswordLimits,
} from './keys.js';
import { NONCE_BYTES } from './nonce-store.js';
import { AUTH_CLIENT_DEFAULTS, AUTH_SERVER_DEFAULTS, type AuthClientOptions, type AuthServerOptions, type NonceLedger } from './options.js';
import { isPrincipalName, type Principal, type PrincipalTable } from './principal.js';
import { missingRole, requiredRoles } from './roles.js';
import {
  clientTranscript, isServerId, MAX_SERVER_ID_BYTES, parseAuthMessage, parseChallenge, serverTranscript,
  type AuthChallenge, type AuthMessage,
} from './transcript.js';

/**
 * The AUTH_NEEDED handshake of DESIGN §9 as two pure, synchronous state machines; the
 * connection code moves their messages over the wire.
 *
 *   server → client  AUTH_NEEDED { nonce, serverId, salt? }        AuthServer.challenge()
 *   client → server  AUTH { principal, nonce, clientNonce, signature }  AuthClient.answer()
 *   server → client  OK { serverSignature, serverPublicKey }        AuthServer.respond()
 *   client checks the server's signature                           AuthClient.verifyServer()
 */

/** The answer to an AUTH message. */
export type AuthResult =
  | {
      ok: true;
      principal: Readonly<Principal>;
      /** Ed25519 over `serverTranscript(clientNonce, nonce)`: send to the client. */
      serverSignature: Uint8Array;
      /** The server's public key, for a client that trusts on first use. */
      serverPublicKey: Uint8Array;
    }
  | {
      ok: false;
      /** For logs only; the peer gets AUTH_FAILED and nothing more. */
      reason: AuthFailureReason;
      /** AUTH_FAILED, `details.reason` = `reason`; the message is the same for every reason. */
      error: KvError;
      /** True when the connection must now be dropped. */
      isLocked: boolean;
    };

/** The answer to `authorize(op)`. */
export type AuthorizeResult =
  | { ok: true; principal: Readonly<Principal> | null }
  | { ok: false; error: KvError };

// Verifying against a throwaway key makes an unknown name cost what a wrong signature costs.
const DECOY_PUBLIC_KEY = generateKeyPair().publicKey;
const FAKE_SALT_DOMAIN = Buffer.from('pandakv-fake-salt-v1\0', 'utf8');
const FAKE_SALT_KEY_DOMAIN = Buffer.from('pandakv-fake-salt-key-v1\0', 'utf8');
// Names longer than this cannot exist; hashing a prefix keeps a huge one cheap.
const MAX_SALT_NAME_CHARS = 256;

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw KvError.invalidArgument(`${name} must be a positive integer`);
  return value;
}

/**
 * The server side of one connection's handshake. Shares the process's `PrincipalTable`
 * and `NonceStore` with every other connection; holds this connection's outstanding
 * nonces, failure count and authenticated principal.
 */
export class AuthServer {
  private readonly serverId: string;
  private readonly keyPair: KeyPair;
  private readonly principals: PrincipalTable;
  private readonly store: NonceLedger;
  private readonly maxFailures: number;
  private readonly challengeTtlMs: number;
  private readonly maxPendingChallenges: number;
  private readonly now: () => number;
  private readonly fakeSaltKey: Uint8Array;
  private readonly fakeSaltPrefix: Uint8Array;
  private pending: Uint8Array[] = [];
  private failures = 0;
  private authed: { name: string; publicKey: Uint8Array } | null = null;
  private isClosed = false;

  /** @throws KvError INVALID_ARGUMENT for a bad serverId, key pair or limit */
  constructor(options: AuthServerOptions) {
    // `??` rather than spread, so an option passed as `undefined` takes its default.
    const o = {
      ...options,
      maxFailures: options.maxFailures ?? AUTH_SERVER_DEFAULTS.maxFailures,
      challengeTtlMs: options.challengeTtlMs ?? AUTH_SERVER_DEFAULTS.challengeTtlMs,
      maxPendingChallenges: options.maxPendingChallenges ?? AUTH_SERVER_DEFAULTS.maxPendingChallenges,
      fakeSaltKey: options.fakeSaltKey ?? AUTH_SERVER_DEFAULTS.fakeSaltKey,
      now: options.now ?? AUTH_SERVER_DEFAULTS.now,
    };
    if (!isServerId(o.serverId)) throw KvError.invalidArgument(`serverId must be 1..${MAX_SERVER_ID_BYTES} UTF-8 bytes`);
    const { publicKey, secretKey } = o.serverKeyPair;
    if (!isConsistentSecretKey(secretKey) || !equalBytes(publicKeyOf(secretKey), publicKey)) {
      throw KvError.invalidArgument('serverKeyPair is not a valid Ed25519 key pair');
    }
    this.serverId = o.serverId;
    this.keyPair = o.serverKeyPair;
    this.principals = o.principals;
    this.store = o.nonceStore;
    this.maxFailures = positiveInt(o.maxFailures, 'maxFailures');
    this.challengeTtlMs = positiveInt(o.challengeTtlMs, 'challengeTtlMs');
    this.maxPendingChallenges = positiveInt(o.maxPendingChallenges, 'maxPendingChallenges');
    this.now = o.now;
    const serverIdBytes = Buffer.from(o.serverId, 'utf8');
    if (o.fakeSaltKey !== null) {
      // A cluster-wide key: the same name gets the same salt on every server.
      this.fakeSaltKey = o.fakeSaltKey;
      this.fakeSaltPrefix = FAKE_SALT_DOMAIN;
      keyedHash(this.fakeSaltKey, FAKE_SALT_DOMAIN, SALT_BYTES); // validates the key length now
    } else {
      this.fakeSaltKey = keyedHash(secretKey.subarray(0, SEED_BYTES), FAKE_SALT_KEY_DOMAIN, 32);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(serverIdBytes.length);
      this.fakeSaltPrefix = Buffer.concat([FAKE_SALT_DOMAIN, len, serverIdBytes]);
    }
  }

  /** True once an AUTH message verified (and until the principal is removed or re-keyed). */
  get isAuthenticated(): boolean {
    return this.authed !== null;
  }

  /** True after `maxFailures` failed AUTH attempts: drop the connection. */
  get isLocked(): boolean {
    return this.failures >= this.maxFailures;
  }

  /** Failed AUTH attempts so far. */
  get failureCount(): number {
    return this.failures;
  }

  /** The authenticated principal as the table has it now, or `null`. */
  get principal(): Readonly<Principal> | null {
    return this.authed === null ? null : (this.principals.get(this.authed.name) ?? null);
  }

  /** The key clients pin for this server. */
  get serverPublicKey(): Uint8Array {
    return this.keyPair.publicKey;
  }

  /**
   * A fresh challenge: a single-use nonce bound to this connection, valid for
   * `challengeTtlMs`. When the request for it named a principal, the challenge carries
   * that principal's salt; a name that is unknown, or belongs to a key principal, gets a
   * made-up salt of the same shape that is the same every time it is asked for, so the
   * answer never tells whether a name exists.
   * @throws KvError AUTH_FAILED (reason `locked`) once locked; CONNECTION_CLOSED after close()
   */
  challenge(principalName?: unknown): AuthChallenge {
    if (this.isClosed) throw KvError.connectionClosed('auth session closed');
    if (this.isLocked) throw authFailedError('locked');
    const nonce = this.store.issue(this, this.challengeTtlMs, this.now());
    this.pending.push(nonce);
    while (this.pending.length > this.maxPendingChallenges) this.store.retire(this.pending.shift() as Uint8Array, this);
    const out: AuthChallenge = { nonce, serverId: this.serverId };
    if (typeof principalName === 'string') out.salt = this.saltFor(principalName);
    return out;
  }

  /**
   * Check an AUTH message (anything decoded from the wire). Never throws. Every failure
   * before authentication counts towards `maxFailures`; the nonce is used up by any
   * well-formed attempt that presents it, so a retry needs a new challenge.
   */
  respond(message: unknown): AuthResult {
    if (this.isClosed || this.isLocked) return this.refuse('locked', false);
    // Not a guess at a credential, so it does not count towards the lockout.
    if (this.authed !== null) return this.refuse('already-authenticated', false);
    const m = parseAuthMessage(message);
    if (m === null) return this.refuse('malformed');
    const verdict = this.store.consume(m.nonce, this, this.now());
    if (verdict === 'ok' || verdict === 'expired') this.forgetPending(m.nonce);
    if (verdict !== 'ok') return this.refuse(verdict === 'unknown' ? 'unknown-nonce' : verdict);
    const transcript = clientTranscript(m.nonce, this.serverId, m.clientNonce);
    const publicKey = this.principals.publicKeyOf(m.principal);
    if (publicKey === undefined) {
      verify(DECOY_PUBLIC_KEY, transcript, m.signature);
      return this.refuse('unknown-principal');
    }
    if (!verify(publicKey, transcript, m.signature)) return this.refuse('bad-signature');
    const principal = this.principals.get(m.principal) as Readonly<Principal>;
    this.authed = { name: m.principal, publicKey };
    this.retireAll();
    return {
      ok: true,
      principal,
      serverSignature: sign(this.keyPair.secretKey, serverTranscript(m.clientNonce, m.nonce)),
      serverPublicKey: this.keyPair.publicKey,
    };
  }

  /**
   * May this connection run `op` now? PING always; anything else needs an authenticated
   * principal (AUTH_NEEDED otherwise, also when the principal has since been removed or
   * re-keyed) holding every role the op needs (FORBIDDEN otherwise). Roles are read from
   * the table on every call, so a change arriving with the map applies at once.
   */
  authorize(op: number): AuthorizeResult {
    if (requiredRoles(op).length === 0) return { ok: true, principal: this.principal };
    if (this.authed === null) return { ok: false, error: authNeededError('not-authenticated') };
    const current = this.principals.get(this.authed.name);
    const currentKey = this.principals.publicKeyOf(this.authed.name);
    if (current === undefined || currentKey === undefined || !equalBytes(currentKey, this.authed.publicKey)) {
      this.authed = null;
      return { ok: false, error: authNeededError('principal-changed') };
    }
    const missing = missingRole(current.roles, op);
    if (missing !== null) return { ok: false, error: forbiddenError(missing, opName(op) ?? `op ${op}`) };
    return { ok: true, principal: current };
  }

  /** The connection is gone: release its outstanding nonces. Idempotent. */
  close(): void {
    this.isClosed = true;
    this.authed = null;
    this.retireAll();
  }

  private saltFor(name: string): Uint8Array {
    // Always compute the made-up salt, so known and unknown names cost the same.
    const nameBytes = Buffer.from(name.slice(0, MAX_SALT_NAME_CHARS), 'utf8');
    const fake = keyedHash(this.fakeSaltKey, Buffer.concat([this.fakeSaltPrefix, nameBytes]), SALT_BYTES);
    const p = isPrincipalName(name) ? this.principals.get(name) : undefined;
    return p !== undefined && p.salt !== null ? fromHex(p.salt, SALT_BYTES) : fake;
  }

  private refuse(reason: AuthFailureReason, counts = true): AuthResult {
    if (counts) this.failures++;
    if (this.isLocked) this.retireAll();
    return { ok: false, reason, error: authFailedError(reason), isLocked: this.isLocked };
  }

  private forgetPending(nonce: Uint8Array): void {
    this.pending = this.pending.filter((n) => !equalBytes(n, nonce));
  }

  private retireAll(): void {
    for (const nonce of this.pending) this.store.retire(nonce, this);
    this.pending = [];
  }
}

/**
 * The client side of one connection's handshake. Holds the credentials, the transcript
 * of the last answer (for `verifyServer`) and, for a password principal, the key pair
 * derived for the last salt seen (derivation is deliberately slow).
 */
export class AuthClient {
  private readonly credentials: Credentials;
  private readonly expectedServerId: string | null;
  private readonly isTrustOnFirstUse: boolean;
  private readonly passwordLimits: Partial<PasswordLimits>;
  private knownServerKey: Uint8Array | null;
  private pinned: Uint8Array | null = null;
  private readonly derivedKeys: Map<string, KeyPair>;
  private last: { nonce: Uint8Array; clientNonce: Uint8Array } | null = null;

  /** @throws KvError INVALID_ARGUMENT for a bad server key or serverId */
  constructor(options: AuthClientOptions) {
    const o = {
      ...options,
      serverPublicKey: options.serverPublicKey ?? AUTH_CLIENT_DEFAULTS.serverPublicKey,
      expectedServerId: options.expectedServerId ?? AUTH_CLIENT_DEFAULTS.expectedServerId,
      isTrustOnFirstUse: options.isTrustOnFirstUse ?? AUTH_CLIENT_DEFAULTS.isTrustOnFirstUse,
    };
    this.credentials = o.credentials;
    if (o.credentials.kind === 'key' && !isConsistentSecretKey(o.credentials.secretKey)) {
      throw KvError.invalidArgument('credentials: secretKey is not a valid Ed25519 secret key');
    }
    if (o.expectedServerId !== null && !isServerId(o.expectedServerId)) {
      throw KvError.invalidArgument(`expectedServerId must be 1..${MAX_SERVER_ID_BYTES} UTF-8 bytes`);
    }
    this.expectedServerId = o.expectedServerId;
    this.isTrustOnFirstUse = o.isTrustOnFirstUse;
    this.passwordLimits = o.passwordLimits ?? {};
    this.derivedKeys = o.derivedKeys ?? new Map();
    this.knownServerKey = o.serverPublicKey === null ? null : toKey(o.serverPublicKey);
    if (o.serverPublicKey !== null && this.knownServerKey === null) {
      throw KvError.invalidArgument(`serverPublicKey must be ${PUBLIC_KEY_BYTES} bytes or ${PUBLIC_KEY_BYTES * 2} hex digits`);
    }
  }

  /** The principal name to send, also when asking for a challenge. */
  get principal(): string {
    return this.credentials.principal;
  }

  /** True for a password principal: ask for the challenge naming `principal`, so it carries the salt. */
  get needsSalt(): boolean {
    return this.credentials.kind === 'password';
  }

  /** The server key learned by trust on first use, to persist; `null` when none. */
  get pinnedServerKey(): Uint8Array | null {
    return this.pinned;
  }

  /**
   * The AUTH message answering `challenge` (anything decoded from the wire).
   * @throws KvError AUTH_FAILED with `details.reason`: `malformed-challenge`,
   *   `server-id-mismatch` (nothing was signed), or `no-salt` (a password principal needs
   *   a challenge that carries its salt)
   */
  answer(challenge: unknown): AuthMessage {
    const c = parseChallenge(challenge);
    if (c === null) throw authFailedError('malformed-challenge');
    if (this.expectedServerId !== null && c.serverId !== this.expectedServerId) throw authFailedError('server-id-mismatch');
    const secretKey = this.secretKeyFor(c);
    const clientNonce = randomBytes(NONCE_BYTES);
    const signature = sign(secretKey, clientTranscript(c.nonce, c.serverId, clientNonce));
    this.last = { nonce: Uint8Array.from(c.nonce), clientNonce };
    return { principal: this.credentials.principal, nonce: Uint8Array.from(c.nonce), clientNonce, signature };
  }

  /**
   * Mutual auth: does `serverSignature` prove the server holds the expected key, for the
   * last answer sent? The expected key is `serverPublicKey` (from the map), else the one
   * configured, else the one pinned earlier. With none of those, and only when
   * `isTrustOnFirstUse` is set, `presentedKey` (what the server sent) is accepted if the
   * signature verifies with it, and pinned. A presented key that differs from a known
   * one fails. Never throws; each answer can be checked once.
   */
  verifyServer(serverPublicKey: Uint8Array | string | null | undefined, serverSignature: unknown, presentedKey?: unknown): boolean {
    const last = this.last;
    this.last = null;
    if (last === null) return false;
    const transcript = serverTranscript(last.clientNonce, last.nonce);
    const given = serverPublicKey === null || serverPublicKey === undefined ? null : toKey(serverPublicKey);
    if (serverPublicKey !== null && serverPublicKey !== undefined && given === null) return false;
    const known = given ?? this.knownServerKey ?? this.pinned;
    const presented = presentedKey === undefined || presentedKey === null ? null : toKey(presentedKey);
    if (known !== null) {
      if (presentedKey !== undefined && presentedKey !== null && (presented === null || !equalBytes(presented, known))) return false;
      return verify(known, transcript, serverSignature);
    }
    if (!this.isTrustOnFirstUse || presented === null || !verify(presented, transcript, serverSignature)) return false;
    this.pinned = Uint8Array.from(presented);
    return true;
  }

  private secretKeyFor(c: AuthChallenge): Uint8Array {
    const creds = this.credentials;
    if (creds.kind === 'key') return creds.secretKey;
    if (c.salt === undefined) throw authFailedError('no-salt');
    const saltHex = toHex(c.salt);
    let keyPair = this.derivedKeys.get(saltHex);
    if (keyPair === undefined) {
      keyPair = derivePasswordKeyPair(creds.password, c.salt, this.passwordLimits);
      // Made-up salts for unknown names must not grow a shared cache without bound.
      if (this.derivedKeys.size >= 16) this.derivedKeys.clear();
      this.derivedKeys.set(saltHex, keyPair);
    }
    return keyPair.secretKey;
  }
}

function toKey(value: unknown): Uint8Array | null {
  if (value instanceof Uint8Array) return value.length === PUBLIC_KEY_BYTES ? value : null;
  if (isHex(value, PUBLIC_KEY_BYTES)) return fromHex(value, PUBLIC_KEY_BYTES);
  return null;
}
