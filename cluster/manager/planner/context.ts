/** What every placement step needs to know about the nodes of the next map. */
import type { MapNode } from '../../../shared/cluster-map.js';
import type { Domains } from './domains.js';

export interface PlacementContext {
  nodes: readonly MapNode[];
  /** Indexes of the nodes that may hold units, sorted by id (the tie-break order). */
  placeable: readonly number[];
  isPlaceable: Uint8Array;
  /** Weight per node index (0 for nodes that hold nothing). */
  weights: Float64Array;
  domains: Domains;
  /** 2^unitBits. */
  units: number;
  /** Replica slots per unit: copies − 1. */
  width: number;
  /**
   * 1 for nodes whose share was changed on purpose since the previous map (new, back
   * from leaving or failed, weight or zone changed, or the redundancy changed). Only they
   * pull units from others; and when none is flagged (nodes were only removed, or nothing
   * changed), replicas above a cap stay rather than rearrange other units.
   */
  isReshaped: Uint8Array;
}
