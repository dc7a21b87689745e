/** 2^64: incr wraps around it. */
export const U64_MODULUS = 1n << 64n;
/** Largest counter value. */
export const U64_MAX = U64_MODULUS - 1n;
/** `parseCounter` result for a value that is not a decimal unsigned 64-bit number. */
export const NOT_A_COUNTER = -1n;

// 20 digits hold 2^64 - 1; 15 digits always fit a double exactly.
const MAX_DIGITS = 20;
const EXACT_DIGITS = 15;
const ZERO = 0x30;

/** True when `n` is a bigint in 0..2^64-1. */
export function isU64(n: unknown): n is bigint {
  return typeof n === 'bigint' && n >= 0n && n <= U64_MAX;
}

/**
 * The counter stored in `buf[start, start + length)`: ASCII decimal digits only, 1 to
 * 20 of them, at most 2^64 - 1. Anything else is `NOT_A_COUNTER`.
 */
export function parseCounter(buf: Uint8Array, start: number, length: number): bigint {
  if (length === 0 || length > MAX_DIGITS) return NOT_A_COUNTER;
  let head = 0;
  const headEnd = start + Math.min(length, EXACT_DIGITS);
  for (let i = start; i < headEnd; i++) {
    const d = buf[i]! - ZERO;
    if (d < 0 || d > 9) return NOT_A_COUNTER;
    head = head * 10 + d;
  }
  let value = BigInt(head);
  const end = start + length;
  for (let i = headEnd; i < end; i++) {
    const d = buf[i]! - ZERO;
    if (d < 0 || d > 9) return NOT_A_COUNTER;
    value = value * 10n + BigInt(d);
  }
  return value > U64_MAX ? NOT_A_COUNTER : value;
}

/** memcached incr: add and wrap at 2^64. */
export function increment(value: bigint, delta: bigint): bigint {
  const sum = value + delta;
  return sum >= U64_MODULUS ? sum - U64_MODULUS : sum;
}

/** memcached decr: subtract, never below zero. */
export function decrement(value: bigint, delta: bigint): bigint {
  return delta >= value ? 0n : value - delta;
}
