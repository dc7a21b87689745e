/**
 * SASL for the binary protocol: only PLAIN (RFC 4616), which carries a password
 * principal's name and password in one message, checked like the text protocol's login.
 */

/** The mechanisms `LIST MECHS` offers, space-separated. */
export const SASL_MECHANISMS = 'PLAIN';

export interface SaslPlainMessage {
  user: string;
  password: string;
}

/**
 * Parse a PLAIN message: `[authzid] NUL authcid NUL passwd`, UTF-8. Null when malformed,
 * when a part is empty or carries control characters, or when it asks to act as another
 * identity (an authzid other than the authcid).
 */
export function parseSaslPlain(data: Uint8Array): SaslPlainMessage | null {
  const first = data.indexOf(0);
  if (first < 0) return null;
  const second = data.indexOf(0, first + 1);
  if (second < 0 || data.indexOf(0, second + 1) >= 0) return null;
  const text = (s: number, e: number): string => Buffer.from(data.buffer, data.byteOffset + s, e - s).toString('utf8');
  const authzid = text(0, first);
  const user = text(first + 1, second);
  const password = text(second + 1, data.length);
  if (user === '' || password === '') return null;
  if (authzid !== '' && authzid !== user) return null;
  if (/[\x00-\x20\x7f]/.test(user) || /[\r\n]/.test(password)) return null;
  return { user, password };
}
