/**
 * Public types of the planner (DESIGN §5): what it is given and what it returns.
 * The planner itself is a pure function; see plan.ts.
 */
import type { ClusterMap, MapNode, NodeState } from '../../../shared/cluster-map.js';

/**
 * A node as the planner sees it: the map's node entry. Only `active` and `joining` nodes
 * receive units; zones count when at least two distinct ones hold placeable nodes.
 */
export type PlannerNode = MapNode;

export interface PlanInput {
  /** The current map; `null` plans a new cluster. */
  previous: ClusterMap | null;
  /** Every known node with its current state; `failed` and `leaving` nodes get no units. */
  nodes: PlannerNode[];
  /** Copies of each item (1 = no replica). */
  redundancy: number;
  /** Bucket bits of a new cluster. An existing map keeps its bits. @default 24 */
  bits?: number;
  /**
   * Unit bits. By default chosen so each placeable node holds at least ~100 active units
   * (by weight); raised, never lowered, as the cluster grows; at most `bits`.
   */
  unitBits?: number;
  /**
   * Ids of nodes still filling up from an earlier plan: treated as new, they pull their
   * share from the fullest nodes. The manager moves data in batches and plans each batch
   * from the map the last one left, where a joined node already holds some units; without
   * this, the rest of its share (replicas above all) would stay where it was. @default []
   */
  pulling?: readonly string[];
}

/** One copy that has to be created or handed over (node ids). */
export interface PlannedMove {
  unit: number;
  /**
   * The node that gives the role up: the previous active for `active`, a dropped copy
   * for `replica`; `null` when the unit simply gains a copy (redundancy raised, or a
   * unit with no surviving copy).
   */
  from: string | null;
  to: string;
  role: 'active' | 'replica';
}

/** Units held by one node of a map, against its weighted quota. */
export interface NodeBalance {
  index: number;
  id: string;
  zone: string;
  weight: number;
  state: NodeState;
  activeUnits: number;
  replicaUnits: number;
  /** Weighted share of active units; 0 for a node that should hold nothing. */
  activeQuota: number;
  replicaQuota: number;
  /** `activeUnits / activeQuota`; `null` when the quota is 0. */
  activeRatio: number | null;
  replicaRatio: number | null;
}

export interface BalanceReport {
  /** Units of the map (2^unitBits). */
  units: number;
  nodes: NodeBalance[];
  /** Max over placeable nodes of units / weighted quota: the weighted max/mean. */
  maxActiveRatio: number;
  minActiveRatio: number;
  /** 0 when the map has no replicas. */
  maxReplicaRatio: number;
  minReplicaRatio: number;
  /** Units held by nodes that should hold nothing (failed, leaving, gone). */
  strandedUnits: number;
}

export interface PlanResult {
  map: ClusterMap;
  /** Per-unit difference from the previous map; empty for a new cluster (nothing to move). */
  moves: PlannedMove[];
  warnings: string[];
  balance: BalanceReport;
}
