import type { McStoreMode } from './backend.js';

/**
 * Requests of memcached's binary protocol, parsed and checked. Every command carries the
 * request's `opcode` and `opaque`, which its response echoes.
 */
interface BinBase {
  opcode: number;
  opaque: number;
}

/** get/getq/getk/getkq and, with `ttl`, gat/gatq/gatk/gatkq. */
export interface BinGetCommand extends BinBase {
  kind: 'get';
  key: Uint8Array;
  /** Touch to this TTL while reading (gat*); null for plain gets. */
  ttl: number | null;
  /** A miss gets no answer. */
  isQuiet: boolean;
  /** The answer carries the key. */
  withKey: boolean;
}

export interface BinTouchCommand extends BinBase {
  kind: 'touch';
  key: Uint8Array;
  ttl: number;
}

/** set/add/replace/append/prepend and their quiet forms; `cas` 0n when not given. */
export interface BinStoreCommand extends BinBase {
  kind: 'store';
  mode: Exclude<McStoreMode, 'cas'>;
  key: Uint8Array;
  value: Uint8Array;
  flags: number;
  ttl: number;
  cas: bigint;
  isQuiet: boolean;
}

export interface BinDeleteCommand extends BinBase {
  kind: 'delete';
  key: Uint8Array;
  cas: bigint;
  isQuiet: boolean;
}

/** increment/decrement: a missing key is created holding `initial` unless `ttl` is null. */
export interface BinCounterCommand extends BinBase {
  kind: 'counter';
  op: 'incr' | 'decr';
  key: Uint8Array;
  delta: bigint;
  initial: bigint;
  /** Expiration of a created counter; null = do not create (0xffffffff on the wire). */
  ttl: number | null;
  cas: bigint;
  isQuiet: boolean;
}

export interface BinFlushCommand extends BinBase {
  kind: 'flush';
  delaySec: number;
  isQuiet: boolean;
}

export interface BinQuitCommand extends BinBase {
  kind: 'quit';
  isQuiet: boolean;
}

export interface BinStatCommand extends BinBase {
  kind: 'stat';
  /** The stats group asked for; empty for the general stats. */
  group: string;
}

/** Commands without arguments that need nothing of the backend. */
export interface BinBareCommand extends BinBase {
  kind: 'noop' | 'version' | 'verbosity' | 'sasl-list' | 'sasl-step';
}

/** SASL AUTH: `mechanism` from the key, the mechanism's first message as `data`. */
export interface BinSaslAuthCommand extends BinBase {
  kind: 'sasl-auth';
  mechanism: string;
  data: Uint8Array;
}

export type BinCommand =
  | BinGetCommand | BinTouchCommand | BinStoreCommand | BinDeleteCommand | BinCounterCommand | BinFlushCommand
  | BinQuitCommand | BinStatCommand | BinBareCommand | BinSaslAuthCommand;

/**
 * A request the parser refused, with the status to answer. When `isFatal`, the stream
 * cannot be followed any more: the connection answers and closes.
 */
export interface BinParseError extends BinBase {
  kind: 'error';
  status: number;
  message: string;
  isFatal: boolean;
}

export type BinParseResult = BinCommand | BinParseError;
