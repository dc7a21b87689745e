import type { McMetaFlags } from './commands.js';
import type { Tokens } from './tokens.js';

/** Meta commands with their flags. */
export type McMetaKind = 'mg' | 'ms' | 'md' | 'ma';

/**
 * Flags each meta command accepts. memcached knows more (`h`, `l`, `R`, `E`, `x`, …);
 * those need item state the cluster does not keep, so they are refused rather than
 * silently ignored. `u` (no LRU bump) has nothing to do here and is accepted.
 */
const ACCEPTED: Readonly<Record<McMetaKind, string>> = Object.freeze({
  mg: 'bcfkOqstvTNu',
  ms: 'bcCFIkOqTM',
  md: 'bCIkOqT',
  ma: 'bckOqtvTNJDM',
});

/** Flags that add a token to an answer. */
const RETURNED = 'kOcfst';

/** memcached refuses a command whose token count passes 20 (command, key and flags). */
export const MAX_META_TOKENS = 19;

/** Longest opaque token, `O` included. */
const MAX_OPAQUE_BYTES = 32;

export function defaultMetaFlags(): McMetaFlags {
  return {
    isBase64Key: false, opaque: null, isQuiet: false, hasValue: false, ttl: null, vivifyTtl: null,
    clientFlags: 0, compareCas: null, isInvalidate: false, mode: null, delta: 1n, initial: 0n, returned: '',
  };
}

/**
 * Parse the flag tokens `[from, tokens.count)` of a meta command. Returns the flags or the
 * exact `CLIENT_ERROR` line memcached would answer.
 */
export function parseMetaFlags(kind: McMetaKind, tokens: Tokens, from: number): McMetaFlags | string {
  const f = defaultMetaFlags();
  const accepted = ACCEPTED[kind];
  let seen = '';
  for (let i = from; i < tokens.count; i++) {
    const c = String.fromCharCode(tokens.line[tokens.starts[i]!]!);
    if (seen.includes(c)) return 'CLIENT_ERROR duplicate flag';
    seen += c;
    if (!accepted.includes(c)) return 'CLIENT_ERROR invalid flag';
    if (RETURNED.includes(c)) f.returned += c;
    switch (c) {
      case 'b': f.isBase64Key = true; break;
      case 'q': f.isQuiet = true; break;
      case 'v': f.hasValue = true; break;
      case 'I': f.isInvalidate = true; break;
      case 'O': {
        if (tokens.length(i) > MAX_OPAQUE_BYTES) return 'CLIENT_ERROR opaque token too long';
        f.opaque = tokens.text(i).slice(1);
        break;
      }
      case 'T': {
        const v = tokens.i32(i, 1);
        if (v === null) return 'CLIENT_ERROR bad token in command line format';
        f.ttl = v;
        break;
      }
      case 'N': {
        const v = tokens.i32(i, 1);
        if (v === null) return 'CLIENT_ERROR bad token in command line format';
        f.vivifyTtl = v;
        break;
      }
      case 'F': {
        const v = tokens.u32(i, 1);
        if (v === null) return 'CLIENT_ERROR bad command line format';
        f.clientFlags = v;
        break;
      }
      case 'C': {
        const v = tokens.u64(i, 1);
        if (v === null) return 'CLIENT_ERROR bad token in command line format';
        f.compareCas = v;
        break;
      }
      case 'M': {
        if (tokens.length(i) !== 2) return 'CLIENT_ERROR incorrect length for M token';
        f.mode = String.fromCharCode(tokens.line[tokens.starts[i]! + 1]!);
        break;
      }
      case 'D': {
        const v = tokens.u64(i, 1);
        if (v === null) return 'CLIENT_ERROR invalid numeric delta value';
        f.delta = v;
        break;
      }
      case 'J': {
        const v = tokens.u64(i, 1);
        if (v === null) return 'CLIENT_ERROR invalid numeric initial value';
        f.initial = v;
        break;
      }
      default:
        // k, c, f, s, t only shape the answer; u is accepted and has no effect.
        break;
    }
  }
  if (kind === 'ms' && f.mode !== null && !'EAPRS'.includes(f.mode)) return 'CLIENT_ERROR invalid mode for ms M token';
  if (kind === 'ma' && f.mode !== null && !'ID+-'.includes(f.mode)) return 'CLIENT_ERROR invalid mode for ma M token';
  return f;
}
