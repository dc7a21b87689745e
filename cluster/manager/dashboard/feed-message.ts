/**
 * Parsing of what a page sends on the dashboard's feed: JSON text, one of two small
 * messages. Anything else is null, and the connection is closed.
 */
import type { FeedClientMessage } from '../ui/feed-protocol.js';

/** Largest unit number a follow may name (units are below 2^32). */
const MAX_UNIT = 2 ** 32 - 1;

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
    if (Object.keys(m).length !== 2) return null;
    if (m.unit === null) return { t: 'follow', unit: null };
    return typeof m.unit === 'number' && Number.isSafeInteger(m.unit) && m.unit >= 0 && m.unit <= MAX_UNIT ? { t: 'follow', unit: m.unit } : null;
  }
  return null;
}
