import { Status, statusName, type StatusCode } from './status.js';

/** Stable error codes. Branch on these, never on message text. */
export const ErrorCode = Object.freeze({
  NOT_FOUND: 'KV_ERR_NOT_FOUND',
  EXISTS: 'KV_ERR_EXISTS',
  NOT_STORED: 'KV_ERR_NOT_STORED',
  NOT_MY_BUCKET: 'KV_ERR_NOT_MY_BUCKET',
  AUTH_NEEDED: 'KV_ERR_AUTH_NEEDED',
  AUTH_FAILED: 'KV_ERR_AUTH_FAILED',
  FORBIDDEN: 'KV_ERR_FORBIDDEN',
  TOO_LARGE: 'KV_ERR_TOO_LARGE',
  OUT_OF_MEMORY: 'KV_ERR_OUT_OF_MEMORY',
  BAD_REQUEST: 'KV_ERR_BAD_REQUEST',
  BUSY: 'KV_ERR_BUSY',
  TIMEOUT: 'KV_ERR_TIMEOUT',
  UNAVAILABLE: 'KV_ERR_UNAVAILABLE',
  INTERNAL: 'KV_ERR_INTERNAL',
  /** The node's disk is full: writes fail, reads go on, writes resume once space returns. */
  NO_SPACE: 'KV_ERR_NO_SPACE',
  /** The write's durability cannot be met (no replication, or too few copies at the active's epoch); it was not executed. */
  DURABILITY_IMPOSSIBLE: 'KV_ERR_DURABILITY_IMPOSSIBLE',
  /** The connection to a node closed or failed before the answer arrived. */
  CONNECTION_CLOSED: 'KV_ERR_CONNECTION_CLOSED',
  /** The client was closed or destroyed. */
  CLIENT_CLOSED: 'KV_ERR_CLIENT_CLOSED',
  /** A caller passed an invalid argument (caught before anything was sent). */
  INVALID_ARGUMENT: 'KV_ERR_INVALID_ARGUMENT',
  /** A node answered with something this client cannot understand. */
  PROTOCOL: 'KV_ERR_PROTOCOL',
  /**
   * A range scan could not stay exact within its deadline; `details.resumeFrom` (SDK) or
   * `details.cursor` (proxy) resumes it exactly. Retryable.
   */
  SCAN_INTERRUPTED: 'KV_ERR_SCAN_INTERRUPTED',
  /**
   * A backup directory cannot be used: not a PandaKV backup, another format version, or
   * a file missing, truncated or failing its checksum (docs/backup.md). Nothing was written.
   */
  BACKUP_INVALID: 'KV_ERR_BACKUP_INVALID',
} as const);

export type KvErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** True when `code` (from a wire message) is one of the stable codes. */
export function isErrorCode(code: string): code is KvErrorCode {
  return CODES.has(code);
}

/** Details a node may attach to an error answer. */
export interface KvErrorDetails {
  /** Wire status the error came from, when it came from a node. */
  status?: number;
  /** For NOT_MY_BUCKET: the epoch of the node that refused. */
  epoch?: number;
  /** For BUSY: how long the server asked the client to wait. */
  retryAfterMs?: number;
  /** Whether the operation is known not to have executed (safe to retry). */
  isSafeToRetry?: boolean;
  /** Node that produced the error, when known. */
  node?: string;
  /**
   * For SCAN_INTERRUPTED from the SDK: the raw bytes to pass as `start` to resume the
   * scan exactly (every key before it was returned, none after it).
   */
  resumeFrom?: Uint8Array;
  /** For SCAN_INTERRUPTED from a proxy: the signed cursor to resume with, when there is one. */
  cursor?: string;
}

/**
 * The one error type of PandaKV. `code` is stable; `message` is for humans.
 */
export class KvError extends Error {
  readonly code: KvErrorCode;
  readonly details: KvErrorDetails;

  constructor(code: KvErrorCode, message: string, details: KvErrorDetails = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'KvError';
    this.code = code;
    this.details = details;
  }

  static notFound(message = 'key not found', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.NOT_FOUND, message, details);
  }
  static exists(message = 'key exists or cas mismatch', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.EXISTS, message, details);
  }
  static notStored(message = 'item not stored', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.NOT_STORED, message, details);
  }
  static notMyBucket(epoch: number, details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.NOT_MY_BUCKET, `node does not own the bucket (node epoch ${epoch})`, { ...details, epoch, isSafeToRetry: true });
  }
  static authNeeded(message = 'authentication needed', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.AUTH_NEEDED, message, details);
  }
  static authFailed(message = 'authentication failed', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.AUTH_FAILED, message, details);
  }
  static forbidden(message = 'operation not allowed for this principal', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.FORBIDDEN, message, details);
  }
  static tooLarge(message = 'too large', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.TOO_LARGE, message, details);
  }
  static outOfMemory(message = 'out of memory', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.OUT_OF_MEMORY, message, details);
  }
  static badRequest(message = 'bad request', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.BAD_REQUEST, message, details);
  }
  static busy(message = 'busy, retry later', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.BUSY, message, details);
  }
  static timeout(message = 'operation timed out', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.TIMEOUT, message, details);
  }
  static unavailable(message = 'unavailable', details?: KvErrorDetails, cause?: unknown): KvError {
    return new KvError(ErrorCode.UNAVAILABLE, message, details, cause);
  }
  static internal(message = 'internal error', details?: KvErrorDetails, cause?: unknown): KvError {
    return new KvError(ErrorCode.INTERNAL, message, details, cause);
  }
  static noSpace(message = 'no space left on the node\'s disk; writes are refused until space returns', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.NO_SPACE, message, details);
  }
  static durabilityImpossible(message = 'the durability asked for cannot be met now', details?: KvErrorDetails): KvError {
    return new KvError(ErrorCode.DURABILITY_IMPOSSIBLE, message, { ...details, isSafeToRetry: true });
  }
  static connectionClosed(message = 'connection closed', details?: KvErrorDetails, cause?: unknown): KvError {
    return new KvError(ErrorCode.CONNECTION_CLOSED, message, details, cause);
  }
  static clientClosed(message = 'client closed'): KvError {
    return new KvError(ErrorCode.CLIENT_CLOSED, message);
  }
  static invalidArgument(message: string): KvError {
    return new KvError(ErrorCode.INVALID_ARGUMENT, message);
  }
  static protocol(message: string, cause?: unknown): KvError {
    return new KvError(ErrorCode.PROTOCOL, message, {}, cause);
  }
  static backupInvalid(message: string, cause?: unknown): KvError {
    return new KvError(ErrorCode.BACKUP_INVALID, message, {}, cause);
  }
  static scanInterrupted(message = 'scan interrupted: it could not stay exact within its deadline', details?: KvErrorDetails, cause?: unknown): KvError {
    return new KvError(ErrorCode.SCAN_INTERRUPTED, message, { ...details, isSafeToRetry: true }, cause);
  }
}

/** Wire status → error code. The only place this mapping lives. */
const STATUS_TO_CODE: Readonly<Record<number, KvErrorCode>> = Object.freeze({
  [Status.NOT_FOUND]: ErrorCode.NOT_FOUND,
  [Status.EXISTS]: ErrorCode.EXISTS,
  [Status.NOT_STORED]: ErrorCode.NOT_STORED,
  [Status.NOT_MY_BUCKET]: ErrorCode.NOT_MY_BUCKET,
  [Status.AUTH_NEEDED]: ErrorCode.AUTH_NEEDED,
  [Status.AUTH_FAILED]: ErrorCode.AUTH_FAILED,
  [Status.FORBIDDEN]: ErrorCode.FORBIDDEN,
  [Status.TOO_LARGE]: ErrorCode.TOO_LARGE,
  [Status.OUT_OF_MEMORY]: ErrorCode.OUT_OF_MEMORY,
  [Status.BAD_REQUEST]: ErrorCode.BAD_REQUEST,
  [Status.BUSY]: ErrorCode.BUSY,
  [Status.TIMEOUT]: ErrorCode.TIMEOUT,
  [Status.UNAVAILABLE]: ErrorCode.UNAVAILABLE,
  [Status.INTERNAL]: ErrorCode.INTERNAL,
  [Status.NO_SPACE]: ErrorCode.NO_SPACE,
  [Status.DURABILITY_IMPOSSIBLE]: ErrorCode.DURABILITY_IMPOSSIBLE,
  [Status.SCAN_INTERRUPTED]: ErrorCode.SCAN_INTERRUPTED,
});

/** Statuses after which the request is known not to have run, so any retry is safe. */
const NOT_EXECUTED: ReadonlySet<number> = new Set([
  Status.NOT_MY_BUCKET, Status.AUTH_NEEDED, Status.AUTH_FAILED, Status.FORBIDDEN,
  Status.TOO_LARGE, Status.BAD_REQUEST, Status.BUSY, Status.DURABILITY_IMPOSSIBLE, Status.SCAN_INTERRUPTED,
]);

/**
 * Turn a non-OK wire status into a `KvError`. Exactly one function does this.
 * `message` is the node's optional text; `epoch` accompanies NOT_MY_BUCKET.
 */
export function errorFromStatus(status: StatusCode | number, message?: string, details: KvErrorDetails = {}): KvError {
  const code = STATUS_TO_CODE[status];
  if (code === undefined) {
    return KvError.protocol(`unknown wire status ${status}${message ? `: ${message}` : ''}`);
  }
  const name = statusName(status) ?? String(status);
  const all: KvErrorDetails = { ...details, status, isSafeToRetry: NOT_EXECUTED.has(status) };
  if (status === Status.NOT_MY_BUCKET) {
    return new KvError(code, message ?? `node does not own the bucket (node epoch ${details.epoch ?? '?'})`, all);
  }
  return new KvError(code, message ?? name.toLowerCase().replace(/_/g, ' '), all);
}

/** Error code → the wire status a proxy answers with. The inverse of `errorFromStatus`. */
const CODE_TO_STATUS: Readonly<Record<string, number>> = Object.freeze({
  ...Object.fromEntries(Object.entries(STATUS_TO_CODE).map(([status, code]) => [code, Number(status)])),
  [ErrorCode.CONNECTION_CLOSED]: Status.UNAVAILABLE,
  [ErrorCode.CLIENT_CLOSED]: Status.UNAVAILABLE,
  [ErrorCode.INVALID_ARGUMENT]: Status.BAD_REQUEST,
  [ErrorCode.PROTOCOL]: Status.INTERNAL,
  [ErrorCode.BACKUP_INVALID]: Status.BAD_REQUEST,
});

/** The wire status that reports `err` to a client (used by the proxy). */
export function statusFromError(err: KvError): StatusCode {
  return (CODE_TO_STATUS[err.code] ?? Status.INTERNAL) as StatusCode;
}
