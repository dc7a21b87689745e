/**
 * Constants of memcached's binary protocol: the 24-byte header, the opcodes served and
 * the response statuses, as memcached's `protocol_binary.h` defines them.
 */

/** First byte of every request; a connection whose first byte is this speaks binary. */
export const REQUEST_MAGIC = 0x80;
/** First byte of every response. */
export const RESPONSE_MAGIC = 0x81;
export const HEADER_BYTES = 24;
/** `extras` of a counter request whose expiration means "do not create a missing key". */
export const NO_CREATE_EXPIRATION = 0xffffffff;

export const BinOp = Object.freeze({
  GET: 0x00,
  SET: 0x01,
  ADD: 0x02,
  REPLACE: 0x03,
  DELETE: 0x04,
  INCREMENT: 0x05,
  DECREMENT: 0x06,
  QUIT: 0x07,
  FLUSH: 0x08,
  GETQ: 0x09,
  NOOP: 0x0a,
  VERSION: 0x0b,
  GETK: 0x0c,
  GETKQ: 0x0d,
  APPEND: 0x0e,
  PREPEND: 0x0f,
  STAT: 0x10,
  SETQ: 0x11,
  ADDQ: 0x12,
  REPLACEQ: 0x13,
  DELETEQ: 0x14,
  INCREMENTQ: 0x15,
  DECREMENTQ: 0x16,
  QUITQ: 0x17,
  FLUSHQ: 0x18,
  APPENDQ: 0x19,
  PREPENDQ: 0x1a,
  VERBOSITY: 0x1b,
  TOUCH: 0x1c,
  GAT: 0x1d,
  GATQ: 0x1e,
  SASL_LIST_MECHS: 0x20,
  SASL_AUTH: 0x21,
  SASL_STEP: 0x22,
  GATK: 0x23,
  GATKQ: 0x24,
} as const);

export type BinOpCode = (typeof BinOp)[keyof typeof BinOp];

export const BinStatus = Object.freeze({
  SUCCESS: 0x00,
  KEY_ENOENT: 0x01,
  KEY_EEXISTS: 0x02,
  E2BIG: 0x03,
  EINVAL: 0x04,
  NOT_STORED: 0x05,
  DELTA_BADVAL: 0x06,
  AUTH_ERROR: 0x20,
  AUTH_CONTINUE: 0x21,
  /**
   * An authenticated principal lacks the role (Couchbase's extension of the protocol).
   * Not AUTH_ERROR: clients such as memjs treat that as a failed login and drop the connection.
   */
  EACCESS: 0x24,
  UNKNOWN_COMMAND: 0x81,
  ENOMEM: 0x82,
  NOT_SUPPORTED: 0x83,
  EINTERNAL: 0x84,
  EBUSY: 0x85,
  ETMPFAIL: 0x86,
} as const);

export type BinStatusCode = (typeof BinStatus)[keyof typeof BinStatus];

/**
 * Statuses that report a failure of the request itself (counted as errors), as opposed to
 * an outcome about the key (miss, exists, not stored).
 */
export function isErrorStatus(status: number): boolean {
  return status !== BinStatus.SUCCESS && status !== BinStatus.KEY_ENOENT && status !== BinStatus.KEY_EEXISTS
    && status !== BinStatus.NOT_STORED;
}

/** The header fields a response echoes from its request. */
export interface BinHeader {
  opcode: number;
  opaque: number;
}
