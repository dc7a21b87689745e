import { KvError } from '../errors.js';
import { PUBLIC_KEY_BYTES, SALT_BYTES, fromHex, isHex } from './keys.js';

/**
 * Principals: who may talk to the cluster and what they may do (DESIGN §9). They live in
 * the Cfg and reach the nodes with the map; a node keeps the current list in a
 * `PrincipalTable`.
 */

/**
 * `read` sees values, `write` changes them, `scan` enumerates key ranges, `monitor` may
 * watch the cluster (the dashboard and the admin API's reads, never a value or a
 * change), `admin` runs the cluster (and so implies every other role; see `hasRole`).
 */
export type Role = 'read' | 'write' | 'scan' | 'monitor' | 'admin';

/** Every role, in a stable order. */
export const ROLES: readonly Role[] = Object.freeze(['read', 'write', 'scan', 'monitor', 'admin'] as const);

export interface Principal {
  /** 1..64 characters of `[A-Za-z0-9._@-]`. */
  name: string;
  /** Ed25519 public key, 64 lowercase hex digits. */
  publicKey: string;
  /** Distinct roles; may be empty (the principal can authenticate but do nothing protected). */
  roles: Role[];
  /** Argon2id salt, hex, for a password principal; `null` for a key principal. */
  salt: string | null;
}

/** Longest principal name. */
export const MAX_PRINCIPAL_NAME_LENGTH = 64;

const NAME_RE = /^[A-Za-z0-9._@-]{1,64}$/;
const ROLE_SET: ReadonlySet<string> = new Set(ROLES);

/** True for a role this version knows. */
export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && ROLE_SET.has(value);
}

/** True for a well-formed principal name. */
export function isPrincipalName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_PRINCIPAL_NAME_LENGTH && NAME_RE.test(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/**
 * Why `value` is not a valid principal, or `null` when it is. Fields other than the four
 * known ones are ignored (a newer manager may add some). `salt` may be absent (= null).
 * Messages name the field, never echo its value.
 */
export function checkPrincipal(value: unknown): string | null {
  if (!isRecord(value)) return 'a principal must be an object';
  const { name, publicKey, roles, salt } = value;
  if (!isPrincipalName(name)) return `principal name must be 1..${MAX_PRINCIPAL_NAME_LENGTH} characters of [A-Za-z0-9._@-]`;
  if (!isHex(publicKey, PUBLIC_KEY_BYTES)) return `principal ${name}: publicKey must be ${PUBLIC_KEY_BYTES * 2} hex digits`;
  if (!Array.isArray(roles)) return `principal ${name}: roles must be an array`;
  const seen = new Set<string>();
  for (const role of roles) {
    if (!isRole(role)) return `principal ${name}: unknown role (known: ${ROLES.join(', ')})`;
    if (seen.has(role)) return `principal ${name}: role ${role} listed twice`;
    seen.add(role);
  }
  if (salt !== undefined && salt !== null && !isHex(salt, SALT_BYTES)) {
    return `principal ${name}: salt must be null or ${SALT_BYTES * 2} hex digits`;
  }
  return null;
}

/**
 * A principal as a plain object of strings (JSON- and CBOR-friendly), hex in lowercase.
 * @throws KvError INVALID_ARGUMENT when `p` is not a valid principal
 */
export function encodePrincipal(p: Principal): Principal {
  return decodePrincipal(p);
}

/**
 * Validate and normalise a decoded principal: a fresh object with lowercase hex, roles in
 * the canonical order, and `salt` null when absent.
 * @throws KvError INVALID_ARGUMENT with `checkPrincipal`'s reason
 */
export function decodePrincipal(value: unknown): Principal {
  const problem = checkPrincipal(value);
  if (problem !== null) throw KvError.invalidArgument(problem);
  const v = value as Record<string, unknown>;
  const roles = new Set(v.roles as Role[]);
  const salt = v.salt;
  return {
    name: v.name as string,
    publicKey: (v.publicKey as string).toLowerCase(),
    roles: ROLES.filter((r) => roles.has(r)),
    salt: typeof salt === 'string' ? salt.toLowerCase() : null,
  };
}

/**
 * Decode a list of principals (as they arrive with the map or from the Cfg).
 * @throws KvError INVALID_ARGUMENT on the first invalid entry or a duplicate name
 */
export function decodePrincipals(value: unknown): Principal[] {
  if (!Array.isArray(value)) throw KvError.invalidArgument('principals must be an array');
  const out: Principal[] = [];
  const names = new Set<string>();
  for (const item of value) {
    const p = decodePrincipal(item);
    if (names.has(p.name)) throw KvError.invalidArgument(`principal ${p.name} is listed twice`);
    names.add(p.name);
    out.push(p);
  }
  return out;
}

/** Whether `roles` grants `role`. `admin` grants everything: an admin can rewrite the principal list anyway. */
export function hasRole(roles: readonly Role[], role: Role): boolean {
  return roles.includes(role) || roles.includes('admin');
}

interface Entry {
  principal: Readonly<Principal>;
  publicKey: Uint8Array;
}

/**
 * The principals a process currently accepts, by name. Entries are frozen copies, with
 * the public key decoded once. `replaceAll` swaps the whole list atomically when a new
 * one arrives with the map; authenticated connections look their principal up again on
 * every `authorize`, so a removed principal or a changed role takes effect at once.
 */
export class PrincipalTable {
  private entries = new Map<string, Entry>();
  private gen = 0;

  constructor(list: Iterable<unknown> = []) {
    this.replaceAll(list);
  }

  /**
   * Replace every principal. The list is validated first: on any error the table is left
   * unchanged.
   * @throws KvError INVALID_ARGUMENT for an invalid entry or a duplicate name
   */
  replaceAll(list: Iterable<unknown>): void {
    const principals = decodePrincipals(Array.from(list));
    const next = new Map<string, Entry>();
    for (const p of principals) {
      const frozen = Object.freeze({ ...p, roles: Object.freeze(p.roles.slice()) as Role[] });
      next.set(p.name, { principal: frozen, publicKey: fromHex(p.publicKey, PUBLIC_KEY_BYTES) });
    }
    this.entries = next;
    this.gen++;
  }

  /** The principal called `name`, or `undefined`. */
  get(name: string): Readonly<Principal> | undefined {
    return this.entries.get(name)?.principal;
  }

  /** The decoded public key of `name`, or `undefined`. */
  publicKeyOf(name: string): Uint8Array | undefined {
    return this.entries.get(name)?.publicKey;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Number of principals. */
  get size(): number {
    return this.entries.size;
  }

  /** Increases on every `replaceAll`. */
  get generation(): number {
    return this.gen;
  }

  /** Every principal, in name order. */
  list(): Readonly<Principal>[] {
    return Array.from(this.entries.values(), (e) => e.principal).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
