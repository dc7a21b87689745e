/**
 * Throughput of `bucketOf` on ASCII string keys, the SDK's hot path.
 * Run directly: `node dist/bench/keystream-bench.js [keys] [keyBytes]`.
 */

import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { bucketOf } from '../shared/keystream.js';

export interface KeystreamBenchOptions {
  /** Distinct keys hashed per round. @default 100000 */
  keys?: number;
  /** Length of each ASCII key in bytes. @default 16 */
  keyBytes?: number;
  /** Timed rounds; the best one is reported. @default 5 */
  rounds?: number;
  /** Passes over the key array per round. @default 20 */
  passes?: number;
}

export interface KeystreamBenchResult {
  keysPerSec: number;
  nsPerKey: number;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-';

/**
 * Deterministic ASCII keys such as `user:42:k3Zq…`, exactly `keyBytes` long. Built from
 * char codes so each is a flat string, as keys read from the network or JSON are (a
 * `slice` of a longer string would be a sliced string, one more indirection per read).
 */
function makeKeys(count: number, keyBytes: number): string[] {
  const keys = new Array<string>(count);
  const codes: number[] = [];
  let state = 0x2545f491;
  for (let i = 0; i < count; i++) {
    const prefix = `user:${i}:`;
    codes.length = 0;
    for (let j = 0; j < keyBytes; j++) {
      state = (Math.imul(state, 1103515245) + 12345) | 0;
      codes.push(j < prefix.length ? prefix.charCodeAt(j) : ALPHABET.charCodeAt((state >>> 16) & 63));
    }
    keys[i] = String.fromCharCode(...codes);
  }
  return keys;
}

function pass(keys: readonly string[]): number {
  let sink = 0;
  for (let i = 0; i < keys.length; i++) sink = (sink + bucketOf(keys[i], 16)) | 0;
  return sink;
}

/** Hashes pre-built ASCII keys with `bucketOf(key, 16)`; warms up, then reports the best round. */
export function benchKeystream(opts: KeystreamBenchOptions = {}): KeystreamBenchResult {
  const count = opts.keys ?? 100_000;
  const keyBytes = opts.keyBytes ?? 16;
  const rounds = opts.rounds ?? 5;
  const passes = opts.passes ?? 20;
  const keys = makeKeys(count, keyBytes);
  let sink = 0;
  for (let i = 0; i < 5; i++) sink ^= pass(keys);
  let bestMs = Infinity;
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    for (let i = 0; i < passes; i++) sink ^= pass(keys);
    bestMs = Math.min(bestMs, performance.now() - start);
  }
  // Keeps the loop observable so it cannot be optimised away.
  if (sink === 0x7fffffff) process.stdout.write('');
  const hashed = count * passes;
  return { keysPerSec: Math.round((hashed / bestMs) * 1000), nsPerKey: (bestMs * 1e6) / hashed };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const keys = Number(process.argv[2] ?? 100_000);
  const keyBytes = Number(process.argv[3] ?? 16);
  const { keysPerSec, nsPerKey } = benchKeystream({ keys, keyBytes });
  process.stdout.write(`bucketOf, ${keyBytes}-byte ASCII keys: ${(keysPerSec / 1e6).toFixed(2)} M keys/s (${nsPerKey.toFixed(1)} ns/key)\n`);
}
