/** Options shared by both config store backends. */
export interface CfgCommonOptions {
  /** Key prefix under which elections keep their participant keys. @default '__election/' */
  electionPrefix: string;
}

/** Options of the file backend (`file:PATH`). */
export interface FileCfgOptions extends CfgCommonOptions {
  /** Most recent events kept (in the file) for watches that start in the past. @default 64 */
  historyLength: number;
  /** fsync the temp file and the directory on every write; off only for tests. @default true */
  isFsyncEnabled: boolean;
  /** Largest state file accepted when opening, in bytes. @default 268435456 */
  maxFileBytes: number;
  /** Writes that may wait for the file; more fail at once with BUSY. @default 10000 */
  maxPendingWrites: number;
}

/** Options of the etcd backend (`etcd://HOST:PORT[,HOST:PORT]`). */
export interface EtcdCfgOptions extends CfgCommonOptions {
  /** How long connecting to etcd may take before the first request fails. @default 5000 */
  dialTimeoutMs: number;
  /** Deadline of each request. @default 10000 */
  requestTimeoutMs: number;
  /** First delay before a broken watch stream is reopened. @default 100 */
  watchRetryMinMs: number;
  /** Largest delay between attempts to reopen a watch stream. @default 5000 */
  watchRetryMaxMs: number;
}

export const CFG_COMMON_DEFAULTS: Readonly<CfgCommonOptions> = Object.freeze({
  electionPrefix: '__election/',
});

export const FILE_CFG_DEFAULTS: Readonly<FileCfgOptions> = Object.freeze({
  ...CFG_COMMON_DEFAULTS,
  historyLength: 64,
  isFsyncEnabled: true,
  maxFileBytes: 256 * 1024 * 1024,
  maxPendingWrites: 10_000,
});

export const ETCD_CFG_DEFAULTS: Readonly<EtcdCfgOptions> = Object.freeze({
  ...CFG_COMMON_DEFAULTS,
  dialTimeoutMs: 5000,
  requestTimeoutMs: 10_000,
  watchRetryMinMs: 100,
  watchRetryMaxMs: 5000,
});
