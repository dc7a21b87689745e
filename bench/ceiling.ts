import { distPath, runToEnd, startReady } from './processes.js';
import type { WorkloadResult } from './workload.js';

/** Options of the transport-ceiling measurement. */
export interface CeilingOptions {
  inflight: number;
  durationMs: number;
  warmupMs: number;
  /** Operations instead of a duration; 0 = use `durationMs`. */
  count: number;
  /** Timed rounds; the fastest is reported. */
  rounds: number;
  keys: number;
  keySize: number;
  valueSize: number;
  /** Deadline for the server to report its port, ms. */
  spawnTimeoutMs: number;
}

const READY_LINE = /^ceiling-server listening on (ws:\/\/127\.0\.0\.1:\d+)$/;
/** Slowest rate assumed when bounding a count-based run, ops/s. */
const SLOWEST_OPS_PER_SEC = 5000;
const CLIENT_MARGIN_MS = 30_000;

/** Pick the `{"result": …}` line out of the client's stdout. @throws Error when there is none */
export function parseClientOutput(stdout: string): WorkloadResult {
  for (const line of stdout.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    const parsed: unknown = JSON.parse(line);
    const result = (parsed as { result?: unknown }).result;
    if (typeof result === 'object' && result !== null && typeof (result as WorkloadResult).opsPerSec === 'number') {
      return result as WorkloadResult;
    }
  }
  throw new Error('ceiling client printed no result');
}

/**
 * Transport ceiling: a ws echo server and a bare batching client, each in its own
 * process (as the SDK bench runs the SDK and the node apart). Both are stopped by pid.
 */
export async function runCeiling(o: CeilingOptions): Promise<WorkloadResult> {
  const server = await startReady({
    name: 'ceiling-server',
    args: [distPath('./ceiling-server.js'), '--value-size', String(o.valueSize)],
    pattern: READY_LINE,
    timeoutMs: o.spawnTimeoutMs,
  });
  try {
    const runMs = o.rounds * (o.count > 0 ? (o.count / SLOWEST_OPS_PER_SEC) * 1000 : o.durationMs);
    const stdout = await runToEnd({
      name: 'ceiling-client',
      args: [
        distPath('./ceiling-client.js'),
        '--url', server.match[1]!,
        '--inflight', String(o.inflight),
        '--duration-ms', String(Math.max(1, Math.round(o.durationMs))),
        '--warmup-ms', String(Math.round(o.warmupMs)),
        '--count', String(o.count),
        '--rounds', String(o.rounds),
        '--keys', String(o.keys),
        '--key-size', String(o.keySize),
        '--value-size', String(o.valueSize),
      ],
      isStderrInherited: true,
      timeoutMs: o.spawnTimeoutMs + o.warmupMs + runMs + CLIENT_MARGIN_MS,
    });
    return parseClientOutput(stdout);
  } finally {
    await server.handle.stop();
  }
}
