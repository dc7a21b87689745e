import { EventEmitter } from 'eventemitter3';
import { AuthServer } from './handshake.js';
import type { KeyPair } from './keys.js';
import { NonceStore } from './nonce-store.js';
import { decodePrincipal, PrincipalTable, type Principal } from './principal.js';

/** One line per failed attempt; never given a secret. */
export type AuthLog = (line: string) => void;

const stderrLog: AuthLog = (line) => process.stderr.write(`${line}\n`);

/**
 * What one secure server process (node, manager, proxy) shares across its connections:
 * its identity, the principals it accepts and one nonce store. Each connection gets its
 * own `AuthServer` from `newServer()`.
 */
export class ServerAuth extends EventEmitter<{ change: () => void }> {
  readonly principals = new PrincipalTable();
  readonly nonceStore = new NonceStore();
  /** False until a principal list arrived; a handshake before then is answered UNAVAILABLE. */
  hasPrincipals = false;

  constructor(readonly serverId: string, readonly keyPair: KeyPair, readonly log: AuthLog = stderrLog) {
    super();
  }

  /** The handshake of one connection. */
  newServer(): AuthServer {
    return new AuthServer({ serverId: this.serverId, serverKeyPair: this.keyPair, principals: this.principals, nonceStore: this.nonceStore });
  }

  /**
   * Accept a new principal list (from the config store or the map service). Invalid
   * entries are skipped and logged, so one bad record cannot lock everyone out.
   */
  setPrincipals(list: Iterable<unknown>, source: string): void {
    const valid: Principal[] = [];
    const seen = new Set<string>();
    for (const raw of list) {
      try {
        const p = decodePrincipal(raw);
        if (seen.has(p.name)) continue;
        seen.add(p.name);
        valid.push(p);
      } catch {
        this.log(`${source}: ignoring a malformed principal record`);
      }
    }
    this.principals.replaceAll(valid);
    this.hasPrincipals = true;
    this.emit('change');
  }

  /** Every principal, public material only. */
  list(): Readonly<Principal>[] {
    return this.principals.list();
  }
}

/** The log line for a failed attempt: the name is quoted and cut short, nothing secret is included. */
export function authFailureLine(who: string, remote: string, principal: unknown, reason: string): string {
  const name = typeof principal === 'string' ? JSON.stringify(principal.slice(0, 64)) : '-';
  return `${who}: auth failed from ${remote} principal=${name} reason=${reason}`;
}
