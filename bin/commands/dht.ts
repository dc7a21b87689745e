import { isIPv4 } from 'node:net';
import { numberArg, parseCommandLine, UsageError } from '../cli-util.js';
import type { Shutdown } from '../shutdown.js';
import { runServer, type ServerCommand } from '../server-command.js';
import { startDhtBootstrap, type DhtBootstrap } from '../../cluster/peer/dht-bootstrap.js';
import { dhtRegistry, serveDhtMetrics, type DhtMetricsServer } from '../../cluster/peer/dht-metrics.js';
import { DHT_BOOTSTRAP_DEFAULTS, type DhtBootstrapOptions } from '../../cluster/peer/options.js';

/** `pandakv dht` switches: the bootstrap's, and where to serve its metrics (null: nowhere). */
export type DhtCommandOptions = Partial<DhtBootstrapOptions> & { metricsPort?: number };

/** A running `pandakv dht`: the bootstrap node and, when asked for, its metrics listener. */
interface RunningDht {
  dht: DhtBootstrap;
  metrics: DhtMetricsServer | null;
}

export const DHT_USAGE = `Usage: pandakv dht [switches]

Runs a hyperswarm DHT bootstrap node for the peer plane of an offline cluster. Give its
address to every node (the only bootstrap they use; never the public network).

  --ip ADDR    IPv4 address to bind and announce (default 127.0.0.1)
  --port N     UDP port; 0 picks a free one (default 0)
  --metrics-port N
               serve /metrics (Prometheus text) and /healthz over HTTP on --ip, this TCP
               port; 0 picks a free one (default: not served)
  --help       print this text
`;

/** Parse `pandakv dht` switches. @throws UsageError */
export function parseDhtArgs(argv: string[]): DhtCommandOptions | 'help' {
  const { values, positionals } = parseCommandLine(argv, {
    ip: { type: 'string' },
    port: { type: 'string' },
    'metrics-port': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const opts: DhtCommandOptions = {};
  if (values.ip !== undefined) {
    const ip = String(values.ip);
    if (!isIPv4(ip) || ip === '0.0.0.0') throw new UsageError(`--ip must be a specific IPv4 address, got "${ip}"`);
    opts.host = ip;
  }
  const port = numberArg(values, 'port', (n) => Number.isSafeInteger(n) && n >= 0 && n <= 65535);
  if (port !== undefined) opts.port = port;
  const metricsPort = numberArg(values, 'metrics-port', (n) => Number.isSafeInteger(n) && n >= 0 && n <= 65535);
  if (metricsPort !== undefined) opts.metricsPort = metricsPort;
  return opts;
}

/** `pandakv dht` as a server command. */
export const DHT_COMMAND: ServerCommand<DhtCommandOptions, RunningDht> = {
  usage: DHT_USAGE,
  parse: parseDhtArgs,
  listen: (opts, shutdown) => shutdown.race(startDht(opts), 'starting'),
  announce: ({ dht, metrics }) => [`pandakv dht listening on ${dht.hostPort}`, ...(metrics === null ? [] : [`pandakv dht metrics on ${metrics.url}/metrics`])],
  close: async ({ dht, metrics }) => {
    await metrics?.close();
    await dht.close();
  },
};

async function startDht(opts: DhtCommandOptions): Promise<RunningDht> {
  const { metricsPort, ...bootstrap } = opts;
  const dht = await startDhtBootstrap(bootstrap);
  if (metricsPort === undefined) return { dht, metrics: null };
  try {
    const metrics = await serveDhtMetrics(dhtRegistry(() => dht.stats()), bootstrap.host ?? DHT_BOOTSTRAP_DEFAULTS.host, metricsPort);
    return { dht, metrics };
  } catch (err) {
    await dht.close();
    throw err;
  }
}

/** `pandakv dht`: announce `pandakv dht listening on HOST:PORT`, run until SIGINT/SIGTERM. */
export function dhtMain(argv: string[], shutdown: Shutdown): Promise<number> {
  return runServer(DHT_COMMAND, argv, shutdown);
}
