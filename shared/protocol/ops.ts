/**
 * Operation codes of the data protocol (DESIGN §8). Numeric on the wire; append only.
 * A multi-get is several GET frames in one message: the node answers them together.
 */
export const Op = Object.freeze({
  GET: 1,
  GAT: 2,
  SET: 3,
  ADD: 4,
  REPLACE: 5,
  APPEND: 6,
  PREPEND: 7,
  DELETE: 8,
  INCR: 9,
  DECR: 10,
  TOUCH: 11,
  SCAN: 12,
  STATS: 13,
  PING: 14,
  /** The AUTH_NEEDED handshake (DESIGN §9): `extra` is the AUTH message, or `{principal}` to ask for a challenge. */
  AUTH: 15,
  /**
   * Backup (docs/backup.md): a page of the items of the units named in `extra`, read on
   * their active with the units' seqnos. Admin only; never forwarded by the proxy.
   */
  BACKUP_PAGE: 16,
  /** Backup: the units' change records after the seqnos named in `extra`. Admin only. */
  BACKUP_CHANGES: 17,
} as const);

export type OpName = keyof typeof Op;
export type OpCode = (typeof Op)[OpName];

const NAMES: readonly OpName[] = (() => {
  const names: OpName[] = [];
  for (const name of Object.keys(Op) as OpName[]) names[Op[name]] = name;
  return names;
})();

/** Name of an op code, or `undefined` when the code is not in the table. */
export function opName(code: number): OpName | undefined {
  return Number.isInteger(code) ? NAMES[code] : undefined;
}

/** Ops that address one key (and so one bucket). */
export function isKeyedOp(op: OpCode): boolean {
  return op !== Op.SCAN && op !== Op.STATS && op !== Op.PING && op !== Op.AUTH && !isBackupOp(op);
}

/** The two ops a backup reads units with (BACKUP_PAGE, BACKUP_CHANGES). */
export function isBackupOp(op: number): boolean {
  return op === Op.BACKUP_PAGE || op === Op.BACKUP_CHANGES;
}

/** Ops that change data. */
export function isMutation(op: OpCode): boolean {
  return op !== Op.GET && op !== Op.SCAN && op !== Op.STATS && op !== Op.PING && op !== Op.AUTH && !isBackupOp(op);
}

/**
 * Ops that are safe to send again when the first attempt may have executed:
 * applying them twice leaves the same state and answer.
 */
export function isIdempotent(op: OpCode): boolean {
  return op === Op.GET || op === Op.SCAN || op === Op.STATS || op === Op.PING || op === Op.TOUCH || op === Op.GAT || isBackupOp(op);
}
