import { parseCommandLine, numberArg, logFormatArg, UsageError, untilSignal, loadCredentialsArg } from '../bin/cli-util.js';
import { Proxy } from './proxy-server.js';
import type { ProxyOptions } from './options.js';

export const PROXY_USAGE = `Usage: pandakv proxy --map ws://MANAGER [switches]

A stateless proxy for thin clients: the native protocol over WebSocket and the memcached
text/meta protocol over TCP, routed to the owning nodes over pre-opened lanes.

  --map URL             the manager's map service (required)
  --ip ADDR             address to listen on (default 127.0.0.1)
  --port N              WebSocket + /healthz + /metrics port; 0 picks one (default 0)
  --memcached-port N    memcached protocol port; 0 picks one (default 0)
  --no-memcached        do not serve the memcached protocol
  --lanes-per-node N    lanes opened to every node (default 2)
  --map-loss-ms MS      unhealthy after losing the map this long (default 10000)
  --timeout-ms MS       deadline of each forwarded request (default 2500)
  --idle-poll-us N      keep polling this long after traffic instead of sleeping:
                        lower latency at low load for CPU; for a proxy with cores
                        of its own (default 0: off)
  --cursor-secret HEX   key signing scan cursors (share it between proxies)
  --credentials FILE    the proxy's principal (needs admin plus the roles clients use)
  --key FILE            the proxy's key pair (created 0600 when missing; default: new per start)
  --manager-key HEX     the manager's public key to require (default: trust the one presented)
  --log-format FORMAT   cluster event lines on stderr: text (default) or json
  --insecure            no client authentication, lanes without credentials (development only)
  --help                print this text
`;

export function parseProxyArgs(argv: string[]): (Partial<ProxyOptions> & { map: string }) | 'help' {
  const { values, positionals } = parseCommandLine(argv, {
    map: { type: 'string' },
    ip: { type: 'string' },
    port: { type: 'string' },
    'memcached-port': { type: 'string' },
    'no-memcached': { type: 'boolean' },
    'lanes-per-node': { type: 'string' },
    'map-loss-ms': { type: 'string' },
    'timeout-ms': { type: 'string' },
    'cursor-secret': { type: 'string' },
    'idle-poll-us': { type: 'string' },
    insecure: { type: 'boolean' },
    credentials: { type: 'string' },
    key: { type: 'string' },
    'manager-key': { type: 'string' },
    'log-format': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (values.map === undefined) throw new UsageError('--map ws://MANAGER is required');
  const map = String(values.map);
  if (!/^(wss?|https?):\/\/\S+$/.test(map)) throw new UsageError(`--map must be ws://host:port, got "${map}"`);
  const o: Partial<ProxyOptions> & { map: string } = { map };
  const port = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 65535;
  if (values.ip !== undefined) o.ip = String(values.ip);
  const p = numberArg(values, 'port', port);
  if (p !== undefined) o.port = p;
  const mp = numberArg(values, 'memcached-port', port);
  if (mp !== undefined) o.memcachedPort = mp;
  if (values['no-memcached']) o.memcachedPort = null;
  const lanes = numberArg(values, 'lanes-per-node', (n) => Number.isInteger(n) && n >= 1 && n <= 64);
  if (lanes !== undefined) o.lanesPerNode = lanes;
  const loss = numberArg(values, 'map-loss-ms', (n) => Number.isInteger(n) && n >= 10);
  if (loss !== undefined) o.mapLossMs = loss;
  const timeout = numberArg(values, 'timeout-ms', (n) => Number.isInteger(n) && n >= 1);
  if (timeout !== undefined) o.timeoutMs = timeout;
  const poll = numberArg(values, 'idle-poll-us', (n) => Number.isInteger(n) && n >= 0 && n <= 1_000_000);
  if (poll !== undefined) o.idlePollUs = poll;
  if (values['cursor-secret'] !== undefined) {
    const secret = String(values['cursor-secret']);
    if (!/^([0-9a-f]{2}){16,}$/i.test(secret)) throw new UsageError('--cursor-secret must be at least 32 hex digits');
    o.cursorSecret = secret;
  }
  const logFormat = logFormatArg(values);
  if (logFormat !== undefined) o.logFormat = logFormat;
  if (values.insecure) o.isInsecure = true;
  if (values.credentials !== undefined) o.credentials = loadCredentialsArg(String(values.credentials));
  if (values.key !== undefined) o.keyFile = String(values.key);
  if (values['manager-key'] !== undefined) {
    const key = String(values['manager-key']);
    if (!/^[0-9a-fA-F]{64}$/.test(key)) throw new UsageError('--manager-key must be 64 hex digits');
    o.managerKey = key.toLowerCase();
  }
  if (!o.isInsecure && o.credentials === undefined) throw new UsageError('--credentials FILE is required (or --insecure)');
  return o;
}

/** `pandakv proxy`: run until SIGINT/SIGTERM. */
export async function proxyMain(argv: string[]): Promise<number> {
  const opts = parseProxyArgs(argv);
  if (opts === 'help') {
    process.stdout.write(PROXY_USAGE);
    return 0;
  }
  const stopped = untilSignal();
  if (opts.isInsecure) process.stderr.write('pandakv proxy: WARNING: --insecure: every client that can connect may run every op\n');
  const proxy = new Proxy(opts);
  const { url, memcached } = await proxy.listen();
  await proxy.ready(opts.warmupTimeoutMs ?? 15_000);
  process.stdout.write(`pandakv proxy listening on ${url}${memcached === null ? '' : ` memcached ${memcached}`}\n`);
  await stopped;
  await proxy.close();
  return 0;
}
