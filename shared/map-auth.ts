import { AuthClient, authFailedError, type Credentials, type KeyPair, type PasswordLimits } from './auth/index.js';
import { ErrorCode, KvError, isErrorCode, type KvErrorCode } from './errors.js';
import type { MapClientMessage, MapServerMessage } from './map-protocol.js';

/** How a map-service client proves who it is (absent: the manager runs `--insecure`). */
export interface MapAuthOptions {
  credentials: Credentials;
  /** The manager's public key to require (hex or bytes); without it the key presented is trusted on first use. */
  managerKey?: Uint8Array | string | null;
  passwordLimits?: Partial<PasswordLimits>;
  /** Shared cache of derived password keys (see AuthClientOptions.derivedKeys). */
  derivedKeys?: Map<string, KeyPair>;
}

export type MapAuthStep =
  | { kind: 'send'; message: MapClientMessage }
  | { kind: 'done'; roles: string[] }
  | { kind: 'pass' };

/**
 * The client side of the map service's handshake, one per connection:
 * `hello` → `challenge` → `auth` → `authed` (or `err`). Every other message passes
 * through untouched.
 */
export class MapAuthSession {
  private readonly client: AuthClient;
  private isDone = false;

  constructor(private readonly options: MapAuthOptions) {
    this.client = new AuthClient({
      credentials: options.credentials,
      serverPublicKey: options.managerKey ?? null,
      isTrustOnFirstUse: options.managerKey == null,
      ...(options.passwordLimits === undefined ? {} : { passwordLimits: options.passwordLimits }),
      ...(options.derivedKeys === undefined ? {} : { derivedKeys: options.derivedKeys }),
    });
  }

  get isAuthenticated(): boolean {
    return this.isDone;
  }

  /** The first message to send on a fresh connection. */
  hello(): MapClientMessage {
    return { t: 'hello', principal: this.client.principal };
  }

  /**
   * Feed a server message. @throws KvError AUTH_FAILED (bad challenge, a server that
   *   cannot prove its key, or the manager refusing the principal)
   */
  onMessage(msg: MapServerMessage): MapAuthStep {
    if (this.isDone) return { kind: 'pass' };
    switch (msg.t) {
      case 'challenge':
        return { kind: 'send', message: { t: 'auth', auth: { ...this.client.answer(msg.challenge) } } };
      case 'authed':
        if (!this.client.verifyServer(this.options.managerKey ?? null, msg.serverSignature, msg.serverPublicKey)) {
          throw authFailedError('server-signature');
        }
        this.isDone = true;
        return { kind: 'done', roles: msg.roles };
      case 'err':
        // Refused, or a request the manager cannot take (one running --insecure answers a
        // hello with BAD_REQUEST): waiting will not change it.
        if (isErrorCode(msg.code) && REFUSED_CODES.has(msg.code)) {
          throw new KvError(msg.code, `manager: ${msg.message}`);
        }
        return { kind: 'pass' };
      default:
        return { kind: 'pass' };
    }
  }
}

/** Answers to the handshake that waiting will not change: refused, or a manager running --insecure. */
const REFUSED_CODES: ReadonlySet<KvErrorCode> = new Set([ErrorCode.AUTH_NEEDED, ErrorCode.AUTH_FAILED, ErrorCode.FORBIDDEN, ErrorCode.BAD_REQUEST]);
