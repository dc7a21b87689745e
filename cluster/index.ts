/** PandaKV's servers as a library: `import { DataNode, Manager } from 'pandakv/cluster'`. */
export { DataNode } from './node/data-node.js';
export { NODE_DEFAULTS } from './node/options.js';
export type { NodeOptions } from './node/options.js';
export { MemoryEngine } from './node/engine/memory-engine.js';
export { Manager } from './manager/manager.js';
export { MANAGER_DEFAULTS } from './manager/options.js';
export type { ManagerOptions } from './manager/options.js';
export { plan, promoteOnly, splitBuckets, balanceReport } from './manager/planner/plan.js';
export type { PlanInput, PlanResult, PlannedMove, PlannerNode } from './manager/planner/types.js';
export { openCfg } from './manager/cfg/open-cfg.js';
export type { Cfg } from './manager/cfg/cfg.js';
