export type {
  CasOptions, CasResult, Cfg, CfgEntry, CfgEvent, CfgFence, CfgLease, CfgLeaseEvents, CfgLeadership,
  CfgLeadershipEvents, CfgSnapshot, CfgWatch, CfgWatchEvents,
} from './cfg.js';
export { EtcdCfg } from './etcd-cfg.js';
export { FileCfg } from './file-cfg.js';
export { openCfg, parseCfgUrl, type CfgUrl, type OpenCfgOptions } from './open-cfg.js';
export {
  CFG_COMMON_DEFAULTS, ETCD_CFG_DEFAULTS, FILE_CFG_DEFAULTS,
  type CfgCommonOptions, type EtcdCfgOptions, type FileCfgOptions,
} from './options.js';
