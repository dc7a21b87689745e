import type { McPrincipal, McRole } from './backend.js';
import type { McCommand } from './commands.js';
import type { BinCommand } from './binary-commands.js';

const NONE: readonly McRole[] = Object.freeze([]);
const READ: readonly McRole[] = Object.freeze(['read']);
const WRITE: readonly McRole[] = Object.freeze(['write']);
const READ_WRITE: readonly McRole[] = Object.freeze(['read', 'write']);
const ADMIN: readonly McRole[] = Object.freeze(['admin']);
const SCAN: readonly McRole[] = Object.freeze(['scan']);

/**
 * Roles a command needs: returning stored data needs `read`, changing it needs `write`,
 * both need both (`gat`, `incr`: the answer reveals the value). Commands that touch no
 * data (`version`, `stats`, `mn`, …) need none beyond being authenticated.
 */
export function requiredRoles(cmd: McCommand): readonly McRole[] {
  switch (cmd.kind) {
    case 'get':
      return cmd.op === 'gat' || cmd.op === 'gats' ? READ_WRITE : READ;
    case 'store':
    case 'delete':
    case 'touch':
    case 'ms':
    case 'md':
      return WRITE;
    case 'counter':
    case 'ma':
      return READ_WRITE;
    case 'mg':
      return cmd.flags.ttl !== null || cmd.flags.vivifyTtl !== null ? READ_WRITE : READ;
    case 'flush':
      return ADMIN;
    case 'stats':
      // Listing keys is what the scan role guards (DESIGN §9).
      return cmd.args[0] === 'cachedump' ? SCAN : NONE;
    default:
      return NONE;
  }
}

/** Roles a binary-protocol command needs, by the same rules as the text commands. */
export function binaryRequiredRoles(cmd: BinCommand): readonly McRole[] {
  switch (cmd.kind) {
    case 'get':
      return cmd.ttl !== null ? READ_WRITE : READ;
    case 'store':
    case 'delete':
    case 'touch':
      return WRITE;
    case 'counter':
      return READ_WRITE;
    case 'flush':
      return ADMIN;
    default:
      return NONE;
  }
}

/** Whether `principal` holds every role `cmd` needs. */
export function isAllowed(principal: McPrincipal, cmd: McCommand): boolean {
  return hasRoles(principal, requiredRoles(cmd));
}

/** Whether `principal` holds every role in `roles`. */
export function hasRoles(principal: McPrincipal, roles: readonly McRole[]): boolean {
  for (const role of roles) if (!principal.roles.has(role)) return false;
  return true;
}

/** Credentials from the data block of the authentication `set`. */
export interface McCredentials {
  user: string;
  password: string;
}

/**
 * Split `user password` (UTF-8). The user is the first word; the password is the rest of
 * the block after the single space that follows it, so it may itself contain spaces.
 * Null when either part is missing.
 */
export function parseCredentials(payload: Uint8Array): McCredentials | null {
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8');
  const space = text.indexOf(' ');
  if (space <= 0 || space === text.length - 1) return null;
  const user = text.slice(0, space);
  const password = text.slice(space + 1);
  if (/[\x00-\x1f\x7f]/.test(user) || /[\r\n]/.test(password)) return null;
  return { user, password };
}
