import type { WebSocket } from 'ws';
import {
  ServerAuth, derivePasswordKeyPairAsync, equalBytes, fromHex, gateFrame, generateKeyPair, loadOrCreateKeyFile, newSalt,
  PUBLIC_KEY_BYTES, SALT_BYTES, toHex,
} from '../shared/auth/index.js';
import type { McPrincipal, McRole } from './memcached/backend.js';
import type { ProxyAuth, ProxyOptions, RequestGate } from './options.js';
import type { Upstream } from './upstream.js';

/**
 * Client authentication at the proxy (DESIGN §9, §11): thin clients prove a principal
 * from the cluster's list (which the manager sends the proxy's admin principal) and the
 * proxy enforces that principal's roles; its own lanes are authenticated as the proxy.
 */
export class ProxyAuthority implements ProxyAuth {
  readonly shared: ServerAuth;
  // Argon2id for an unknown name, so its answer takes as long as a known one's.
  private readonly decoySalt = newSalt();

  constructor(private readonly options: ProxyOptions, upstream: Upstream) {
    const keyPair = options.keyFile === null ? generateKeyPair() : loadOrCreateKeyFile(options.keyFile, 'proxy');
    this.shared = new ServerAuth(`proxy-${toHex(keyPair.publicKey).slice(0, 16)}`, keyPair);
    upstream.on('principals', (list) => this.shared.setPrincipals(list, 'pandakv proxy'));
  }

  gateFor(ws: WebSocket, onAuthenticated: () => void = noop): RequestGate {
    const conn = this.shared.newServer();
    const remote = (ws as unknown as { _socket?: { remoteAddress?: string } })._socket?.remoteAddress ?? '?';
    ws.once('close', () => conn.close());
    let isAuthenticated = false;
    return (req) => {
      const refusal = gateFrame(this.shared, conn, req, 'proxy', remote);
      if (refusal !== null && conn.isLocked) setImmediate(() => ws.close(4003, 'too many failed authentication attempts'));
      else if (!isAuthenticated && conn.isAuthenticated) {
        isAuthenticated = true;
        onAuthenticated();
      }
      return refusal;
    };
  }

  /** memcached ASCII auth: the password must derive the principal's public key with its salt. */
  readonly checkPassword = async (user: string, password: string): Promise<McPrincipal | null> => {
    const p = this.shared.principals.get(user);
    const salt = p?.salt ? fromHex(p.salt, SALT_BYTES) : this.decoySalt;
    const limits = this.options.passwordLimits ?? {};
    let derived: Uint8Array;
    try {
      derived = (await derivePasswordKeyPairAsync(password, salt, limits)).publicKey;
    } catch {
      return null;
    }
    if (p === undefined || p.salt === null || !equalBytes(derived, fromHex(p.publicKey, PUBLIC_KEY_BYTES))) {
      this.shared.log(`pandakv proxy: memcached auth failed principal=${JSON.stringify(user.slice(0, 64))}`);
      return null;
    }
    // `admin` grants every role (shared/auth hasRole); the memcached side checks roles one by one.
    const roles: McRole[] = p.roles.includes('admin') ? ['read', 'write', 'scan', 'admin'] : (p.roles as McRole[]);
    return { name: p.name, roles: new Set(roles) };
  };
}

function noop(): void {}
