import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync, fchmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ErrorCode, KvError } from '../errors.js';
import { MAX_CREDENTIALS_BYTES, formatCredentials, keyCredentials, parseCredentials, type Credentials } from './credentials.js';
import { generateKeyPair, randomBytes, toHex, type KeyPair } from './keys.js';

/**
 * Reading and writing credentials files. A credentials file is a secret: it must be
 * readable by its owner only (mode 0600), like an ssh private key.
 */

// Windows has no POSIX modes to check.
const CHECKS_MODE = process.platform !== 'win32';

function ioError(message: string, cause: unknown): KvError {
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return new KvError(ErrorCode.INVALID_ARGUMENT, typeof code === 'string' ? `${message} (${code})` : message, {}, cause);
}

function attempt<T>(fn: () => T, message: string): T {
  try {
    return fn();
  } catch (err) {
    throw ioError(message, err);
  }
}

/**
 * Read and parse the credentials file at `path` (symlinks are followed; the file they
 * lead to is checked). Refuses a file that group or others may read or write
 * (`mode & 0o077`), naming the fix, and anything that is not a regular file.
 * @throws KvError INVALID_ARGUMENT for I/O errors, a permissive mode or bad content;
 *   messages name the path, never the content
 */
export function loadCredentials(path: string): Credentials {
  const fd = attempt(() => openSync(path, constants.O_RDONLY), `cannot open credentials file ${path}`);
  const data = Buffer.alloc(MAX_CREDENTIALS_BYTES + 1);
  try {
    const st = attempt(() => fstatSync(fd), `cannot read credentials file ${path}`);
    if (!st.isFile()) throw KvError.invalidArgument(`credentials file ${path} is not a regular file`);
    if (CHECKS_MODE && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw KvError.invalidArgument(`credentials file ${path} is accessible by group or others (mode ${mode}); run: chmod 600 ${path}`);
    }
    let length = 0;
    for (;;) {
      const n = attempt(() => readSync(fd, data, length, data.length - length, null), `cannot read credentials file ${path}`);
      if (n === 0) break;
      length += n;
      if (length > MAX_CREDENTIALS_BYTES) throw KvError.invalidArgument(`credentials file ${path} is larger than ${MAX_CREDENTIALS_BYTES} bytes`);
    }
    try {
      return parseCredentials(data.subarray(0, length).toString('utf8'));
    } catch (err) {
      // parseCredentials throws only KvErrors whose messages never quote the content.
      throw new KvError(ErrorCode.INVALID_ARGUMENT, `${path}: ${(err as Error).message}`, {}, err);
    }
  } finally {
    data.fill(0);
    closeSync(fd);
  }
}

/**
 * Write `creds` to `path` atomically with mode 0600: a temporary file in the same
 * directory (created 0600, exclusive), fsync, rename over `path`, fsync the directory.
 * An existing file at `path` is replaced.
 * @throws KvError INVALID_ARGUMENT for invalid credentials or an I/O error
 */
export function writeCredentials(path: string, creds: Credentials): void {
  const text = Buffer.from(formatCredentials(creds), 'utf8');
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${toHex(randomBytes(6))}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    // The umask can only narrow the mode; this pins it to 0600 regardless.
    if (CHECKS_MODE) fchmodSync(fd, 0o600);
    let at = 0;
    while (at < text.length) at += writeSync(fd, text, at, text.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing to clean up: the temporary file was never created or was already renamed.
    }
    throw ioError(`cannot write credentials file ${path}`, err);
  } finally {
    text.fill(0);
  }
  syncDir(dir);
}

function syncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } catch {
    // Some platforms and file systems cannot fsync a directory; the rename still happened.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/**
 * A server's own key pair (a node's or a manager's identity), kept in a credentials file
 * named for the server. Created with a fresh key pair (mode 0600) when missing.
 * @throws KvError INVALID_ARGUMENT when the file exists but is not a key credentials
 *   file, is readable by others, or cannot be written
 */
export function loadOrCreateKeyFile(path: string, name: string): KeyPair {
  let creds: Credentials;
  try {
    creds = loadCredentials(path);
  } catch (err) {
    const cause = (err as KvError).cause as { code?: unknown } | undefined;
    if (cause?.code !== 'ENOENT') throw err;
    const keyPair = generateKeyPair();
    writeCredentials(path, keyCredentials(name, keyPair));
    return keyPair;
  }
  if (creds.kind !== 'key') throw KvError.invalidArgument(`key file ${path} holds a password, not a key pair`);
  return { publicKey: creds.publicKey, secretKey: creds.secretKey };
}
