import {
  parseCommandLine, numberArg, logFormatArg, UsageError, loadCredentialsArg, CONN_LIMIT_SWITCHES, connLimitArgs, connLimitUsage, managerUrlArg,
  checkListenIp, TLS_SWITCHES, tlsArgs, tlsUsage,
} from '../cli-util.js';
import { StoppedError, type Shutdown } from '../shutdown.js';
import { runServer, type ServerCommand } from '../server-command.js';
import { Proxy } from '../../proxy/proxy-server.js';
import type { ProxyOptions } from '../../proxy/options.js';
import { applySchedPolicy, schedArg, schedUsage, type SchedPolicy } from '../sched-policy.js';

/** The proxy's scheduling policy unless --sched says otherwise (bin/sched-policy.ts). */
const PROXY_SCHED: SchedPolicy = 'normal';

export const PROXY_USAGE = `Usage: pandakv proxy --map ws://MANAGER [switches]

A stateless proxy for thin clients: the native protocol over WebSocket and the memcached
text/meta and binary protocols over TCP, routed to the owning nodes over pre-opened lanes.

  --map URL             the manager's map service (required)
  --ip ADDR             address to listen on (default 127.0.0.1)
  --port N              WebSocket + /healthz + /metrics port; 0 picks one (default 0)
  --memcached-port N    memcached protocol port; 0 picks one (default 0)
  --no-memcached        do not serve the memcached protocol
  --lanes-per-node N    lanes opened to every node (default 2)
  --send-window N       messages a lane sends before the node answers; requests
                        beyond wait (at most 1 ms) and leave together: fewer, fuller
                        messages, less node CPU (default 0: no limit)
  --map-loss-ms MS      unhealthy after losing the map this long (default 10000)
  --timeout-ms MS       deadline of each forwarded request (default 2500)
  --idle-poll-us N      keep polling this long after traffic instead of sleeping:
                        lower latency at low load for CPU spare cores would not
                        use (default 200; 0: off)
  --idle-poll-spare C   poll only while the machine has C cores idle (default 0.5;
                        0: whatever the load)
  --idle-poll-pressure P
                        and only while tasks waited for a CPU less than P of the
                        time (Linux PSI; default 0.3; 1: not checked)
  --upstream-layout L   packed | cbor: how GET and SET go to nodes (default packed:
                        the packed layout to every node that offers it)
  --cursor-secret HEX   key signing scan cursors (share it between proxies)
  --credentials FILE    the proxy's principal (needs admin plus the roles clients use)
  --key FILE            the proxy's key pair (created 0600 when missing; default: new per start)
  --manager-key HEX     the manager's public key to require (default: trust the one presented)
  --ready-timeout-ms MS exit (code 1) when no map is adopted and lanes warm within this
                        long after start (default 15000)
  --log-format FORMAT   cluster event lines on stderr: text (default) or json
${schedUsage(PROXY_SCHED, 24)}  --insecure            no client authentication, lanes without credentials (development only)
${tlsUsage('both client ports (WebSocket + /metrics, memcached)', 'the managers and the nodes')}  --help                print this text

Connection limits of both client ports, --max-connections being the WebSocket port's
(docs/operations.md, "Connection limits"):
${connLimitUsage(10_000)}  --memcached-max-connections N
                            --max-connections for the memcached port (default 4096)
`;

/** The proxy's options plus what only the process needs. */
export type ProxyCliOptions = Partial<ProxyOptions> & {
  map: string;
  /** Exit (code 1) when not ready (map adopted, lanes warm) within this long after start. */
  readyTimeoutMs?: number;
  /** The process's scheduling policy. */
  sched?: SchedPolicy;
};

/** Default of `--ready-timeout-ms`. */
export const PROXY_READY_TIMEOUT_MS = 15_000;

export function parseProxyArgs(argv: string[]): ProxyCliOptions | 'help' {
  const { values, positionals } = parseCommandLine(argv, {
    map: { type: 'string' },
    ip: { type: 'string' },
    port: { type: 'string' },
    'memcached-port': { type: 'string' },
    'no-memcached': { type: 'boolean' },
    'lanes-per-node': { type: 'string' },
    'send-window': { type: 'string' },
    'map-loss-ms': { type: 'string' },
    'timeout-ms': { type: 'string' },
    'cursor-secret': { type: 'string' },
    'idle-poll-us': { type: 'string' },
    'idle-poll-spare': { type: 'string' },
    'idle-poll-pressure': { type: 'string' },
    'upstream-layout': { type: 'string' },
    insecure: { type: 'boolean' },
    credentials: { type: 'string' },
    key: { type: 'string' },
    'manager-key': { type: 'string' },
    ...CONN_LIMIT_SWITCHES,
    ...TLS_SWITCHES,
    'memcached-max-connections': { type: 'string' },
    'ready-timeout-ms': { type: 'string' },
    'log-format': { type: 'string' },
    sched: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (values.map === undefined) throw new UsageError('--map ws://MANAGER is required');
  const map = managerUrlArg(String(values.map), 'map');
  const { maxConnections, ...limits } = connLimitArgs(values);
  const o: ProxyCliOptions = { map, ...limits, ...tlsArgs(values) };
  const sched = schedArg(values.sched);
  if (sched !== undefined) o.sched = sched;
  const ready = numberArg(values, 'ready-timeout-ms', (n) => Number.isSafeInteger(n) && n >= 1);
  if (ready !== undefined) o.readyTimeoutMs = ready;
  if (maxConnections !== undefined) o.maxClients = maxConnections;
  const mcMax = numberArg(values, 'memcached-max-connections', (n) => Number.isSafeInteger(n) && n >= 1);
  if (mcMax !== undefined) o.memcachedMaxConnections = mcMax;
  const port = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 65535;
  if (values.ip !== undefined) o.ip = String(values.ip);
  const p = numberArg(values, 'port', port);
  if (p !== undefined) o.port = p;
  const mp = numberArg(values, 'memcached-port', port);
  if (mp !== undefined) o.memcachedPort = mp;
  if (values['no-memcached']) o.memcachedPort = null;
  const lanes = numberArg(values, 'lanes-per-node', (n) => Number.isInteger(n) && n >= 1 && n <= 64);
  if (lanes !== undefined) o.lanesPerNode = lanes;
  const window = numberArg(values, 'send-window', (n) => Number.isInteger(n) && n >= 0 && n <= 1024);
  if (window !== undefined) o.sendWindow = window;
  const loss = numberArg(values, 'map-loss-ms', (n) => Number.isInteger(n) && n >= 10);
  if (loss !== undefined) o.mapLossMs = loss;
  const timeout = numberArg(values, 'timeout-ms', (n) => Number.isInteger(n) && n >= 1);
  if (timeout !== undefined) o.timeoutMs = timeout;
  const poll = numberArg(values, 'idle-poll-us', (n) => Number.isInteger(n) && n >= 0 && n <= 1_000_000);
  if (poll !== undefined) o.idlePollUs = poll;
  const spare = numberArg(values, 'idle-poll-spare', (n) => n >= 0 && n <= 1024);
  if (spare !== undefined) o.idlePollSpareCores = spare;
  const pressure = numberArg(values, 'idle-poll-pressure', (n) => n > 0 && n <= 1);
  if (pressure !== undefined) o.idlePollMaxPressure = pressure;
  const layout = values['upstream-layout'];
  if (layout !== undefined) {
    if (layout !== 'packed' && layout !== 'cbor') throw new UsageError('--upstream-layout must be packed or cbor');
    o.upstreamLayout = layout;
  }
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

/** A started proxy and the addresses it listens on. */
interface RunningProxy {
  proxy: Proxy;
  url: string;
  memcached: string | null;
}

/** `pandakv proxy` as a server command: ready once it has a map and warm lanes. */
export const PROXY_COMMAND: ServerCommand<ProxyCliOptions, RunningProxy> = {
  usage: PROXY_USAGE,
  parse: parseProxyArgs,
  async listen(opts, shutdown) {
    const { readyTimeoutMs = PROXY_READY_TIMEOUT_MS, sched = PROXY_SCHED, ...proxyOptions } = opts;
    const schedWarning = applySchedPolicy(sched);
    if (schedWarning !== null) process.stderr.write(`pandakv proxy: WARNING: ${schedWarning}\n`);
    if (opts.isInsecure) process.stderr.write('pandakv proxy: WARNING: --insecure: every client that can connect may run every op\n');
    await checkListenIp(proxyOptions.ip);
    const proxy = new Proxy(proxyOptions);
    const { url, memcached } = await shutdown.race(proxy.listen(), 'starting');
    process.stderr.write(`pandakv proxy: waiting up to ${readyTimeoutMs} ms for a map from ${opts.map}\n`);
    try {
      await shutdown.race(proxy.ready(readyTimeoutMs), `waiting for its first map from ${opts.map}`);
    } catch (err) {
      if (err instanceof StoppedError) throw err;
      const why = proxy.upstream.current() === null
        ? `no map from ${opts.map} within ${readyTimeoutMs} ms (--ready-timeout-ms)`
        : `map adopted but its nodes' lanes not up within ${readyTimeoutMs} ms (--ready-timeout-ms)`;
      throw new Error(`${why}; exiting`);
    }
    return { proxy, url, memcached };
  },
  announce: ({ url, memcached }) => [`pandakv proxy listening on ${url}${memcached === null ? '' : ` memcached ${memcached}`}`],
  close: ({ proxy }) => proxy.close(),
};

/** `pandakv proxy`: run until SIGINT/SIGTERM (obeyed while waiting for the map too). */
export function proxyMain(argv: string[], shutdown: Shutdown): Promise<number> {
  return runServer(PROXY_COMMAND, argv, shutdown);
}
