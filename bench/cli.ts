import { resolve } from 'node:path';
import { BENCH_USAGE, parseBenchArgs } from './args.js';
import { runSuite } from './suite.js';
import { formatSummary, writeResults } from './report.js';

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
  const command = parseBenchArgs(argv);
  if (command.kind === 'help') {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  if (command.kind === 'unavailable') {
    process.stderr.write(`pandakv bench ${command.name}: not available yet\n`);
    return EXIT_UNAVAILABLE;
  }
  const options = command.options;
  const results = await runSuite(options, process.stdout);
  process.stdout.write(formatSummary(results.figures, results.failures));
  const file = resolve(options.jsonFile);
  await writeResults(file, results);
  process.stdout.write(`results written to ${file}\n`);
  return results.failures.length > 0 ? EXIT_PHASE_FAILED : 0;
}
