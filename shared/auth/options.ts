import type { Credentials } from './credentials.js';
import type { KeyPair, PasswordLimits } from './keys.js';
import type { PrincipalTable } from './principal.js';

/** What presenting a nonce found. */
export type NonceVerdict =
  /** Issued to this owner, unexpired, unused: now used. */
  | 'ok'
  /** Already used (by any owner sharing the store). */
  | 'replay'
  /** Issued to this owner but past its expiry. */
  | 'expired'
  /** Never issued, issued to another owner, retired, or forgotten. */
  | 'unknown';

/**
 * What an `AuthServer` needs of the nonces shared by every connection of a process
 * (`NonceStore` is the one implementation).
 */
export interface NonceLedger {
  /** A fresh nonce valid for `ttlMs` and only for `owner`. */
  issue(owner: object, ttlMs?: number, nowMs?: number): Uint8Array;
  /** Present `nonce` on behalf of `owner`; only `ok` uses it up. */
  consume(nonce: Uint8Array, owner: object, nowMs?: number): NonceVerdict;
  /** Forget an outstanding nonce of `owner`. */
  retire(nonce: Uint8Array, owner: object): void;
}

/** Options of `NonceStore`. */
export interface NonceStoreOptions {
  /**
   * Most nonces (outstanding and recently used) kept at once. When full, expired entries
   * go first, then the oldest.
   * @default 65536
   */
  maxEntries: number;
  /**
   * How long an issued nonce stays valid, and how long a used one is remembered so a
   * replay is reported as one.
   * @default 30000
   */
  ttlMs: number;
  /**
   * Clock, in ms.
   * @default Date.now
   */
  now: () => number;
}

export const NONCE_STORE_DEFAULTS: Readonly<NonceStoreOptions> = Object.freeze({
  maxEntries: 65_536,
  ttlMs: 30_000,
  now: Date.now,
});

/** Options of `AuthServer` (one per connection). */
export interface AuthServerOptions {
  /** The id the client signs; a node's stable id (DESIGN §3), the proxy's name. 1..1024 UTF-8 bytes. */
  serverId: string;
  /** The server's identity; its public key is what clients pin for mutual auth. */
  serverKeyPair: KeyPair;
  /** The principals accepted; shared by every connection of the process. */
  principals: PrincipalTable;
  /** Nonces issued and used; shared by every connection of the process. */
  nonceStore: NonceLedger;
  /**
   * Failed AUTH attempts after which the connection is locked and must be dropped.
   * @default 5
   */
  maxFailures?: number;
  /**
   * How long a challenge's nonce stays valid.
   * @default 30000
   */
  challengeTtlMs?: number;
  /**
   * Challenges one connection may have outstanding; a newer one retires the oldest.
   * @default 4
   */
  maxPendingChallenges?: number;
  /**
   * Secret (16..64 bytes) shared by every server of the cluster for the salts handed out
   * for unknown principal names. With it, a name gets the same made-up salt on every
   * server, so comparing servers tells nothing; without it the salt is keyed by this
   * server's secret key and serverId, so it is stable per server only.
   * @default null
   */
  fakeSaltKey?: Uint8Array | null;
  /**
   * Clock, in ms.
   * @default Date.now
   */
  now?: () => number;
}

export const AUTH_SERVER_DEFAULTS = Object.freeze({
  maxFailures: 5,
  challengeTtlMs: 30_000,
  maxPendingChallenges: 4,
  fakeSaltKey: null,
  now: Date.now,
});

/** Options of `AuthClient` (one per connection). */
export interface AuthClientOptions {
  /** Who the client is: a key pair or a password (see credentials.ts). */
  credentials: Credentials;
  /**
   * The server's public key (bytes or hex), from the map or configuration. When set, the
   * server must prove it holds the matching secret key.
   * @default null
   */
  serverPublicKey?: Uint8Array | string | null;
  /**
   * The serverId the client expects in challenges; a challenge naming another server is
   * refused before anything is signed.
   * @default null (any)
   */
  expectedServerId?: string | null;
  /**
   * With no known server key, accept the key the server presents on the first successful
   * handshake and pin it for later ones. Off unless asked for.
   * @default false
   */
  isTrustOnFirstUse?: boolean;
  /**
   * Argon2id cost for a password principal; must match what the principal was created with.
   * @default PASSWORD_LIMITS_INTERACTIVE
   */
  passwordLimits?: Partial<PasswordLimits>;
  /**
   * Key pairs derived for a password principal, by salt (hex), shared by every
   * connection of a client so the slow derivation runs once per salt, not per connection.
   * @default a cache private to this AuthClient
   */
  derivedKeys?: Map<string, KeyPair>;
}

export const AUTH_CLIENT_DEFAULTS = Object.freeze({
  serverPublicKey: null,
  expectedServerId: null,
  isTrustOnFirstUse: false,
});
