/**
 * Keys inside a node are "binary strings": one char per key byte (latin1), so plain
 * string comparison is byte order and ASCII keys need no conversion at all.
 */

/** True when every char of `s` is below 0x80. */
export function isAsciiString(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** UTF-8 encode a JS string and return its bytes as a binary string. */
export function utf8ToBinary(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** Bytes → binary string. */
export function bytesToBinary(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** Binary string → bytes (a new buffer). */
export function binaryToBytes(s: string): Uint8Array {
  return Buffer.from(s, 'latin1');
}

/**
 * Binary string → the best wire form: the string itself when ASCII (cheapest to
 * encode and to read), bytes otherwise.
 */
export function binaryToWire(s: string): string | Uint8Array {
  return isAsciiString(s) ? s : Buffer.from(s, 'latin1');
}

/** Binary string → JS string, decoding the bytes as UTF-8. */
export function binaryToUtf8(s: string): string {
  return isAsciiString(s) ? s : Buffer.from(s, 'latin1').toString('utf8');
}
