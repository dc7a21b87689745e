import { parseCommandLine, numberArg, logFormatArg, UsageError, CONN_LIMIT_SWITCHES, connLimitArgs, connLimitUsage, checkListenIp, TLS_SWITCHES, tlsArgs, isUsageProblem } from '../cli-util.js';
import type { Shutdown } from '../shutdown.js';
import { runServer, type ServerCommand } from '../server-command.js';
import { DirError } from '../../cluster/ensure-dir.js';
import { Manager } from '../../cluster/manager/manager.js';
import type { ManagerOptions } from '../../cluster/manager/options.js';

export const MANAGER_USAGE = `Usage: pandakv manager [switches]

Keeps the cluster map in a config store, serves it at ws://IP:PORT/map, takes node
registrations, detects failures and plans bucket placement.

  --cfg URL                file:PATH (default file:./data/cfg.json) or etcd://HOST:PORT[,HOST:PORT]
  --ip ADDR                address to listen on (default 127.0.0.1)
  --port N                 port; 0 picks a free one (default 0)
  --redundancy R           copies of each item for a new cluster (default 1)
  --buckets N              buckets of a new cluster, a power of two (default 2^24)
  --failover-after-ms MS   declare a silent node failed after this long (default 5000)
  --no-auto-add            place new nodes only on "pandakv cluster add"
  --no-auto-restore        after a failover keep the promoted map (fewer copies) until
                           "pandakv cluster rebalance"; default: restore copies at once
  --advertise URL          address other managers and tools should use
  --leader-lease-ms MS     TTL of the planner's election lease (default 3000)
  --moves-per-node N       units one node may be gaining a copy of at once (default 128)
  --max-moves N            units moved at once, cluster-wide (default 512)
  --move-timeout-ms MS     a batch whose new copies have not caught up by then is rolled
                           back and moves pause (default 120000)
  --key FILE               the manager's key pair (created 0600 when missing; default: new per start)
  --dht HOST:PORT[,…]      peer-plane bootstrap to name to nodes started without --dht
                           (default: the manager runs one of its own on --ip)
  --no-dht                 offer nodes no peer plane (they replicate only with their own --dht)
  --fence-margin-ms MS     margin between a node fencing itself and the earliest failover
                           (default min(500, failover/10); see docs/replication.md)
  --log-format FORMAT      cluster event lines on stderr: text (default) or json
  --insecure               no authentication on /map and the admin API (development only)
  --tls-cert FILE          certificate chain (PEM) of its port: the admin API, /map, /metrics
                           and the dashboard then speak https:// and wss:// only
  --tls-key FILE           its private key (PEM); needs --tls-cert
  --help                   print this text

Connection limits of its port (docs/operations.md, "Connection limits"):
${connLimitUsage(10_000)}`;

export function parseManagerArgs(argv: string[]): Partial<ManagerOptions> | 'help' {
  const { values, positionals } = parseCommandLine(argv, {
    cfg: { type: 'string' },
    ip: { type: 'string' },
    port: { type: 'string' },
    redundancy: { type: 'string' },
    buckets: { type: 'string' },
    'failover-after-ms': { type: 'string' },
    'no-auto-add': { type: 'boolean' },
    'no-auto-restore': { type: 'boolean' },
    advertise: { type: 'string' },
    'leader-lease-ms': { type: 'string' },
    key: { type: 'string' },
    insecure: { type: 'boolean' },
    'moves-per-node': { type: 'string' },
    'max-moves': { type: 'string' },
    dht: { type: 'string' },
    'no-dht': { type: 'boolean' },
    'fence-margin-ms': { type: 'string' },
    'move-timeout-ms': { type: 'string' },
    ...CONN_LIMIT_SWITCHES,
    'tls-cert': TLS_SWITCHES['tls-cert'],
    'tls-key': TLS_SWITCHES['tls-key'],
    'log-format': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const { tls } = tlsArgs(values);
  const o: Partial<ManagerOptions> = { ...connLimitArgs(values), ...(tls === undefined ? {} : { tls }) };
  if (values.cfg !== undefined) {
    const cfg = String(values.cfg);
    if (!/^(file:.+|etcd:\/\/.+)$/.test(cfg)) throw new UsageError(`--cfg must be file:PATH or etcd://HOST:PORT, got "${cfg}"`);
    o.cfg = cfg;
  }
  if (values.ip !== undefined) o.ip = String(values.ip);
  const port = numberArg(values, 'port', (n) => Number.isInteger(n) && n >= 0 && n <= 65535);
  if (port !== undefined) o.port = port;
  const r = numberArg(values, 'redundancy', (n) => Number.isInteger(n) && n >= 1 && n <= 8);
  if (r !== undefined) o.redundancy = r;
  if (values.buckets !== undefined) {
    const text = String(values.buckets);
    const m = /^2\^(\d+)$/.exec(text);
    const n = m ? 2 ** Number(m[1]) : Number(text);
    const bits = Math.log2(n);
    if (!Number.isInteger(bits) || bits < 1 || bits > 32) throw new UsageError(`--buckets must be a power of two between 2 and 2^32, got "${text}"`);
    o.bits = bits;
  }
  const f = numberArg(values, 'failover-after-ms', (n) => Number.isInteger(n) && n >= 50);
  if (f !== undefined) o.failoverAfterMs = f;
  if (values['no-auto-add']) o.isAutoAdd = false;
  if (values['no-auto-restore']) o.isAutoRestore = false;
  if (values.advertise !== undefined) o.advertise = String(values.advertise);
  const lease = numberArg(values, 'leader-lease-ms', (n) => Number.isInteger(n) && n >= 100);
  if (lease !== undefined) o.leaderLeaseMs = lease;
  if (values.key !== undefined) o.keyFile = String(values.key);
  const perNode = numberArg(values, 'moves-per-node', (n) => Number.isInteger(n) && n >= 1);
  if (perNode !== undefined) o.movesPerNode = perNode;
  const moveTimeout = numberArg(values, 'move-timeout-ms', (n) => Number.isSafeInteger(n) && n >= 100);
  if (moveTimeout !== undefined) o.moveTimeoutMs = moveTimeout;
  const maxMoves = numberArg(values, 'max-moves', (n) => Number.isInteger(n) && n >= 1);
  if (maxMoves !== undefined) o.maxMoves = maxMoves;
  const logFormat = logFormatArg(values);
  if (logFormat !== undefined) o.logFormat = logFormat;
  if (values.insecure) o.isInsecure = true;
  if (values['no-dht'] && values.dht !== undefined) throw new UsageError('--dht and --no-dht exclude each other');
  if (values['no-dht']) o.isDhtEnabled = false;
  if (values.dht !== undefined) {
    const list = String(values.dht).split(',').map((d) => d.trim()).filter((d) => d !== '');
    for (const d of list) if (!/^[^\s:]{1,253}:\d{1,5}$/.test(d) || Number(d.slice(d.lastIndexOf(':') + 1)) > 65535) throw new UsageError(`--dht takes HOST:PORT[,HOST:PORT], got "${d}"`);
    if (list.length === 0) throw new UsageError('--dht takes HOST:PORT[,HOST:PORT]');
    o.dht = list;
  }
  const margin = numberArg(values, 'fence-margin-ms', (n) => Number.isInteger(n) && n >= 0);
  if (margin !== undefined) o.fenceMarginMs = margin;
  return o;
}

/** `pandakv manager` as a server command. */
export const MANAGER_COMMAND: ServerCommand<Partial<ManagerOptions>, Manager> = {
  usage: MANAGER_USAGE,
  parse: parseManagerArgs,
  async listen(opts, shutdown) {
    if (opts.isInsecure) process.stderr.write('pandakv manager: WARNING: --insecure: /map and the admin API accept anyone who can reach them\n');
    await checkListenIp(opts.ip);
    let manager: Manager;
    try {
      manager = new Manager(opts);
    } catch (err) {
      if (isUsageProblem(err)) throw new UsageError(err.message);
      throw err;
    }
    try {
      await shutdown.race(manager.listen(), `starting (config store ${opts.cfg ?? 'default'})`);
    } catch (err) {
      if (err instanceof DirError) throw new UsageError(`--cfg: ${err.message}`);
      throw err;
    }
    return manager;
  },
  announce: (manager) => [`pandakv manager listening on ${manager.address}`, `pandakv manager dashboard at ${manager.address}/ui`],
  close: (manager) => manager.close(),
};

/** `pandakv manager`: run until SIGINT/SIGTERM (obeyed while starting too). */
export function managerMain(argv: string[], shutdown: Shutdown): Promise<number> {
  return runServer(MANAGER_COMMAND, argv, shutdown);
}
