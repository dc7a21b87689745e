import type { McStoreMode } from './backend.js';

/** The four classic retrieval commands. */
export type McRetrievalOp = 'get' | 'gets' | 'gat' | 'gats';

/** `get`/`gets`/`gat`/`gats <keys>`; `ttl` is set for the touching forms. */
export interface McGetCommand {
  kind: 'get';
  op: McRetrievalOp;
  keys: Uint8Array[];
  ttl: number;
}

/** `set`/`add`/`replace`/`append`/`prepend`/`cas` with its data block. */
export interface McStoreCommand {
  kind: 'store';
  mode: McStoreMode;
  key: Uint8Array;
  flags: number;
  ttl: number;
  value: Uint8Array;
  /** The `cas unique` of a `cas` command; 0n otherwise. */
  cas: bigint;
  isNoreply: boolean;
}

export interface McDeleteCommand {
  kind: 'delete';
  key: Uint8Array;
  isNoreply: boolean;
}

export interface McCounterCommand {
  kind: 'counter';
  op: 'incr' | 'decr';
  key: Uint8Array;
  delta: bigint;
  isNoreply: boolean;
}

export interface McTouchCommand {
  kind: 'touch';
  key: Uint8Array;
  ttl: number;
  isNoreply: boolean;
}

/** `flush_all [delay] [noreply]`: remove every item, now or after `delaySec`. */
export interface McFlushCommand {
  kind: 'flush';
  delaySec: number;
  isNoreply: boolean;
}

export interface McVerbosityCommand {
  kind: 'verbosity';
  isNoreply: boolean;
}

export interface McStatsCommand {
  kind: 'stats';
  /** Words after `stats` (only the bare form is served). */
  args: string[];
}

/** Commands without arguments: `version`, `quit`, and the meta no-op `mn`. */
export interface McBareCommand {
  kind: 'version' | 'quit' | 'mn';
}

/** Flags of a meta command, parsed. Absent flags keep these defaults. */
export interface McMetaFlags {
  /** b: the key token is base64. */
  isBase64Key: boolean;
  /** O: opaque token copied back verbatim (without the `O`), or null. */
  opaque: string | null;
  /** q: quiet mode, nominal answers are left out. */
  isQuiet: boolean;
  /** v: return the value. */
  hasValue: boolean;
  /** T: new TTL, or null. */
  ttl: number | null;
  /** N: vivify on miss with this TTL, or null. */
  vivifyTtl: number | null;
  /** F: client flags for `ms`. */
  clientFlags: number;
  /** C: compare this cas, or null. */
  compareCas: bigint | null;
  /** I: invalidate. */
  isInvalidate: boolean;
  /** M: mode character, or null. */
  mode: string | null;
  /** D: delta for `ma`. */
  delta: bigint;
  /** J: initial value for `ma` when vivifying. */
  initial: bigint;
  /**
   * Flags that add a token to the answer (`k`, `O`, `c`, `f`, `s`, `t`), in request order,
   * which is the order memcached echoes them in.
   */
  returned: string;
}

export interface McMetaGetCommand {
  kind: 'mg';
  key: Uint8Array;
  flags: McMetaFlags;
}

export interface McMetaSetCommand {
  kind: 'ms';
  key: Uint8Array;
  value: Uint8Array;
  flags: McMetaFlags;
}

export interface McMetaDeleteCommand {
  kind: 'md';
  key: Uint8Array;
  flags: McMetaFlags;
}

export interface McMetaArithmeticCommand {
  kind: 'ma';
  key: Uint8Array;
  flags: McMetaFlags;
}

export type McMetaCommand = McMetaGetCommand | McMetaSetCommand | McMetaDeleteCommand | McMetaArithmeticCommand;

export type McCommand =
  | McGetCommand | McStoreCommand | McDeleteCommand | McCounterCommand | McTouchCommand
  | McFlushCommand | McVerbosityCommand | McStatsCommand | McBareCommand | McMetaCommand;

/**
 * Input the parser could not turn into a command. `line` is the exact answer
 * (`ERROR`, `CLIENT_ERROR …`, `SERVER_ERROR …`). When `isFatal`, the stream cannot be
 * resynced and the connection must close after answering.
 */
export interface McParseError {
  kind: 'error';
  line: string;
  isFatal: boolean;
  /** The line asked for `noreply`: classic commands then leave the error out too. */
  isNoreply: boolean;
}

export type McParseResult = McCommand | McParseError;
