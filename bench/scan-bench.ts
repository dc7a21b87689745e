/**
 * `pandakv bench scan`: keys/s of a full-range scan on 3 nodes, through the SDK (direct,
 * k-way merge of the nodes' streams) and through the proxy's native protocol (pages
 * resumed by cursor), first on an idle cluster, then while a 4th node joins and units
 * move. Every scan is checked to return each loaded key exactly once, in order.
 */
import WebSocket from 'ws';
import { once } from 'node:events';
import { numberArg, parseCommandLine, UsageError } from '../bin/cli-util.js';
import { spawnProxy, type Spawned } from '../bin/spawn.js';
import { encodeMessage, decodeResponses } from '../shared/protocol/codec.js';
import { Op } from '../shared/protocol/ops.js';
import { Status } from '../shared/status.js';
import { formatCount } from './histogram.js';
import { BENCH_DEFAULTS } from './options.js';
import { emptyResults, finishRun, makeFigure, runPhase, type Figure } from './report.js';
import { connectRepl, pollUntil, rebalanceProgress, startReplCluster, waitReplicated, type Client, type ReplCluster } from './repl-cluster.js';

/** Options of `pandakv bench scan`. */
export interface ScanBenchOptions {
  /** Keys loaded before scanning. @default 200000 */
  keys: number;
  /** @default 100 */
  valueSize: number;
  /** SDK page size per node. @default 256 */
  pageSize: number;
  /** Entries per proxy page. @default 1000 */
  proxyPage: number;
  /** Requests outstanding while loading. @default 256 */
  loadInflight: number;
  /** @default 15000 */
  spawnTimeoutMs: number;
  /** Deadline of each scan step, ms. @default 20000 */
  stepTimeoutMs: number;
  /** @default 'bench-results.json' */
  jsonFile: string;
}

export const SCAN_BENCH_DEFAULTS: Readonly<ScanBenchOptions> = Object.freeze({
  keys: 200_000,
  valueSize: 100,
  pageSize: 256,
  proxyPage: 1000,
  loadInflight: 256,
  spawnTimeoutMs: 15_000,
  stepTimeoutMs: 20_000,
  jsonFile: BENCH_DEFAULTS.jsonFile,
});

export const SCAN_USAGE = `Usage: pandakv bench scan [switches]

Starts a DHT bootstrap, a manager (r = 2), 3 nodes and a proxy on 127.0.0.1, loads the
keys, then times full-range scans: through the SDK and through the proxy's native
protocol, idle, then again while a 4th node joins and units move. Prints keys/s of each,
the proxy's share of the SDK's, and checks every scan returned each key once, in order.

  --keys N         keys loaded first (default 200000)
  --value-size B   value length (default 100)
  --page N         SDK entries per node per round trip (default 256)
  --proxy-page N   entries per proxy page (default 1000)
  --json FILE      results file (default bench-results.json)
  --quick          30 000 keys
  --help           print this text
`;

const SWITCHES = {
  keys: { type: 'string' }, 'value-size': { type: 'string' }, page: { type: 'string' }, 'proxy-page': { type: 'string' },
  json: { type: 'string' }, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

/** Parse `pandakv bench scan` arguments. @throws UsageError */
export function parseScanArgs(argv: string[]): ScanBenchOptions | 'help' {
  const { values, positionals } = parseCommandLine(argv, SWITCHES);
  if (values.help === true) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const o: ScanBenchOptions = { ...SCAN_BENCH_DEFAULTS, ...(values.quick === true ? { keys: 30_000 } : {}) };
  const isCount = (max: number) => (n: number): boolean => Number.isSafeInteger(n) && n >= 1 && n <= max;
  o.keys = numberArg(values, 'keys', isCount(10_000_000)) ?? o.keys;
  o.valueSize = numberArg(values, 'value-size', isCount(65_536)) ?? o.valueSize;
  o.pageSize = numberArg(values, 'page', isCount(10_000)) ?? o.pageSize;
  o.proxyPage = numberArg(values, 'proxy-page', isCount(10_000)) ?? o.proxyPage;
  if (values.json !== undefined) {
    const file = String(values.json).trim();
    if (file === '') throw new UsageError('--json: expected a file name');
    o.jsonFile = file;
  }
  return o;
}

const keyOf = (i: number): string => `scan:${String(i).padStart(8, '0')}`;

/** One timed scan: keys returned, keys/s, and whether they were exactly the loaded ones in order. */
interface ScanRun { keys: number; keysPerSec: number; isExact: boolean; note: string }

/** Checks keys arrive as keyOf(0), keyOf(1), … with nothing missing, repeated or extra. */
class Exactness {
  private at = 0;
  private isBroken = false;

  see(key: string): void {
    if (key !== keyOf(this.at)) this.isBroken = true;
    this.at++;
  }

  isExact(total: number): boolean {
    return !this.isBroken && this.at === total;
  }
}

async function sdkScan(db: Client, o: ScanBenchOptions): Promise<ScanRun> {
  const check = new Exactness();
  const t0 = performance.now();
  const it = db.scan({ start: 'scan:', end: 'scan;', pageSize: o.pageSize, timeoutMs: o.stepTimeoutMs });
  for await (const e of it) check.see(e.key);
  const ms = performance.now() - t0;
  const s = it.stats;
  return { keys: o.keys, keysPerSec: (o.keys * 1000) / ms, isExact: check.isExact(o.keys), note: `${s.pages} pages, ${s.replans} re-plans, ${s.handovers} hand-overs, ${s.droppedRows} rows re-read` };
}

async function proxyScan(proxy: string, o: ScanBenchOptions): Promise<ScanRun> {
  const ws = new WebSocket(proxy, { perMessageDeflate: false });
  ws.on('error', () => undefined);
  await once(ws, 'open');
  const check = new Exactness();
  let pages = 0;
  let retries = 0;
  const t0 = performance.now();
  try {
    let cursor: string | null = null;
    for (let id = 1; ; id++) {
      const extra: Record<string, unknown> = { end: 'scan;', limit: o.proxyPage };
      if (cursor !== null) extra.cursor = cursor;
      const reply = once(ws, 'message');
      ws.send(encodeMessage([[id, Op.SCAN, 0, cursor === null ? 'scan:' : null, null, 0, 0, 0, extra]]));
      const r = decodeResponses((await reply)[0] as Buffer)?.[0];
      if (r === undefined) throw new Error('malformed answer from the proxy');
      if (r.status === Status.SCAN_INTERRUPTED) {
        retries++;
        continue;
      }
      if (r.status !== Status.OK) throw new Error(`proxy scan answered status ${r.status}: ${String(r.extra?.message)}`);
      pages++;
      const flat = r.value as unknown[];
      for (let i = 0; i < flat.length; i += 4) check.see(String(flat[i]));
      cursor = (r.extra?.cursor as string | null | undefined) ?? null;
      if (cursor === null) break;
    }
  } finally {
    ws.close();
  }
  const ms = performance.now() - t0;
  return { keys: o.keys, keysPerSec: (o.keys * 1000) / ms, isExact: check.isExact(o.keys), note: `${pages} pages, ${retries} interrupted pages retried` };
}

function line(out: NodeJS.WritableStream, label: string, r: ScanRun): void {
  out.write(`  ${label.padEnd(30)} ${formatCount(r.keysPerSec).padStart(10)} keys/s   ${r.isExact ? 'exact' : 'NOT EXACT'}   (${r.note})\n`);
}

async function load(db: Client, o: ScanBenchOptions): Promise<void> {
  const value = 'x'.repeat(o.valueSize);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < o.keys; i = next++) await db.set(keyOf(i), value);
  };
  await Promise.all(Array.from({ length: o.loadInflight }, worker));
}

async function runScanPhase(o: ScanBenchOptions, figures: Figure[], out: NodeJS.WritableStream): Promise<void> {
  let cluster: ReplCluster | null = null;
  let proxy: Spawned | null = null;
  let db: Client | null = null;
  try {
    cluster = await startReplCluster({ nodes: 3, managerArgs: [], nodeMemoryMb: 512, spawnTimeoutMs: o.spawnTimeoutMs });
    db = await connectRepl(cluster.manager.address, { inflight: o.loadInflight, timeoutMs: 10_000 });
    await waitReplicated(db, 3, 60_000);
    proxy = await spawnProxy(['--insecure', '--map', cluster.manager.address, '--no-memcached', '--timeout-ms', String(o.stepTimeoutMs)], o.spawnTimeoutMs);
    const t0 = performance.now();
    await load(db, o);
    out.write(`  loaded ${formatCount(o.keys)} keys in ${formatCount(performance.now() - t0)} ms\n`);
    const idleSdk = await sdkScan(db, o);
    line(out, 'SDK, idle', idleSdk);
    const idleProxy = await proxyScan(proxy.address, o);
    line(out, 'proxy, idle', idleProxy);
    // A 4th node joins; scan while its units move, SDK and proxy side by side.
    const epoch = db.map!.epoch;
    await cluster.addNode();
    await pollUntil('the first move of the join', 60_000, () => (db!.map!.epoch > epoch ? true : null), 20);
    const [busySdk, busyProxy] = await Promise.all([sdkScan(db, o), proxyScan(proxy.address, o)]);
    const progress = await rebalanceProgress(cluster.manager.address);
    const still = progress === null ? 'unknown' : progress.isDone ? 'finished before the scans did'
      : `still running (${progress.moves === undefined ? '?' : `${progress.moves.unitsMoved} units moved, ${progress.moves.unitsLeft} left`}; ${progress.applied}/${progress.total} nodes at map rev ${progress.rev})`;
    line(out, 'SDK, during rebalance', busySdk);
    line(out, 'proxy, during rebalance', busyProxy);
    out.write(`  rebalance ${still}; map epoch ${epoch} → ${db.map!.epoch}\n`);
    const exact = [idleSdk, idleProxy, busySdk, busyProxy].every((r) => r.isExact);
    figures.push(
      makeFigure('scan.sdk.idle.keysPerSec', 'SDK scan, idle', idleSdk.keysPerSec, 'keys/s', null),
      makeFigure('scan.proxy.idle.keysPerSec', 'proxy scan, idle', idleProxy.keysPerSec, 'keys/s', null),
      makeFigure('scan.proxy.idle.ratio', 'proxy ÷ SDK, idle', idleProxy.keysPerSec / idleSdk.keysPerSec, 'ratio', null),
      makeFigure('scan.sdk.rebalance.keysPerSec', 'SDK scan, rebalancing', busySdk.keysPerSec, 'keys/s', null),
      makeFigure('scan.proxy.rebalance.keysPerSec', 'proxy scan, rebalancing', busyProxy.keysPerSec, 'keys/s', null),
      makeFigure('scan.exact', 'scans exact (1 = all four)', exact ? 1 : 0, 'count', { comparison: '>=', value: 1 }),
    );
  } finally {
    await db?.close();
    await proxy?.stop('SIGTERM');
    await cluster?.close();
  }
}

/** `pandakv bench scan`. */
export async function runScanCli(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const o = parseScanArgs(argv);
  if (o === 'help') {
    out.write(SCAN_USAGE);
    return 0;
  }
  const results = emptyResults(o.jsonFile);
  const { machine } = results;
  out.write(`pandakv bench scan on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}\n`);
  out.write(`DHT + manager (r = 2) + 3 nodes + proxy, then a 4th node; ${formatCount(o.keys)} keys, ${o.valueSize}-byte values; `
    + `SDK pages of ${o.pageSize} per node, proxy pages of ${o.proxyPage}\n\n`);
  await runPhase('scan', results, out, async () => {
    const figures: Figure[] = [];
    await runScanPhase(o, figures, out);
    return figures;
  });
  return finishRun(results, o.jsonFile, out);
}
