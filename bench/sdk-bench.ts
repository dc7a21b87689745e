import { connect, type PandaClient } from '../sdk/index.js';
import type { OpMix } from './mix.js';
import { bestOf, runWorkload, type OpExecutor, type WorkloadResult } from './workload.js';

/** Options of the SDK throughput measurement. */
export interface SdkBenchOptions {
  mixes: OpMix[];
  keys: number;
  keySize: number;
  valueSize: number;
  inflight: number;
  /** Requests outstanding while loading the key space. */
  loadInflight: number;
  durationMs: number;
  warmupMs: number;
  /** Operations per run instead of a duration; 0 = use `durationMs`. */
  count: number;
  /** Timed rounds per mix; the fastest is reported. */
  rounds: number;
  opTimeoutMs: number;
}

export interface SdkBenchResult {
  /** Loading the key space before reads, when a mix reads. */
  load: WorkloadResult | null;
  runs: WorkloadResult[];
}

type Client = PandaClient<Uint8Array | string, Uint8Array>;

/** Open an SDK client on `nodes` with room for `inflight` requests per lane; `ca` for `wss://` nodes. */
export function connectClient(nodes: string[], inflight: number, timeoutMs: number, ca: string | null = null): Promise<Client> {
  return connect({ nodes, timeoutMs, connectTimeoutMs: timeoutMs, maxInFlightPerLane: Math.max(1024, inflight), tls: ca === null ? null : { ca } });
}

/** The workload executor for an SDK client. */
export function sdkExecutor(client: Client): OpExecutor {
  return (op, key, value) => {
    switch (op) {
      case 'get': return client.get(key);
      case 'set': return client.set(key, value);
      case 'delete': return client.delete(key);
    }
  };
}

/** Write every key of the space once, in order, `inflight` at a time. */
export function loadKeySpace(exec: OpExecutor, label: string, keys: number, o: { keySize: number; valueSize: number; inflight: number }): Promise<WorkloadResult> {
  return runWorkload(exec, {
    label,
    mix: { label: 'set', weights: [{ op: 'set', weight: 1 }] },
    keys,
    count: keys,
    keyOrder: 'sequential',
    durationMs: 0,
    keySize: o.keySize,
    valueSize: o.valueSize,
    inflight: o.inflight,
    maxErrors: 0,
  });
}

/**
 * SDK throughput: this process runs the SDK, the node runs elsewhere. Loads the key space
 * when a mix reads, then runs each mix after an untimed warm-up.
 */
export async function runSdkBench(nodes: string[], o: SdkBenchOptions): Promise<SdkBenchResult> {
  const client = await connectClient(nodes, Math.max(o.inflight, o.loadInflight), o.opTimeoutMs);
  try {
    const exec = sdkExecutor(client);
    const isReading = o.mixes.some((m) => m.weights.some((w) => w.op !== 'set'));
    const load = isReading ? await loadKeySpace(exec, 'sdk load', o.keys, { ...o, inflight: o.loadInflight }) : null;
    const runs: WorkloadResult[] = [];
    for (const mix of o.mixes) {
      const base = { mix, keys: o.keys, keySize: o.keySize, valueSize: o.valueSize, inflight: o.inflight };
      if (o.warmupMs > 0) await runWorkload(exec, { ...base, label: `sdk ${mix.label} warm-up`, durationMs: o.warmupMs, isQuiet: true });
      const label = `sdk ${mix.label}`;
      const best = await bestOf(o.rounds, (i) => runWorkload(exec, { ...base, label: o.rounds > 1 ? `${label} ${i + 1}/${o.rounds}` : label, durationMs: o.durationMs, count: o.count }));
      runs.push({ ...best, label });
    }
    return { load, runs };
  } finally {
    await client.close();
  }
}
