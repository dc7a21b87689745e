// Per-item metadata is one 32-byte record per slot in a single buffer, so a lookup
// touches one cache line instead of one per field. Offsets are in 32-bit words.
/** log2 of the words per record. */
export const RECORD_SHIFT = 3;
/** Bytes per record. */
export const RECORD_BYTES = 4 << RECORD_SHIFT;
/** Chunk address; the next free slot while the slot is free. */
export const F_LOC = 0;
export const F_VALUE_LEN = 1;
export const F_FLAGS = 2;
/** Absolute expiry in unix seconds; 0 = never. */
export const F_EXP_AT = 3;
/** CAS split in two words: low 32 bits, then the high 21. */
export const F_CAS_LO = 4;
export const F_CAS_HI = 5;
/** LRU neighbour towards the head (more recent), or -1. */
export const F_PREV = 6;
/** LRU neighbour towards the tail (less recent), or -1. */
export const F_NEXT = 7;
