/** Names of the memcached front end's counters, as exported. */
export const MC_STAT_NAMES = Object.freeze({
  commands: 'pandakv_proxy_memcached_commands_total',
  errors: 'pandakv_proxy_memcached_errors_total',
  connections: 'pandakv_proxy_memcached_connections_total',
  connectionsRejected: 'pandakv_proxy_memcached_connections_rejected_total',
  authFailures: 'pandakv_proxy_memcached_auth_failures_total',
  timeouts: 'pandakv_proxy_memcached_timeouts_total',
  readPauses: 'pandakv_proxy_memcached_read_pauses_total',
  openConnections: 'pandakv_proxy_memcached_connections_open',
} as const);

export type McStatName = keyof typeof MC_STAT_NAMES;

/** A snapshot of the counters, by exported name. */
export type McStatsSnapshot = Readonly<Record<(typeof MC_STAT_NAMES)[McStatName], number>>;

/**
 * Counters of one `MemcachedServer`. Each is incremented in exactly one place:
 * commands and errors when an answer is settled (connection), connections when accepted
 * or refused (server), auth failures in the auth step, timeouts by the command timer,
 * read pauses when a connection stops reading because its write buffer is full.
 */
export class McStats {
  commands = 0;
  errors = 0;
  connections = 0;
  connectionsRejected = 0;
  authFailures = 0;
  timeouts = 0;
  readPauses = 0;
  openConnections = 0;

  snapshot(): McStatsSnapshot {
    return {
      [MC_STAT_NAMES.commands]: this.commands,
      [MC_STAT_NAMES.errors]: this.errors,
      [MC_STAT_NAMES.connections]: this.connections,
      [MC_STAT_NAMES.connectionsRejected]: this.connectionsRejected,
      [MC_STAT_NAMES.authFailures]: this.authFailures,
      [MC_STAT_NAMES.timeouts]: this.timeouts,
      [MC_STAT_NAMES.readPauses]: this.readPauses,
      [MC_STAT_NAMES.openConnections]: this.openConnections,
    };
  }
}
