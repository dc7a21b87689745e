/** The memcached front end of the proxy: text + meta protocol and binary protocol with SASL PLAIN. */
export { MemcachedServer } from './server.js';
export type { MemcachedServerEvents } from './server.js';
export { MEMCACHED_DEFAULTS, resolveOptions } from './options.js';
export type { MemcachedServerOptions, McParserOptions } from './options.js';
export type {
  MemcachedBackend, McItem, McPrincipal, McRole, McStoreMode, McStoreStatus, McStoreResult,
  McCounterOptions, McCounterResult, McDumpEntry,
} from './backend.js';
export { McParser } from './parser.js';
export type {
  McCommand, McParseResult, McParseError, McGetCommand, McStoreCommand, McDeleteCommand, McCounterCommand,
  McTouchCommand, McFlushCommand, McVerbosityCommand, McStatsCommand, McBareCommand, McMetaCommand, McMetaGetCommand,
  McMetaSetCommand, McMetaDeleteCommand, McMetaArithmeticCommand, McMetaFlags, McRetrievalOp,
} from './commands.js';
export { McExecutor } from './executor.js';
export type { McExecutorContext } from './executor.js';
export type { McReply } from './responses.js';
export { errorLine } from './error-map.js';
export { requiredRoles } from './auth.js';
export { MC_STAT_NAMES } from './stats.js';
export type { McStatsSnapshot } from './stats.js';
export { McBinaryParser } from './binary-parser.js';
export type {
  BinCommand, BinParseResult, BinParseError, BinGetCommand, BinTouchCommand, BinStoreCommand, BinDeleteCommand,
  BinCounterCommand, BinFlushCommand, BinQuitCommand, BinStatCommand, BinBareCommand, BinSaslAuthCommand,
} from './binary-commands.js';
export { McBinaryExecutor } from './binary-executor.js';
export { BinOp, BinStatus, REQUEST_MAGIC, RESPONSE_MAGIC } from './binary-protocol.js';
export { parseSaslPlain, SASL_MECHANISMS } from './sasl.js';
export { McFlushScheduler } from './flush-scheduler.js';
export { binaryError } from './error-map.js';
