import type { Durability } from '../../shared/protocol/frames.js';

/** Options of `ClusterBackup` (`pandakv backup`). */
export interface BackupOptions {
  /** Most units read in one pass over a node's items; their items are held in memory until written. @default 64 */
  unitsPerPass: number;
  /** Items per BACKUP_PAGE request. @default 2048 */
  pageItems: number;
  /** Deadline of each request to a node, ms. @default 30000 */
  requestTimeoutMs: number;
  /** Give up when no unit finished for this long (nodes down, map stuck), ms. @default 120000 */
  idleTimeoutMs: number;
  /** Times one unit may be read again (moved, change log overtaken) before the backup fails. @default 50 */
  maxUnitAttempts: number;
  /** Waits between rounds that finished nothing, ms, jittered. @default [50, 100, 250, 500, 1000] */
  backoffMs: number[];
  /** Pause after each pass over a node, ms, to lighten the backup's load on a busy cluster. @default 0 */
  paceMs: number;
}

export const BACKUP_DEFAULTS: Readonly<BackupOptions> = Object.freeze({
  unitsPerPass: 64,
  pageItems: 2048,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
  maxUnitAttempts: 50,
  backoffMs: [50, 100, 250, 500, 1000],
  paceMs: 0,
});

/** Options of the backup directory writer. */
export interface BackupFilesOptions {
  /** A data file is closed and the next begun once it holds this many bytes. @default 67108864 */
  maxFileBytes: number;
}

export const BACKUP_FILES_DEFAULTS: Readonly<BackupFilesOptions> = Object.freeze({
  maxFileBytes: 64 * 1024 * 1024,
});

/** Options of `restoreBackup` (`pandakv restore`). */
export interface RestoreOptions {
  /** Writes in flight at once. @default 512 */
  concurrency: number;
  /** Durability of each write. @default 'none' */
  durability: Durability;
  /** Attempts per item for writes that failed without an answer (timeout, lost lane). @default 5 */
  maxAttempts: number;
  /** Deadline of each write, ms. @default 10000 */
  timeoutMs: number;
}

export const RESTORE_DEFAULTS: Readonly<RestoreOptions> = Object.freeze({
  concurrency: 512,
  durability: 'none' as Durability,
  maxAttempts: 5,
  timeoutMs: 10_000,
});
