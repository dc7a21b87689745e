import { opName, type OpCode, type OpName } from '../protocol/ops.js';
import { hasRole, type Role } from './principal.js';

/**
 * Which roles each data operation (`Op` in shared/protocol/ops.ts) needs. The table is
 * keyed by `OpName`, so adding an op without a row here does not compile.
 *
 * The rule: an op needs `read` when its answer reveals stored data, `write` when it
 * changes data, and `scan` when it enumerates keys. So GAT (returns the value and moves
 * the TTL) and INCR/DECR (return the new counter value; INCR by 0 is a read) need both
 * `read` and `write`; SCAN needs `scan` and `read`. STATS needs `read`; PING needs
 * nothing; the backup ops need `admin`. Admin-API calls (served by the manager, not in this table) need `admin`,
 * which also grants every role here.
 */
const OP_ROLES: Readonly<Record<OpName, readonly Role[]>> = Object.freeze({
  GET: Object.freeze(['read'] as const),
  GAT: Object.freeze(['write', 'read'] as const),
  SET: Object.freeze(['write'] as const),
  ADD: Object.freeze(['write'] as const),
  REPLACE: Object.freeze(['write'] as const),
  APPEND: Object.freeze(['write'] as const),
  PREPEND: Object.freeze(['write'] as const),
  DELETE: Object.freeze(['write'] as const),
  INCR: Object.freeze(['write', 'read'] as const),
  DECR: Object.freeze(['write', 'read'] as const),
  TOUCH: Object.freeze(['write'] as const),
  SCAN: Object.freeze(['scan', 'read'] as const),
  STATS: Object.freeze(['read'] as const),
  PING: Object.freeze([] as const),
  AUTH: Object.freeze([] as const),
  // A backup reads every item of a unit and its change history: whole-cluster access.
  BACKUP_PAGE: Object.freeze(['admin'] as const),
  BACKUP_CHANGES: Object.freeze(['admin'] as const),
});

/** The role the admin API requires. */
export const ADMIN_ROLE: Role = 'admin';

// An op code outside the table (a newer client, or garbage that slipped past the frame
// checks) is denied to everyone but admins rather than allowed.
const UNKNOWN_OP_ROLES: readonly Role[] = Object.freeze(['admin'] as const);

/**
 * Every role `op` needs, the first being the one the op is classed under. Empty for ops
 * that need no authentication (PING).
 */
export function requiredRoles(op: OpCode | number): readonly Role[] {
  const name = opName(op);
  return name === undefined ? UNKNOWN_OP_ROLES : OP_ROLES[name];
}

/**
 * The role `op` is classed under: `read` for GET and STATS, `write` for every mutation
 * (GAT included, since it moves the TTL), `scan` for SCAN, `null` for PING (no
 * authentication needed), `admin` for a code outside `Op`. Some ops need a second role
 * as well (see `requiredRoles`); authorise with `isAllowed`, not with this alone.
 */
export function requiredRole(op: OpCode | number): Role | null {
  return requiredRoles(op)[0] ?? null;
}

/** Whether a principal with `roles` may run `op`. */
export function isAllowed(roles: readonly Role[], op: OpCode | number): boolean {
  return requiredRoles(op).every((role) => hasRole(roles, role));
}

/** The first role `op` needs that `roles` does not grant, or `null` when allowed. */
export function missingRole(roles: readonly Role[], op: OpCode | number): Role | null {
  for (const role of requiredRoles(op)) if (!hasRole(roles, role)) return role;
  return null;
}

/** Whether `op` can run on a connection that has not authenticated. */
export function isPublicOp(op: OpCode | number): boolean {
  return requiredRoles(op).length === 0;
}

/** The op table, for docs and tests: op name → roles. */
export function roleTable(): Readonly<Record<OpName, readonly Role[]>> {
  return OP_ROLES;
}
