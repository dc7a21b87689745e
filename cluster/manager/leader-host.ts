import type { EventLog } from '../../shared/event-log.js';
import type { ClusterState } from './cluster-state.js';
import type { MapWriter } from './map-writer.js';
import type { NodeReports } from './node-reports.js';
import type { ManagerOptions } from './options.js';

/** What an admin operation did. */
export interface OpResult {
  epoch: number;
  rev: number;
  movedUnits: number;
  warnings: string[];
}

/** What `stopMoves` did with the batch in flight. */
export interface StopResult {
  /** `rolled-back`: its new copies were taken out again; `finished`: it was switched first; `none`: no batch was in flight. */
  batch: 'rolled-back' | 'finished' | 'none';
  /** Units of the batch that were rolled back. */
  rolledBackUnits: number;
  warnings: string[];
}

/**
 * What the leader's parts (failure detection, reconciler, mover) share of it: the state,
 * the fenced writer, the heartbeat reports and the one operation queue.
 */
export interface LeaderHost {
  readonly state: ClusterState;
  readonly options: ManagerOptions;
  readonly writer: MapWriter;
  readonly reports: NodeReports;
  readonly events: EventLog;
  /** True while this manager leads. */
  readonly isLeader: boolean;
  readonly isClosed: boolean;
  /** When this manager last became leader (ms, monotonic). */
  readonly electedAt: number;
  /** Aborted when this leadership ends (deposed or closed); a new one per election. */
  readonly leadershipSignal: AbortSignal;
  /** Run `fn` after every earlier operation, only while leading. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Report a background failure. */
  reportError(err: Error): void;
}
