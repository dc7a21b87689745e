import { numberArg, parseCommandLine, UsageError } from '../bin/cli-util.js';
import { parseMix, parseOps } from './mix.js';
import { checkKeySpace } from './workload.js';
import { BENCH_DEFAULTS, PHASES, QUICK_OVERRIDES, type BenchOptions, type Phase } from './options.js';

export const BENCH_USAGE = `Usage: pandakv bench [switches]

Runs the standard suite: transport ceiling, SDK GET/SET throughput as a share of the
ceiling, node memory per stored item, keystream hashing speed. Each figure is printed
with its target and PASS or MISS, and all of them are written to a JSON file.

  --ops LIST           SDK operations, each run on its own (default get,set)
  --mix LIST           one mixed SDK workload instead, e.g. get:90,set:10
  --keys N             key space of the throughput runs (default 100000)
  --items N            items loaded by the memory phase (default 1000000)
  --key-size B         key length in bytes (default 16)
  --value-size B       value length in bytes (default 100)
  --inflight N         requests kept outstanding (default 64)
  --duration S         seconds per timed run (default 3)
  --count N            operations per timed run instead of a duration
  --rounds N           timed runs per figure, the fastest counts (default 3)
  --warmup S           untimed warm-up before each run, seconds (default 1)
  --target URL         measure these nodes (ws://host:port, repeatable or comma-separated)
                       instead of spawning one
  --json FILE          results file (default bench-results.json)
  --quick              small sizes, whole suite well under 30 s (CI smoke)
  --only LIST          phases to run: ceiling, sdk, memory, keystream (comma-separated)
  --help               print this text

Other modes: pandakv bench proxy | peers | proxy-ab | map | rebalance | failover | store | durable | scan | wake
(each has --help).
`;

/** Subcommands reserved for later benches. */
export const PLANNED_SUBCOMMANDS = Object.freeze(['rebalance', 'failover', 'proxy'] as const);

/** What the command line asks for. */
export type BenchCommand =
  | { kind: 'help' }
  | { kind: 'unavailable'; name: string }
  | { kind: 'run'; options: BenchOptions };

const SWITCHES = {
  ops: { type: 'string' },
  mix: { type: 'string' },
  keys: { type: 'string' },
  items: { type: 'string' },
  'key-size': { type: 'string' },
  'value-size': { type: 'string' },
  inflight: { type: 'string' },
  duration: { type: 'string' },
  count: { type: 'string' },
  rounds: { type: 'string' },
  warmup: { type: 'string' },
  target: { type: 'string', multiple: true },
  json: { type: 'string' },
  quick: { type: 'boolean' },
  only: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const MAX_KEY_BYTES = 250;
const MAX_VALUE_BYTES = 1024 * 1024;
const MAX_INFLIGHT = 65_536;

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 1;
const isSeconds = (n: number): boolean => Number.isFinite(n) && n > 0 && n <= 86_400;

function parseOnly(text: string): Phase[] {
  const names = text.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  if (names.length === 0) throw new UsageError(`--only: expected one or more of ${PHASES.join(', ')}`);
  for (const name of names) {
    if (!(PHASES as readonly string[]).includes(name)) throw new UsageError(`--only: unknown phase "${name}" (expected ${PHASES.join(', ')})`);
  }
  // Phases always run in suite order, whatever order they were named in.
  return PHASES.filter((p) => names.includes(p));
}

function parseTargets(raw: string[]): string[] {
  const urls = raw.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  for (const url of urls) {
    if (!/^wss?:\/\/[^/\s]+(\/\S*)?$/.test(url)) throw new UsageError(`--target: "${url}" is not ws://host:port`);
  }
  return urls;
}

/** Parse `pandakv bench` arguments. @throws UsageError */
export function parseBenchArgs(argv: string[]): BenchCommand {
  const { values, positionals } = parseCommandLine(argv, SWITCHES);
  if (values.help === true) return { kind: 'help' };
  const [sub, ...extra] = positionals;
  if (sub !== undefined) {
    if ((PLANNED_SUBCOMMANDS as readonly string[]).includes(sub)) return { kind: 'unavailable', name: sub };
    throw new UsageError(`unknown subcommand "${sub}"`);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (values.ops !== undefined && values.mix !== undefined) throw new UsageError('--ops and --mix cannot be combined');
  if (values.duration !== undefined && values.count !== undefined) throw new UsageError('--duration and --count cannot be combined');

  const o: BenchOptions = { ...BENCH_DEFAULTS, ...(values.quick === true ? QUICK_OVERRIDES : {}) };
  if (typeof values.ops === 'string') o.mixes = parseOps(values.ops);
  if (typeof values.mix === 'string') o.mixes = [parseMix(values.mix)];
  o.keys = numberArg(values, 'keys', isCount) ?? o.keys;
  o.items = numberArg(values, 'items', isCount) ?? o.items;
  o.keySize = numberArg(values, 'key-size', (n) => isCount(n) && n <= MAX_KEY_BYTES) ?? o.keySize;
  o.valueSize = numberArg(values, 'value-size', (n) => Number.isSafeInteger(n) && n >= 0 && n <= MAX_VALUE_BYTES) ?? o.valueSize;
  o.inflight = numberArg(values, 'inflight', (n) => isCount(n) && n <= MAX_INFLIGHT) ?? o.inflight;
  o.durationS = numberArg(values, 'duration', isSeconds) ?? o.durationS;
  o.count = numberArg(values, 'count', isCount) ?? o.count;
  o.rounds = numberArg(values, 'rounds', (n) => isCount(n) && n <= 100) ?? o.rounds;
  o.warmupS = numberArg(values, 'warmup', (n) => Number.isFinite(n) && n >= 0 && n <= 3600) ?? o.warmupS;
  if (values.target !== undefined) o.targetNodes = parseTargets(values.target as string[]);
  if (values.json !== undefined) {
    const file = String(values.json).trim();
    if (file === '') throw new UsageError('--json: expected a file name');
    o.jsonFile = file;
  }
  if (typeof values.only === 'string') o.only = parseOnly(values.only);
  const usesKeys = o.only.includes('ceiling') || o.only.includes('sdk');
  checkKeySpace(Math.max(usesKeys ? o.keys : 1, o.only.includes('memory') ? o.items : 1), o.keySize);
  return { kind: 'run', options: o };
}
