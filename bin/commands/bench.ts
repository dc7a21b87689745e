import { resolve } from 'node:path';
import { BENCH_USAGE, parseBenchArgs } from '../../bench/args.js';
import { runSuite } from '../../bench/suite.js';
import { formatSummary, writeResults } from '../../bench/report.js';
import { parseMapArgs, runMapCli, runMapPhase, splitMapArgs, type MapBenchResults } from '../../bench/map-fanout.js';
import { runProxyCli } from '../../bench/proxy-bench.js';
import { runRebalanceCli } from '../../bench/rebalance-bench.js';
import { runFailoverCli } from '../../bench/failover-bench.js';
import { runStoreCli } from '../../bench/store-bench.js';
import { runDurableCli } from '../../bench/durable-bench.js';
import { runScanCli } from '../../bench/scan-bench.js';
import { runPeersCli } from '../../bench/peers-bench.js';
import { runWakeCli } from '../../bench/wake-bench.js';
import { runProxyAbCli } from '../../bench/proxy-ab.js';
import { killSpawned } from '../spawn.js';

/** Exit code when a planned subcommand is not built yet (same as a usage error). */
const EXIT_UNAVAILABLE = 2;
/** Exit code when a phase failed to produce its figures. */
const EXIT_PHASE_FAILED = 1;

/**
 * `pandakv bench`: run the suite, print each figure with its target and PASS/MISS, and
 * write the results file. Misses do not fail the command (figures depend on the
 * machine); a phase that cannot run does.
 * @throws UsageError on bad switches
 */
export async function runBenchCli(argv: string[]): Promise<number> {
  // The clusters a bench starts must not outlive it, whatever ends it: a reader of its
  // output that goes away (\`| head\`) ends it with EPIPE mid-run, past every \`finally\`.
  process.once('exit', () => killSpawned('SIGKILL'));
  // `bench proxy` runs the proxy bench (bench/proxy-bench.ts).
  if (argv[0] === 'proxy') return runProxyCli(argv.slice(1), process.stdout);
  // `bench rebalance` and `bench failover` run the replication benches (bench/rebalance-bench.ts, bench/failover-bench.ts).
  if (argv[0] === 'rebalance') return runRebalanceCli(argv.slice(1), process.stdout);
  if (argv[0] === 'failover') return runFailoverCli(argv.slice(1), process.stdout);
  // `bench store` compares the disk engine's candidate stores (bench/store-bench.ts).
  if (argv[0] === 'store') return runStoreCli(argv.slice(1), process.stdout);
  // `bench durable` compares the disk engine with the memory engine (bench/durable-bench.ts).
  if (argv[0] === 'durable') return runDurableCli(argv.slice(1), process.stdout);
  // `bench scan` runs the scan bench (bench/scan-bench.ts).
  if (argv[0] === 'scan') return runScanCli(argv.slice(1), process.stdout);
  // `bench peers` measures PandaKV against Redis Cluster + ioredis and twemproxy (bench/peers-bench.ts).
  if (argv[0] === 'peers') return runPeersCli(argv.slice(1), process.stdout);
  // `bench wake` measures what a wake-up costs a node and memcached per message (bench/wake-bench.ts).
  if (argv[0] === 'wake') return runWakeCli(argv.slice(1), process.stdout);
  // `bench proxy-ab` runs two proxies (and twemproxy) side by side (bench/proxy-ab.ts).
  if (argv[0] === 'proxy-ab') return runProxyAbCli(argv.slice(1), process.stdout);
  // `bench map` and `--only map` run the map fan-out bench (bench/map-fanout.ts).
  const split = splitMapArgs(argv);
  if (split.suiteArgv === null) return runMapCli(split.mapArgv ?? [], process.stdout);
  const mapOptions = split.mapArgv === null ? null : parseMapArgs(split.mapArgv);
  const command = parseBenchArgs(split.suiteArgv);
  if (command.kind === 'help') {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  if (command.kind === 'unavailable') {
    process.stderr.write(`pandakv bench ${command.name}: not available yet\n`);
    return EXIT_UNAVAILABLE;
  }
  const options = command.options;
  const results: MapBenchResults = { ...(await runSuite(options, process.stdout)), map: null };
  if (mapOptions !== null && mapOptions !== 'help') await runMapPhase(mapOptions, results, process.stdout);
  results.finishedAt = new Date().toISOString();
  process.stdout.write(formatSummary(results.figures, results.failures));
  const file = resolve(options.jsonFile);
  await writeResults(file, results);
  process.stdout.write(`results written to ${file}\n`);
  return results.failures.length > 0 ? EXIT_PHASE_FAILED : 0;
}
