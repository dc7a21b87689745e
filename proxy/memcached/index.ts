/** The memcached text + meta protocol front end of the proxy. */
export { MemcachedServer } from './server.js';
export type { MemcachedServerEvents } from './server.js';
export { MEMCACHED_DEFAULTS, resolveOptions } from './options.js';
export type { MemcachedServerOptions, McParserOptions } from './options.js';
export type {
  MemcachedBackend, McItem, McPrincipal, McRole, McStoreMode, McStoreStatus, McStoreResult,
  McCounterOptions, McCounterResult,
} from './backend.js';
export { McParser } from './parser.js';
export type {
  McCommand, McParseResult, McParseError, McGetCommand, McStoreCommand, McDeleteCommand, McCounterCommand,
  McTouchCommand, McVerbosityCommand, McStatsCommand, McBareCommand, McMetaCommand, McMetaGetCommand,
  McMetaSetCommand, McMetaDeleteCommand, McMetaArithmeticCommand, McMetaFlags, McRetrievalOp,
} from './commands.js';
export { McExecutor } from './executor.js';
export type { McExecutorContext } from './executor.js';
export type { McReply } from './responses.js';
export { errorLine } from './error-map.js';
export { requiredRoles } from './auth.js';
export { MC_STAT_NAMES } from './stats.js';
export type { McStatsSnapshot } from './stats.js';
