/** memcached: exptimes up to 30 days are relative seconds, larger ones unix times. */
export const MAX_RELATIVE_EXPTIME_S = 60 * 60 * 24 * 30;
/** Stored expiry meaning "never expires". */
export const NEVER = 0;
/** `absoluteExpiry` result for an item that is expired the moment it is written. */
export const ALREADY_EXPIRED = -1;
const MAX_STORED_S = 0xffffffff;

/** Whole seconds of a millisecond clock reading. */
export function toSeconds(nowMs: number): number {
  return Math.floor(nowMs / 1000);
}

/**
 * Absolute expiry in unix seconds for a memcached exptime given at `nowS`: 0 never,
 * 1..30 days relative, larger absolute, negative or absolute-in-the-past expired at once
 * (`ALREADY_EXPIRED`). Fractions are dropped; a non-finite exptime is the caller's
 * to reject.
 */
export function absoluteExpiry(exptime: number, nowS: number): number {
  const e = Math.trunc(exptime);
  if (e === 0) return NEVER;
  if (e < 0) return ALREADY_EXPIRED;
  const at = e <= MAX_RELATIVE_EXPTIME_S ? nowS + e : e;
  if (at <= nowS) return ALREADY_EXPIRED;
  return at > MAX_STORED_S ? MAX_STORED_S : at;
}

/** True when a stored expiry has passed at `nowS`. */
export function isExpiredAt(expAt: number, nowS: number): boolean {
  return expAt !== NEVER && expAt <= nowS;
}
