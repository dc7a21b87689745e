import { createHash } from 'node:crypto';
import { KvError } from '../../shared/errors.js';
import {
  NONCE_BYTES, SIGNATURE_BYTES, authFailureLine, equalBytes, fromHex, hasRole, isHex, isPrincipalName, randomBytes, toHex,
  type AuthMessage, type AuthResult, type AuthServer, type Principal,
} from '../../shared/auth/index.js';
import type { ManagerAuth } from './manager-auth.js';

/** Options of the admin API's sessions. Every limit and delay is here so tests can shrink it. */
export interface AdminAuthOptions {
  /**
   * How long a bearer token lives.
   * @default 600000 (10 min)
   */
  tokenTtlMs: number;
  /**
   * Tokens kept at once; a new one evicts the oldest.
   * @default 1024
   */
  maxTokens: number;
  /**
   * How long a challenge may wait for its `/api/auth`. The AuthServer's own limit
   * (30 s) applies as well.
   * @default 30000
   */
  challengeTtlMs: number;
  /**
   * Challenges outstanding at once; a new one retires the oldest.
   * @default 1024
   */
  maxChallenges: number;
  /**
   * Failed `/api/auth` attempts an address may make in a burst before it gets 429.
   * @default 10
   */
  failureBurst: number;
  /**
   * One more attempt is allowed every this many ms (token bucket refill).
   * @default 2000
   */
  failureRefillMs: number;
  /**
   * Addresses whose failures are remembered; past it the one that failed longest ago is forgotten.
   * @default 4096
   */
  maxAddresses: number;
  /**
   * Clock, in ms.
   * @default Date.now
   */
  now: () => number;
}

export const ADMIN_AUTH_DEFAULTS: Readonly<AdminAuthOptions> = Object.freeze({
  tokenTtlMs: 10 * 60_000,
  maxTokens: 1024,
  challengeTtlMs: 30_000,
  maxChallenges: 1024,
  failureBurst: 10,
  failureRefillMs: 2000,
  maxAddresses: 4096,
  now: Date.now,
});

/** What `POST /api/auth` answers on success. */
export interface AdminLogin {
  /** 32 random bytes, hex; send as `Authorization: Bearer TOKEN`. */
  token: string;
  /** The manager's signature over the client's nonce (mutual auth), hex. */
  serverSignature: string;
  /** The manager's public key, hex, for a client that does not pin one. */
  serverPublicKey: string;
  roles: string[];
  expiresInMs: number;
}

interface PendingChallenge {
  server: AuthServer;
  expiresAt: number;
}

interface Token {
  name: string;
  /** The key the principal had when it authenticated: a re-keyed principal's tokens die. */
  publicKey: Uint8Array;
  expiresAt: number;
}

const BAD_AUTH_BODY = 'body must be {"principal": NAME, "nonce": HEX32, "clientNonce": HEX32, "signature": HEX64}';
const NEEDED = 'authentication needed: POST /api/auth/challenge, then POST /api/auth, then send "Authorization: Bearer TOKEN"';

/**
 * Failed attempts per remote address as a token bucket: `burst` failures at once, then
 * one more per `refillMs`. `maxFailures` in the AuthServer limits guesses per handshake;
 * over HTTP every attempt is a new handshake, so the limit must follow the address.
 */
export class FailureLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly burst: number,
    private readonly refillMs: number,
    private readonly maxAddresses: number,
    private readonly now: () => number,
  ) {}

  /** Addresses remembered. */
  get size(): number {
    return this.buckets.size;
  }

  /** @throws KvError BUSY (with `retryAfterMs`) while `remote` has no attempt left */
  check(remote: string): void {
    const b = this.current(remote);
    if (b !== null && b.tokens < 1) {
      const retryAfterMs = Math.max(1, Math.ceil((1 - b.tokens) * this.refillMs));
      throw KvError.busy('too many failed authentication attempts; retry later', { retryAfterMs, isSafeToRetry: true });
    }
  }

  /** Count one failure of `remote`; true when it has no attempt left now. */
  fail(remote: string): boolean {
    const b = this.current(remote) ?? { tokens: this.burst, at: this.now() };
    b.tokens = Math.max(0, b.tokens - 1);
    // Re-insert so the map stays ordered by last failure and the stalest goes first.
    this.buckets.delete(remote);
    while (this.buckets.size >= this.maxAddresses) this.buckets.delete(this.buckets.keys().next().value as string);
    this.buckets.set(remote, b);
    return b.tokens < 1;
  }

  private current(remote: string): { tokens: number; at: number } | null {
    const b = this.buckets.get(remote);
    if (b === undefined) return null;
    const now = this.now();
    b.tokens = Math.min(this.burst, b.tokens + Math.max(0, now - b.at) / this.refillMs);
    b.at = now;
    if (b.tokens >= this.burst) {
      // A full bucket is the same as none: forget it, so idle addresses take no memory.
      this.buckets.delete(remote);
      return null;
    }
    return b;
  }
}

/**
 * Authentication of the manager's admin HTTP API. HTTP has no connection to hang a
 * handshake on, so the AUTH_NEEDED handshake (docs/auth.md §3) runs over two requests
 * and ends in a bearer token:
 *
 *   POST /api/auth/challenge {principal?}   → a fresh AuthServer's challenge, kept by nonce
 *   POST /api/auth {principal, nonce, clientNonce, signature}  → that AuthServer's verdict;
 *                                              on success a random token
 *   every other /api request: Authorization: Bearer TOKEN of a current admin principal
 *
 * Everything is in memory and bounded: challenges and tokens expire and the oldest go
 * first when full. A token is checked against the principal table on every use, so
 * removing or re-keying a principal ends its tokens at once.
 */
export class AdminSessions {
  private readonly options: AdminAuthOptions;
  private readonly pending = new Map<string, PendingChallenge>();
  private readonly tokens = new Map<string, Token>();
  readonly limiter: FailureLimiter;

  constructor(private readonly auth: ManagerAuth, options: Partial<AdminAuthOptions> = {}) {
    // `??` rather than spread, so an option passed as `undefined` takes its default.
    const d = ADMIN_AUTH_DEFAULTS;
    const o: AdminAuthOptions = {
      tokenTtlMs: options.tokenTtlMs ?? d.tokenTtlMs,
      maxTokens: options.maxTokens ?? d.maxTokens,
      challengeTtlMs: options.challengeTtlMs ?? d.challengeTtlMs,
      maxChallenges: options.maxChallenges ?? d.maxChallenges,
      failureBurst: options.failureBurst ?? d.failureBurst,
      failureRefillMs: options.failureRefillMs ?? d.failureRefillMs,
      maxAddresses: options.maxAddresses ?? d.maxAddresses,
      now: options.now ?? d.now,
    };
    for (const k of ['tokenTtlMs', 'maxTokens', 'challengeTtlMs', 'maxChallenges', 'failureBurst', 'failureRefillMs', 'maxAddresses'] as const) {
      if (!Number.isSafeInteger(o[k]) || o[k] < 1) throw KvError.invalidArgument(`${k} must be a positive integer`);
    }
    this.options = o;
    this.limiter = new FailureLimiter(o.failureBurst, o.failureRefillMs, o.maxAddresses, o.now);
  }

  /** Challenges waiting for their `/api/auth`. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Live tokens (expired ones may linger until the next sweep). */
  get tokenCount(): number {
    return this.tokens.size;
  }

  /**
   * `POST /api/auth/challenge`. Naming a principal gets its salt (a made-up one for
   * unknown names, so the answer tells nothing).
   * @throws KvError BUSY for an address over its failure limit, BAD_REQUEST for a bad body
   */
  challenge(body: Record<string, unknown>, remote: string): { nonce: string; serverId: string; salt?: string } {
    this.limiter.check(remote);
    const name = body.principal;
    if (name !== undefined && name !== null && !isPrincipalName(name)) {
      throw KvError.badRequest('principal must be a principal name (1..64 of [A-Za-z0-9._@-])');
    }
    const now = this.options.now();
    this.sweepChallenges(now);
    while (this.pending.size >= this.options.maxChallenges) this.dropOldestChallenge();
    const server = this.auth.newServer();
    const c = server.challenge(name ?? undefined);
    this.pending.set(toHex(c.nonce), { server, expiresAt: now + this.options.challengeTtlMs });
    return c.salt === undefined
      ? { nonce: toHex(c.nonce), serverId: c.serverId }
      : { nonce: toHex(c.nonce), serverId: c.serverId, salt: toHex(c.salt) };
  }

  /**
   * `POST /api/auth`: verify the signed answer to a challenge and issue a token. Every
   * refusal costs the address one attempt and is logged without secrets.
   * @throws KvError BUSY over the limit, BAD_REQUEST for a malformed body, AUTH_FAILED
   *   (always the same message) for everything else
   */
  login(body: Record<string, unknown>, remote: string): AdminLogin {
    this.limiter.check(remote);
    const msg = parseAuthBody(body);
    if (msg === null) {
      this.refuse(remote, body.principal, 'malformed');
      throw KvError.badRequest(BAD_AUTH_BODY);
    }
    const now = this.options.now();
    this.sweepChallenges(now);
    const key = toHex(msg.nonce);
    const entry = this.pending.get(key);
    let result: AuthResult;
    if (entry === undefined) {
      // Not outstanding (used, retired or never issued): a throwaway handshake still asks
      // the shared nonce store, so the log can tell a replay from a made-up nonce.
      const probe = this.auth.newServer();
      result = probe.respond(msg);
      probe.close();
    } else {
      this.pending.delete(key);
      result = entry.server.respond(msg);
      entry.server.close();
    }
    if (!result.ok) {
      this.refuse(remote, msg.principal, result.reason);
      throw KvError.authFailed();
    }
    this.sweepTokens(now);
    while (this.tokens.size >= this.options.maxTokens) this.tokens.delete(this.tokens.keys().next().value as string);
    const token = toHex(randomBytes(32));
    const publicKey = this.auth.principals.publicKeyOf(msg.principal) as Uint8Array;
    this.tokens.set(digest(token), { name: msg.principal, publicKey, expiresAt: now + this.options.tokenTtlMs });
    return {
      token,
      serverSignature: toHex(result.serverSignature),
      serverPublicKey: toHex(result.serverPublicKey),
      roles: [...result.principal.roles],
      expiresInMs: this.options.tokenTtlMs,
    };
  }

  /**
   * The principal behind an `Authorization` header, if it has `role` (`admin` for changes,
   * `monitor` for reads, which admins may do as well).
   * @throws KvError AUTH_NEEDED (no, unknown or expired token, or its principal was
   *   removed or re-keyed), FORBIDDEN (without the role)
   */
  authorize(header: string | undefined, role: 'admin' | 'monitor' = 'admin'): Readonly<Principal> {
    const m = /^bearer +([0-9a-f]{64}) *$/i.exec(header ?? '');
    if (m === null) throw KvError.authNeeded(NEEDED);
    return this.authorizeToken(m[1]!, role);
  }

  /**
   * The principal behind a bearer token (64 hex digits), if it has `role`; for the
   * dashboard's WebSocket, whose browser side cannot set headers.
   * @throws KvError as `authorize`
   */
  authorizeToken(token: string, role: 'admin' | 'monitor'): Readonly<Principal> {
    if (!/^[0-9a-f]{64}$/i.test(token)) throw KvError.authNeeded(NEEDED);
    const key = digest(token.toLowerCase());
    const t = this.tokens.get(key);
    if (t === undefined || this.options.now() >= t.expiresAt) {
      this.tokens.delete(key);
      throw KvError.authNeeded('token unknown or expired: authenticate again');
    }
    const principal = this.auth.principals.get(t.name);
    const publicKey = this.auth.principals.publicKeyOf(t.name);
    if (principal === undefined || publicKey === undefined || !equalBytes(publicKey, t.publicKey)) {
      this.tokens.delete(key);
      throw KvError.authNeeded('the principal was removed or re-keyed: authenticate again');
    }
    if (!hasRole(principal.roles, role)) {
      throw KvError.forbidden(role === 'admin' ? 'this needs the admin role' : 'this needs the monitor or admin role');
    }
    return principal;
  }

  private refuse(remote: string, principal: unknown, reason: string): void {
    const isLimited = this.limiter.fail(remote);
    this.auth.log(`${authFailureLine('pandakv manager /api/auth', remote, principal, reason)}${isLimited ? ' rate-limited' : ''}`);
  }

  // Entries sit in insertion order, which is expiry order since every TTL is the same.
  private sweepChallenges(now: number): void {
    for (const [key, p] of this.pending) {
      if (p.expiresAt > now) break;
      p.server.close();
      this.pending.delete(key);
    }
  }

  private dropOldestChallenge(): void {
    const first = this.pending.entries().next();
    if (first.done === true) return;
    first.value[1].server.close();
    this.pending.delete(first.value[0]);
  }

  private sweepTokens(now: number): void {
    for (const [key, t] of this.tokens) {
      if (t.expiresAt > now) break;
      this.tokens.delete(key);
    }
  }
}

// Tokens are kept by their hash, so the map's keys are not usable tokens themselves.
function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The AUTH message in a JSON body whose binary fields are hex, or null when it is not one. */
function parseAuthBody(body: Record<string, unknown>): AuthMessage | null {
  const { principal, nonce, clientNonce, signature } = body;
  if (!isPrincipalName(principal)) return null;
  if (!isHex(nonce, NONCE_BYTES) || !isHex(clientNonce, NONCE_BYTES) || !isHex(signature, SIGNATURE_BYTES)) return null;
  return { principal, nonce: fromHex(nonce), clientNonce: fromHex(clientNonce), signature: fromHex(signature) };
}
