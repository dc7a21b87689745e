import { ErrorCode, type KvErrorCode } from '../../shared/errors.js';
import { BinStatus } from './binary-protocol.js';

/** How one error code is answered: a fixed line, or one built from the error's message. */
type Answer = string | ((message: string) => string);

const temporary = (code: KvErrorCode): string => `SERVER_ERROR temporary failure: ${code}`;
const clientError = (message: string): string => `CLIENT_ERROR ${oneLine(message) || 'bad request'}`;

/**
 * Backend error code → memcached answer. The only place this mapping lives. Temporary
 * failures keep the connection usable; the client may retry.
 */
const ANSWERS: Readonly<Record<KvErrorCode, Answer>> = Object.freeze({
  [ErrorCode.TOO_LARGE]: 'SERVER_ERROR object too large for cache',
  [ErrorCode.OUT_OF_MEMORY]: 'SERVER_ERROR out of memory storing object',
  [ErrorCode.NO_SPACE]: temporary(ErrorCode.NO_SPACE),
  [ErrorCode.BAD_REQUEST]: clientError,
  [ErrorCode.INVALID_ARGUMENT]: clientError,
  [ErrorCode.UNAVAILABLE]: temporary(ErrorCode.UNAVAILABLE),
  [ErrorCode.TIMEOUT]: temporary(ErrorCode.TIMEOUT),
  [ErrorCode.CONNECTION_CLOSED]: temporary(ErrorCode.CONNECTION_CLOSED),
  [ErrorCode.BUSY]: temporary(ErrorCode.BUSY),
  [ErrorCode.NOT_MY_BUCKET]: temporary(ErrorCode.NOT_MY_BUCKET),
  [ErrorCode.DURABILITY_IMPOSSIBLE]: temporary(ErrorCode.DURABILITY_IMPOSSIBLE),
  [ErrorCode.SCAN_INTERRUPTED]: temporary(ErrorCode.SCAN_INTERRUPTED),
  [ErrorCode.FORBIDDEN]: 'CLIENT_ERROR unauthorized',
  [ErrorCode.AUTH_NEEDED]: 'CLIENT_ERROR unauthorized',
  [ErrorCode.AUTH_FAILED]: 'CLIENT_ERROR unauthorized',
  [ErrorCode.NOT_FOUND]: `SERVER_ERROR ${ErrorCode.NOT_FOUND}`,
  [ErrorCode.EXISTS]: `SERVER_ERROR ${ErrorCode.EXISTS}`,
  [ErrorCode.NOT_STORED]: `SERVER_ERROR ${ErrorCode.NOT_STORED}`,
  [ErrorCode.INTERNAL]: `SERVER_ERROR ${ErrorCode.INTERNAL}`,
  [ErrorCode.CLIENT_CLOSED]: `SERVER_ERROR ${ErrorCode.CLIENT_CLOSED}`,
  [ErrorCode.PROTOCOL]: `SERVER_ERROR ${ErrorCode.PROTOCOL}`,
  // Raised by restore only; listed so the table stays total.
  [ErrorCode.BACKUP_INVALID]: `SERVER_ERROR ${ErrorCode.BACKUP_INVALID}`,
});

const KNOWN: ReadonlySet<string> = new Set(Object.keys(ANSWERS));

/** The error's KvError code, when it carries a known one. */
export function errorCodeOf(err: unknown): KvErrorCode | null {
  if (typeof err !== 'object' || err === null) return null;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && KNOWN.has(code) ? (code as KvErrorCode) : null;
}

/** The memcached answer line (without `\r\n`) for a backend failure. */
export function errorLine(err: unknown): string {
  const code = errorCodeOf(err);
  if (code === null) return `SERVER_ERROR ${ErrorCode.INTERNAL}`;
  const answer = ANSWERS[code];
  if (typeof answer === 'string') return answer;
  const message = (err as { message?: unknown }).message;
  return answer(typeof message === 'string' ? message : '');
}

/** A message made safe for one protocol line: no control characters, bounded length. */
function oneLine(message: string): string {
  return message.replace(/[\x00-\x1f\x7f]+/g, ' ').trim().slice(0, 200);
}

/** A binary-protocol status and the message sent as the response's value. */
export interface BinErrorAnswer {
  status: number;
  message: string;
}

const binTemporary = (code: KvErrorCode): BinErrorAnswer => ({ status: BinStatus.ETMPFAIL, message: `Temporary failure: ${code}` });
const UNAUTHORIZED: BinErrorAnswer = { status: BinStatus.EACCESS, message: 'No access' };

/** Backend error code → binary status, beside the text answers above. */
const BIN_ANSWERS: Readonly<Record<KvErrorCode, BinErrorAnswer | null>> = Object.freeze({
  [ErrorCode.TOO_LARGE]: { status: BinStatus.E2BIG, message: 'Too large.' },
  [ErrorCode.OUT_OF_MEMORY]: { status: BinStatus.ENOMEM, message: 'Out of memory' },
  // null: the message comes from the error itself.
  [ErrorCode.BAD_REQUEST]: null,
  [ErrorCode.INVALID_ARGUMENT]: null,
  [ErrorCode.UNAVAILABLE]: binTemporary(ErrorCode.UNAVAILABLE),
  [ErrorCode.TIMEOUT]: binTemporary(ErrorCode.TIMEOUT),
  [ErrorCode.CONNECTION_CLOSED]: binTemporary(ErrorCode.CONNECTION_CLOSED),
  [ErrorCode.BUSY]: binTemporary(ErrorCode.BUSY),
  [ErrorCode.NOT_MY_BUCKET]: binTemporary(ErrorCode.NOT_MY_BUCKET),
  [ErrorCode.DURABILITY_IMPOSSIBLE]: binTemporary(ErrorCode.DURABILITY_IMPOSSIBLE),
  [ErrorCode.NO_SPACE]: binTemporary(ErrorCode.NO_SPACE),
  [ErrorCode.SCAN_INTERRUPTED]: binTemporary(ErrorCode.SCAN_INTERRUPTED),
  [ErrorCode.FORBIDDEN]: UNAUTHORIZED,
  [ErrorCode.AUTH_NEEDED]: UNAUTHORIZED,
  [ErrorCode.AUTH_FAILED]: UNAUTHORIZED,
  [ErrorCode.NOT_FOUND]: { status: BinStatus.KEY_ENOENT, message: 'Not found' },
  [ErrorCode.EXISTS]: { status: BinStatus.KEY_EEXISTS, message: 'Data exists for key.' },
  [ErrorCode.NOT_STORED]: { status: BinStatus.NOT_STORED, message: 'Not stored.' },
  [ErrorCode.INTERNAL]: { status: BinStatus.EINTERNAL, message: `Internal error: ${ErrorCode.INTERNAL}` },
  [ErrorCode.CLIENT_CLOSED]: { status: BinStatus.EINTERNAL, message: `Internal error: ${ErrorCode.CLIENT_CLOSED}` },
  [ErrorCode.PROTOCOL]: { status: BinStatus.EINTERNAL, message: `Internal error: ${ErrorCode.PROTOCOL}` },
  [ErrorCode.BACKUP_INVALID]: { status: BinStatus.EINTERNAL, message: `Internal error: ${ErrorCode.BACKUP_INVALID}` },
});

/** The binary-protocol answer for a backend failure. */
export function binaryError(err: unknown): BinErrorAnswer {
  const code = errorCodeOf(err);
  if (code === null) return { status: BinStatus.EINTERNAL, message: `Internal error: ${ErrorCode.INTERNAL}` };
  const answer = BIN_ANSWERS[code];
  if (answer !== null) return answer;
  const message = (err as { message?: unknown }).message;
  return { status: BinStatus.EINVAL, message: `Invalid arguments: ${oneLine(typeof message === 'string' ? message : '') || 'bad request'}` };
}
