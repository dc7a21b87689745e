/**
 * Transport-ceiling client: the same closed loop as the SDK runs, over a `RawLane`
 * instead of the SDK. Runs in its own process; prints one JSON line
 * `{"result": WorkloadResult}` on stdout, progress on stderr.
 *
 * `node dist/bench/ceiling-client.js --url ws://127.0.0.1:PORT --inflight 64 --duration-ms 5000`
 */
import { numberArg, parseCommandLine, runCommand, UsageError } from '../bin/cli-util.js';
import { parseMix } from './mix.js';
import { bestOf, runWorkload, type OpExecutor } from './workload.js';
import { RawLane, rawFrame } from './raw-lane.js';

const CONNECT_TIMEOUT_MS = 5000;

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, {
    url: { type: 'string' },
    mix: { type: 'string' },
    inflight: { type: 'string' },
    'duration-ms': { type: 'string' },
    'warmup-ms': { type: 'string' },
    count: { type: 'string' },
    rounds: { type: 'string' },
    keys: { type: 'string' },
    'key-size': { type: 'string' },
    'value-size': { type: 'string' },
    quiet: { type: 'boolean' },
  });
  const url = values.url;
  if (typeof url !== 'string' || !/^wss?:\/\//.test(url)) throw new UsageError('--url ws://host:port is required');
  const positive = (n: number): boolean => Number.isSafeInteger(n) && n > 0;
  const whole = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
  const mix = parseMix(typeof values.mix === 'string' ? values.mix : 'get:100');
  const base = {
    mix,
    inflight: numberArg(values, 'inflight', positive) ?? 64,
    keys: numberArg(values, 'keys', positive) ?? 100_000,
    keySize: numberArg(values, 'key-size', positive) ?? 16,
    valueSize: numberArg(values, 'value-size', whole) ?? 100,
    isQuiet: values.quiet === true,
  };
  const durationMs = numberArg(values, 'duration-ms', positive) ?? 5000;
  const warmupMs = numberArg(values, 'warmup-ms', whole) ?? 1000;
  const count = numberArg(values, 'count', whole) ?? 0;
  const rounds = numberArg(values, 'rounds', positive) ?? 1;

  const lane = await RawLane.open(url, CONNECT_TIMEOUT_MS);
  try {
    const exec: OpExecutor = (op, key, value) => lane.request(rawFrame(op, key, value));
    if (warmupMs > 0) await runWorkload(exec, { ...base, label: 'ceiling warm-up', durationMs: warmupMs, isQuiet: true });
    const result = await bestOf(rounds, (i) => runWorkload(exec, { ...base, label: rounds > 1 ? `ceiling ${i + 1}/${rounds}` : 'ceiling', durationMs, count }));
    result.label = 'ceiling';
    process.stdout.write(`${JSON.stringify({ result })}\n`);
    return 0;
  } finally {
    lane.close();
  }
}

void runCommand('ceiling-client', () => main(process.argv.slice(2)));
