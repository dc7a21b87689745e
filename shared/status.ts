/**
 * Wire status codes (DESIGN §8). One table: the numeric value travels on the wire,
 * the name is what logs and docs use. Never renumber; append only.
 */
export const Status = Object.freeze({
  OK: 0,
  NOT_FOUND: 1,
  EXISTS: 2,
  NOT_STORED: 3,
  NOT_MY_BUCKET: 4,
  AUTH_NEEDED: 5,
  AUTH_FAILED: 6,
  FORBIDDEN: 7,
  TOO_LARGE: 8,
  OUT_OF_MEMORY: 9,
  BAD_REQUEST: 10,
  BUSY: 11,
  TIMEOUT: 12,
  UNAVAILABLE: 13,
  INTERNAL: 14,
  /** The durability the write asked for cannot be met now (too few copies); not executed. */
  DURABILITY_IMPOSSIBLE: 15,
  /** The node's disk is full: writes are refused, reads go on (DESIGN §6). */
  NO_SPACE: 16,
  /**
   * A scan could not stay exact within its deadline (the map kept changing or an owner
   * stayed unreachable); `extra.cursor` / `extra.next` resume it exactly. Nothing ran.
   */
  SCAN_INTERRUPTED: 17,
} as const);

export type StatusName = keyof typeof Status;
export type StatusCode = (typeof Status)[StatusName];

const NAMES: readonly StatusName[] = (() => {
  const names: StatusName[] = [];
  for (const name of Object.keys(Status) as StatusName[]) names[Status[name]] = name;
  return names;
})();

/** The name of a wire status, or `undefined` for a number outside the table. */
export function statusName(code: number): StatusName | undefined {
  return Number.isInteger(code) ? NAMES[code] : undefined;
}

/** True when `code` is a status this protocol version defines. */
export function isStatusCode(code: unknown): code is StatusCode {
  return typeof code === 'number' && statusName(code) !== undefined;
}
