// FNV-1a over the key bytes, then murmur3's finaliser so the low bits used as the
// bucket index depend on every byte. The string and byte versions must agree. A per-table
// seed replaces part of the offset basis so that colliding keys cannot be precomputed.
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** `hashKey` result for a string that is not a binary key (a char code above 255). */
export const NOT_BINARY = -1;

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & 0x7fffffff;
}

/** A random seed for `hashKey` / `hashBytes`. */
export function randomHashSeed(): number {
  return (Math.random() * 0x100000000) | 0;
}

/** Hash of a binary-string key (char codes are bytes), or NOT_BINARY. */
export function hashKey(key: string, seed: number): number {
  let h = FNV_OFFSET ^ seed;
  let all = 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    all |= c;
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  return all > 0xff ? NOT_BINARY : finish(h);
}

/** Hash of the key stored in `buf[start, start + length)`; equals `hashKey` of its string. */
export function hashBytes(buf: Uint8Array, start: number, length: number, seed: number): number {
  let h = FNV_OFFSET ^ seed;
  const end = start + length;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
  return finish(h);
}
