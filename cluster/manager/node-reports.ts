import type { Subscribe } from './wait-until.js';

/** What a replicating node reports with each heartbeat. */
export interface ReplicationState {
  /** Backfills under way on the node. */
  backfilling: number;
  /** Highest applied seqno per unit. */
  seqnos: Record<number, number>;
  /** Rev of the map the node applied. */
  rev: number;
  /** Bytes the node has copied in backfills since it started. */
  copiedBytes: number;
}

/** The nodes' heartbeat reports as the leader reads them (`Membership` keeps them). */
export interface NodeReports {
  /** Each replicating node's last report. */
  readonly replication: ReadonlyMap<string, ReplicationState>;
  /** When each node last heartbeated to this manager (ms, monotonic). */
  readonly heardAt: ReadonlyMap<string, number>;
  /**
   * Ask nodes `ids` for a heartbeat made now (their seqnos as they are), resolving with
   * those that answered within `ms`.
   */
  requestReports(ids: readonly string[], ms: number): Promise<Set<string>>;
  /** `report`: a heartbeat from node `id` was taken in. */
  on(event: 'report', listener: (id: string) => void): unknown;
  off(event: 'report', listener: (id: string) => void): unknown;
}

/** A wake-up for `waitUntil` on every heartbeat report. */
export function onReport(reports: NodeReports): Subscribe {
  return (wake) => {
    reports.on('report', wake);
    return () => reports.off('report', wake);
  };
}
