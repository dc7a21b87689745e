/** Where the manager keeps things in the config store. */
export const CfgKeys = Object.freeze({
  /** The cluster map, CBOR (shared/map-codec). */
  map: 'pandakv/map',
  /** Node records, JSON, one per node id. */
  nodePrefix: 'pandakv/nodes/',
  /** Liveness keys under each node's lease. */
  livePrefix: 'pandakv/live/',
  /** Cluster settings (redundancy), JSON. */
  settings: 'pandakv/settings',
  /** Principals (DESIGN §9), JSON, one per name; public material only. */
  principalPrefix: 'pandakv/principals/',
  /** The managers (id, address, key, peer-plane bootstrap), JSON, each under its own lease. */
  managerPrefix: 'pandakv/managers/',
  /** Election of the planner. */
  election: 'pandakv-leader',
});

export const nodeKey = (id: string): string => CfgKeys.nodePrefix + id;
export const liveKey = (id: string): string => CfgKeys.livePrefix + id;
export const managerKey = (id: string): string => CfgKeys.managerPrefix + id;
