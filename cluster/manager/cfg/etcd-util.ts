import {
  ClientClosedError, EtcdLeaseInvalidError, castGrpcError, EtcdPermissionDeniedError, GRPCDeadlineExceededError,
  GRPCInvalidArgumentError, GRPCUnavailableError, isRecoverableError, type IKeyValue,
} from 'etcd3';
import { ErrorCode, KvError } from '../../../shared/errors.js';
import type { CfgEntry } from './cfg.js';

/** A key range in etcd's terms: [key, rangeEnd). */
export interface KeyRange {
  key: Buffer;
  rangeEnd: Buffer;
}

/**
 * The range of every key starting with `prefix`: the end is the prefix with its last byte
 * incremented (dropping trailing 0xff bytes); an empty prefix, or one of only 0xff bytes,
 * means "to the end of the keyspace", which etcd spells as a single zero byte.
 */
export function prefixRange(prefix: string): KeyRange {
  const key = Buffer.from(prefix, 'utf8');
  if (key.length === 0) return { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };
  let end = key.length;
  while (end > 0 && key[end - 1] === 0xff) end--;
  if (end === 0) return { key, rangeEnd: Buffer.from([0]) };
  const rangeEnd = Buffer.from(key.subarray(0, end));
  rangeEnd[end - 1] = key[end - 1]! + 1;
  return { key, rangeEnd };
}

/** etcd's int64 revisions arrive as decimal strings; ours are numbers. */
export function toRev(value: string | number | undefined | null): number {
  const n = Number(value ?? 0);
  if (!Number.isSafeInteger(n) || n < 0) throw KvError.protocol(`etcd sent an unusable revision ${String(value)}`);
  return n;
}

/** An etcd key-value as a {@link CfgEntry}. */
export function toEntry(kv: IKeyValue): CfgEntry {
  return {
    key: kv.key.toString('utf8'),
    value: new Uint8Array(kv.value.buffer, kv.value.byteOffset, kv.value.byteLength),
    modRev: toRev(kv.mod_revision),
    createRev: toRev(kv.create_revision),
    lease: kv.lease === undefined || kv.lease === null || kv.lease === '0' ? null : String(kv.lease),
  };
}

/**
 * The one place where etcd client errors become `KvError`s: an unknown lease is
 * NOT_FOUND, an unreachable cluster UNAVAILABLE, a deadline TIMEOUT.
 */
export function fromEtcdError(raw: unknown, what: string): KvError {
  if (raw instanceof KvError) return raw;
  // Errors from streams arrive as plain gRPC errors; type them by status code first.
  const err = raw instanceof Error ? castGrpcError(raw) : raw;
  const text = err instanceof Error ? err.message : String(err);
  const message = `etcd ${what} failed: ${text}`;
  if (err instanceof EtcdLeaseInvalidError) return KvError.notFound(message);
  if (err instanceof ClientClosedError) return KvError.clientClosed(message);
  if (err instanceof GRPCDeadlineExceededError) return new KvError(ErrorCode.TIMEOUT, message, {}, err);
  if (err instanceof EtcdPermissionDeniedError) return new KvError(ErrorCode.FORBIDDEN, message, {}, err);
  if (err instanceof GRPCInvalidArgumentError) return new KvError(ErrorCode.INVALID_ARGUMENT, message, {}, err);
  if (err instanceof GRPCUnavailableError || (err instanceof Error && isRecoverableError(err))) {
    return KvError.unavailable(message, {}, err);
  }
  return KvError.internal(message, {}, err);
}
