import { isIPv4 } from 'node:net';
import { numberArg, parseCommandLine, UsageError } from '../cli-util.js';
import type { Shutdown } from '../shutdown.js';
import { runServer, type ServerCommand } from '../server-command.js';
import { startDhtBootstrap, type DhtBootstrap } from '../../cluster/peer/dht-bootstrap.js';
import type { DhtBootstrapOptions } from '../../cluster/peer/options.js';

export const DHT_USAGE = `Usage: pandakv dht [switches]

Runs a hyperswarm DHT bootstrap node for the peer plane of an offline cluster. Give its
address to every node (the only bootstrap they use; never the public network).

  --ip ADDR    IPv4 address to bind and announce (default 127.0.0.1)
  --port N     UDP port; 0 picks a free one (default 0)
  --help       print this text
`;

/** Parse `pandakv dht` switches. @throws UsageError */
export function parseDhtArgs(argv: string[]): Partial<DhtBootstrapOptions> | 'help' {
  const { values, positionals } = parseCommandLine(argv, {
    ip: { type: 'string' },
    port: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const opts: Partial<DhtBootstrapOptions> = {};
  if (values.ip !== undefined) {
    const ip = String(values.ip);
    if (!isIPv4(ip) || ip === '0.0.0.0') throw new UsageError(`--ip must be a specific IPv4 address, got "${ip}"`);
    opts.host = ip;
  }
  const port = numberArg(values, 'port', (n) => Number.isSafeInteger(n) && n >= 0 && n <= 65535);
  if (port !== undefined) opts.port = port;
  return opts;
}

/** `pandakv dht` as a server command. */
export const DHT_COMMAND: ServerCommand<Partial<DhtBootstrapOptions>, DhtBootstrap> = {
  usage: DHT_USAGE,
  parse: parseDhtArgs,
  listen: (opts, shutdown) => shutdown.race(startDhtBootstrap(opts), 'starting'),
  announce: (node) => [`pandakv dht listening on ${node.hostPort}`],
  close: (node) => node.close(),
};

/** `pandakv dht`: announce `pandakv dht listening on HOST:PORT`, run until SIGINT/SIGTERM. */
export function dhtMain(argv: string[], shutdown: Shutdown): Promise<number> {
  return runServer(DHT_COMMAND, argv, shutdown);
}
