import { KvError } from '../../shared/errors.js';
import {
  decodePrincipal, derivePasswordKeyPair, generateKeyPair, keyCredentials, newSalt, passwordCredentials, toHex,
  type Credentials, type PasswordLimits, type Principal, type Role,
} from '../../shared/auth/index.js';
import type { Cfg } from './cfg/cfg.js';
import { CfgKeys } from './keys.js';

/** Where principals live in the config store, one JSON record per name. */
export const PRINCIPAL_PREFIX = CfgKeys.principalPrefix;

/**
 * Principals (DESIGN §9) kept in the config store. Only public material is stored: the
 * public key, the roles and, for a password principal, its Argon2id salt.
 */
export class UserStore {
  constructor(private readonly cfg: Cfg) {}

  /**
   * Create a principal. Without `password` a fresh key pair is generated and its
   * credentials (with the secret key) are returned for the caller to keep; with one, the
   * key pair is derived from it and a new salt.
   * @throws KvError EXISTS when the name is taken, INVALID_ARGUMENT for a bad name or role
   */
  async add(name: string, roles: Role[], password?: string, limits?: Partial<PasswordLimits>): Promise<{ principal: Principal; credentials: Credentials }> {
    let principal: Principal;
    let credentials: Credentials;
    if (password === undefined) {
      const keyPair = generateKeyPair();
      principal = decodePrincipal({ name, publicKey: toHex(keyPair.publicKey), roles, salt: null });
      credentials = keyCredentials(name, keyPair);
    } else {
      const salt = newSalt();
      const keyPair = derivePasswordKeyPair(password, salt, limits);
      principal = decodePrincipal({ name, publicKey: toHex(keyPair.publicKey), roles, salt: toHex(salt) });
      credentials = passwordCredentials(name, password);
    }
    const r = await this.cfg.cas(PRINCIPAL_PREFIX + name, Buffer.from(JSON.stringify(principal)), 0);
    if (!r.ok) throw KvError.exists(`principal "${name}" already exists`);
    return { principal, credentials };
  }

  /** Every principal, sorted by name. Malformed records are skipped. */
  async list(): Promise<Principal[]> {
    const { entries } = await this.cfg.list(PRINCIPAL_PREFIX);
    const out: Principal[] = [];
    for (const e of entries) {
      try {
        out.push(decodePrincipal(JSON.parse(Buffer.from(e.value).toString('utf8'))));
      } catch {
        // A record this version cannot read is left alone, not deleted.
      }
    }
    return out;
  }

  /** Remove a principal. @throws KvError NOT_FOUND when there is none */
  async remove(name: string): Promise<void> {
    const entry = await this.cfg.get(PRINCIPAL_PREFIX + name);
    if (entry === null) throw KvError.notFound(`no principal "${name}"`);
    const r = await this.cfg.cas(PRINCIPAL_PREFIX + name, null, entry.modRev);
    if (!r.ok) throw KvError.unavailable(`principal "${name}" changed concurrently; try again`, { isSafeToRetry: true });
  }
}
