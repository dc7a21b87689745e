/**
 * Parsing of what a page sends on the dashboard's feed: JSON text, one of two small
 * messages. Anything else is null, and the connection is closed.
 */
import type { FeedClientMessage } from '../ui/feed-protocol.js';

/** Largest unit number a follow may name (units are below 2^32). */
const MAX_UNIT = 2 ** 32 - 1;
/** Longest key a follow may name, bytes of UTF-8 (as the SDK). */
export const MAX_FOLLOW_KEY_BYTES = 250;

function isFollowKey(v: unknown): v is string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_FOLLOW_KEY_BYTES) return false;
  const bytes = Buffer.from(v, 'utf8');
  // A lone surrogate would not survive the trip to bytes and back.
  return bytes.length <= MAX_FOLLOW_KEY_BYTES && bytes.toString('utf8') === v;
}

/** The message in `text`, or null when it is not a valid one. */
export function parseFeedMessage(text: string): FeedClientMessage | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const m = v as Record<string, unknown>;
  if (m.t === 'auth') {
    return typeof m.token === 'string' && /^[0-9a-f]{64}$/i.test(m.token) && Object.keys(m).length === 2 ? { t: 'auth', token: m.token } : null;
  }
  if (m.t === 'follow') {
    const hasKey = Object.hasOwn(m, 'key');
    if (Object.keys(m).length !== (hasKey ? 3 : 2) || !Object.hasOwn(m, 'unit')) return null;
    if (m.unit === null) return hasKey ? null : { t: 'follow', unit: null };
    if (!(typeof m.unit === 'number' && Number.isSafeInteger(m.unit) && m.unit >= 0 && m.unit <= MAX_UNIT)) return null;
    if (!hasKey) return { t: 'follow', unit: m.unit };
    return isFollowKey(m.key) ? { t: 'follow', unit: m.unit, key: m.key } : null;
  }
  return null;
}
