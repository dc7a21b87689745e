import {
  parseCommandLine, numberArg, logFormatArg, powerArg, UsageError, loadCredentialsArg, CONN_LIMIT_SWITCHES, connLimitArgs, connLimitUsage, managerUrlArg,
  checkListenIp, TLS_SWITCHES, tlsArgs, tlsUsage,
} from '../cli-util.js';
import type { Shutdown } from '../shutdown.js';
import { runServer, type ServerCommand } from '../server-command.js';
import { DirError, ensureDir } from '../../cluster/ensure-dir.js';
import { DataNode } from '../../cluster/node/data-node.js';
import { MIN_PEER_IDLE_TIMEOUT_MS } from '../../cluster/peer/index.js';
import type { NodeOptions } from '../../cluster/node/options.js';
import { readFileSync } from 'node:fs';
import { PUBLIC_KEY_BYTES, isHex } from '../../shared/auth/index.js';
import { applySchedPolicy, schedArg, schedUsage, type SchedPolicy } from '../sched-policy.js';

export const NODE_USAGE = `Usage: pandakv node [switches]

Starts a data node. Alone it owns every bucket; with --manager it joins that manager's
cluster; with --redundancy R (no manager) it seeds a ring that others join with --ringnode.

  --ip ADDR            address to listen on (default 127.0.0.1)
  --port N             port to listen on; 0 picks a free one (default 0)
  --memory-size MB     memory budget of the engine (default 100); with the disk engine, the
                       read cache in front of the disk
  --engine KIND        disk (items in --data-dir, survive crashes, may exceed memory) or
                       memory (a cache); default: disk with --data-dir, else memory
  --commit-interval-ms MS  disk engine: longest a write waits for its group commit
                       (fsync) to start (default 5)
  --expiry-sweep-ms MS disk engine: start a pass reclaiming expired items from the disk
                       this often (default 60000; 0 never: they go when next read)
  --no-evict           refuse writes beyond the budget (OUT_OF_MEMORY) instead of evicting
  --incoming-ip CIDR   allow clients from this range; repeatable; IPv4 or IPv6 (default: all)
  --buckets N          number of buckets, a power of two, e.g. 16777216 or 2^24 (default 2^24)
  --redundancy R       copies of each item, without --manager: above 1 this node seeds a
                       ring (it serves the ring's map itself, kept in --data-dir, and prints
                       its address); needs --dht and --data-dir. With --manager or
                       --ringnode the cluster's redundancy applies (warns)
  --ringnode URL       join the ring that node seeded: the "ring map at" URL it printed
  --data-dir DIR       directory for identity and durable state (the disk engine's files
                       are in DIR/engine)
  --zone NAME          failure zone
  --manager URL        register with this manager (http://host:port) and follow its map
  --weight W           share of units relative to other nodes (default 1)
  --advertise URL      address clients should use (default: the listening address)
  --max-key-bytes N    longest key (default 250)
  --max-value-bytes N  longest value (default 1048576)
  --credentials FILE   an admin principal's credentials, to register with the manager
  --manager-key HEX    the manager's public key to require (default: trust the one presented)
  --principals FILE    principals accepted without a manager (a JSON array of records)
  --dht HOST:PORT      DHT bootstrap of the peer plane (replication); repeatable
  --backfill-rate KB   most KiB per second this node copies in to take a unit (moves,
                       repairs), all sources together; 0 = no limit (default 0)
  --hint-ttl-ms MS     drop hints held for a down replica after this long (default 10800000, 3 h)
  --peer-idle-timeout-ms MS
                       drop a peer link that received nothing, keep-alives included, for
                       this long: records for a paused or cut-off replica then go to hints
                       (default 20000; keep-alives every quarter of it, at most every 5 s)
  --recovery-window-ms MS
                       back after a failover or restart, keep data of units not given back
                       this long before purging it (default 60000)
  --stop-timeout-ms MS after SIGINT/SIGTERM, exit (code 1) if the graceful stop, warm-restart
                       snapshot included, takes longer than this (default 1500)
  --no-warm-restart    with --data-dir and --dht, a graceful stop keeps the items for the next
                       start, which then catches up by delta; this turns that off
  --log-format FORMAT  cluster event lines on stderr: text (default) or json
${schedUsage('batch', 23)}  --insecure           no authentication: every client may run every op (development only)
${tlsUsage('the client port (and its /metrics, /healthz)', 'the managers')}  --help               print this text

Connection limits of the client port (docs/operations.md, "Connection limits"):
${connLimitUsage(10_000)}`;

/** The node's options plus what only the process needs. */
export type NodeCliOptions = Partial<NodeOptions> & {
  /** Time a signal leaves for a graceful stop (warm-restart snapshot included) before exit. */
  stopTimeoutMs?: number;
  /** The process's scheduling policy (bin/sched-policy.ts). @default 'batch' */
  sched?: SchedPolicy;
};

/** Parse `pandakv node` switches into options. @throws UsageError */
export function parseNodeArgs(argv: string[]): NodeCliOptions | 'help' {
  const { values, positionals } = parseCommandLine(argv, {
    ip: { type: 'string' },
    port: { type: 'string' },
    'memory-size': { type: 'string' },
    'no-evict': { type: 'boolean' },
    'incoming-ip': { type: 'string', multiple: true },
    buckets: { type: 'string' },
    ringnode: { type: 'string' },
    redundancy: { type: 'string' },
    'data-dir': { type: 'string' },
    zone: { type: 'string' },
    manager: { type: 'string' },
    weight: { type: 'string' },
    advertise: { type: 'string' },
    'max-key-bytes': { type: 'string' },
    'max-value-bytes': { type: 'string' },
    credentials: { type: 'string' },
    'manager-key': { type: 'string' },
    principals: { type: 'string' },
    insecure: { type: 'boolean' },
    dht: { type: 'string', multiple: true },
    'hint-ttl-ms': { type: 'string' },
    'peer-idle-timeout-ms': { type: 'string' },
    'recovery-window-ms': { type: 'string' },
    'backfill-rate': { type: 'string' },
    'no-warm-restart': { type: 'boolean' },
    engine: { type: 'string' },
    'commit-interval-ms': { type: 'string' },
    'expiry-sweep-ms': { type: 'string' },
    'stop-timeout-ms': { type: 'string' },
    ...CONN_LIMIT_SWITCHES,
    ...TLS_SWITCHES,
    'log-format': { type: 'string' },
    sched: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const opts: NodeCliOptions = { ...connLimitArgs(values), ...tlsArgs(values) };
  const sched = schedArg(values.sched);
  if (sched !== undefined) opts.sched = sched;
  const int = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
  if (values.ip !== undefined) opts.ip = String(values.ip);
  const port = numberArg(values, 'port', (n) => int(n) && n <= 65535);
  if (port !== undefined) opts.port = port;
  const mem = numberArg(values, 'memory-size', (n) => Number.isFinite(n) && n > 0);
  if (mem !== undefined) opts.memorySizeMb = mem;
  if (values['no-evict']) opts.isEvictionEnabled = false;
  if (values['incoming-ip'] !== undefined) opts.incomingIp = (values['incoming-ip'] as string[]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const buckets = powerArg(values, 'buckets');
  if (buckets !== undefined) opts.buckets = buckets;
  if (values.ringnode !== undefined) {
    if (!/^(https?|wss?):\/\/\S+$/.test(String(values.ringnode))) throw new UsageError(`--ringnode must be the ring URL the seed printed (http://host:port), got "${String(values.ringnode)}"`);
    opts.ringnode = String(values.ringnode);
  }
  const redundancy = numberArg(values, 'redundancy', (n) => Number.isInteger(n) && n >= 1);
  if (redundancy !== undefined) opts.redundancy = redundancy;
  if (values['data-dir'] !== undefined) opts.dataDir = String(values['data-dir']);
  if (values.zone !== undefined) opts.zone = String(values.zone);
  if (values.manager !== undefined) opts.manager = managerUrlArg(String(values.manager), 'manager');
  const weight = numberArg(values, 'weight', (n) => n > 0 && n <= 1000);
  if (weight !== undefined) opts.weight = weight;
  if (values.advertise !== undefined) opts.advertise = String(values.advertise);
  const maxKey = numberArg(values, 'max-key-bytes', (n) => int(n) && n >= 1);
  if (maxKey !== undefined) opts.maxKeyBytes = maxKey;
  const maxValue = numberArg(values, 'max-value-bytes', (n) => int(n) && n >= 1);
  if (maxValue !== undefined) opts.maxValueBytes = maxValue;
  if (values.insecure) opts.isInsecure = true;
  if (values.dht !== undefined) {
    opts.dht = (values.dht as string[]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
    for (const hp of opts.dht) if (!/^[^\s:]+:\d{1,5}$/.test(hp)) throw new UsageError(`--dht must be HOST:PORT, got "${hp}"`);
  }
  const hintTtl = numberArg(values, 'hint-ttl-ms', (n) => int(n) && n >= 1);
  if (hintTtl !== undefined) opts.hintTtlMs = hintTtl;
  const peerIdle = numberArg(values, 'peer-idle-timeout-ms', (n) => int(n) && n >= MIN_PEER_IDLE_TIMEOUT_MS && n <= 3_600_000);
  if (peerIdle !== undefined) opts.peerIdleTimeoutMs = peerIdle;
  const recovery = numberArg(values, 'recovery-window-ms', (n) => int(n) && n >= 0 && n <= 86_400_000);
  if (recovery !== undefined) opts.recoveryCleanupMs = recovery;
  const backfillRate = numberArg(values, 'backfill-rate', (n) => Number.isFinite(n) && n >= 0 && n <= 1e9);
  if (backfillRate !== undefined) opts.backfillBytesPerSec = Math.round(backfillRate * 1024);
  if (values['no-warm-restart']) opts.isWarmRestartEnabled = false;
  if (values.engine !== undefined) {
    const kind = String(values.engine);
    if (kind !== 'disk' && kind !== 'memory') throw new UsageError(`--engine must be disk or memory, got "${kind}"`);
    if (kind === 'disk' && opts.dataDir === undefined) throw new UsageError('--engine disk needs --data-dir');
    opts.engine = kind;
  }
  const commitMs = numberArg(values, 'commit-interval-ms', (n) => int(n) && n <= 10_000);
  if (commitMs !== undefined) opts.commitIntervalMs = commitMs;
  const sweepMs = numberArg(values, 'expiry-sweep-ms', (n) => int(n) && n <= 86_400_000);
  if (sweepMs !== undefined) opts.expirySweepIntervalMs = sweepMs;
  const stop = numberArg(values, 'stop-timeout-ms', (n) => Number.isSafeInteger(n) && n >= 1);
  if (stop !== undefined) opts.stopTimeoutMs = stop;
  const logFormat = logFormatArg(values);
  if (logFormat !== undefined) opts.logFormat = logFormat;
  if (values.credentials !== undefined) opts.credentials = loadCredentialsArg(String(values.credentials));
  if (values['manager-key'] !== undefined) {
    const key = String(values['manager-key']);
    if (!isHex(key, PUBLIC_KEY_BYTES)) throw new UsageError('--manager-key must be 64 hex digits');
    opts.managerKey = key.toLowerCase();
  }
  if (values.principals !== undefined) opts.principals = loadPrincipalsFile(String(values.principals));
  return opts;
}

/** Switches that parse but do nothing in this combination: said once at start. */
export function nodeWarnings(opts: Partial<NodeOptions>): string[] {
  const out: string[] = [];
  const r = opts.redundancy ?? 1;
  if (r > 1 && (opts.manager ?? null) !== null) out.push(`--redundancy ${r} is ignored: the manager's redundancy applies (pandakv manager --redundancy, pandakv cluster set --redundancy)`);
  else if (r > 1 && (opts.ringnode ?? null) !== null) out.push(`--redundancy ${r} is ignored: the ring's redundancy (set by its seed) applies (pandakv cluster set --redundancy --manager RING-URL)`);
  return out;
}

/** Read `--principals FILE`: a JSON array of principal records. @throws UsageError */
function loadPrincipalsFile(path: string): unknown[] {
  let list: unknown;
  try {
    list = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--principals: cannot read ${path}: ${(err as Error).message}`);
  }
  if (!Array.isArray(list)) throw new UsageError(`--principals: ${path} must hold a JSON array of principals`);
  return list;
}

/** `pandakv node` as a server command. */
export const NODE_COMMAND: ServerCommand<NodeCliOptions, DataNode> = {
  usage: NODE_USAGE,
  parse: parseNodeArgs,
  async listen(opts, shutdown) {
    const { stopTimeoutMs, sched, ...nodeOptions } = opts;
    if (stopTimeoutMs !== undefined) shutdown.setStopTimeout(stopTimeoutMs);
    const schedWarning = applySchedPolicy(sched ?? 'batch');
    if (schedWarning !== null) process.stderr.write(`pandakv node: WARNING: ${schedWarning}\n`);
    if (opts.isInsecure) process.stderr.write('pandakv node: WARNING: --insecure: every client that can connect may run every op\n');
    for (const warning of nodeWarnings(opts)) process.stderr.write(`pandakv node: WARNING: ${warning}\n`);
    await checkListenIp(nodeOptions.ip);
    try {
      // The data dir is made sure of first: the engine opens it in the constructor.
      if (nodeOptions.dataDir != null) await shutdown.race(ensureDir(nodeOptions.dataDir), 'creating the data dir');
      const node = new DataNode(nodeOptions);
      await shutdown.race(node.listen(), 'starting');
      return node;
    } catch (err) {
      // An unusable data dir is a switch to fix, not a failure to retry.
      if (err instanceof DirError) throw new UsageError(`--data-dir: ${err.message}`);
      throw err;
    }
  },
  announce(node) {
    const ring = node.ring === null ? [] : [`pandakv node ring map at ${node.ring.address} (other nodes: --ringnode ${node.ring.address}; clients: map ${node.ring.address})`];
    return [...ring, `pandakv node listening on ${node.url}`];
  },
  close: (node) => node.close(),
};

/** `pandakv node`: run until SIGINT/SIGTERM (obeyed while starting too). */
export function nodeMain(argv: string[], shutdown: Shutdown): Promise<number> {
  return runServer(NODE_COMMAND, argv, shutdown);
}
