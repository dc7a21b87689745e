import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnNode, type Spawned } from '../bin/spawn.js';
import { makeTestCerts } from '../test/helpers/tls-certs.js';
import { connectClient, loadKeySpace, sdkExecutor } from './sdk-bench.js';
import { runWorkload, type WorkloadResult } from './workload.js';

export const TLS_COST_USAGE = `Usage: node dist/bench/tls-cost.js [--count N] [--inflight N] [--value-size BYTES]

The cost of TLS on the client port: one node process without TLS and one with
--tls-cert/--tls-key (a throwaway CA made with openssl), the same SDK workload against
each (a set pass, then gets), lane connect time included. Prints both and the ratio.
`;

interface Pass {
  label: string;
  connectMs: number;
  set: WorkloadResult;
  get: WorkloadResult;
}

async function pass(label: string, node: Spawned, o: { count: number; inflight: number; valueSize: number }, ca: string | null): Promise<Pass> {
  const started = performance.now();
  const client = await connectClient([node.address], o.inflight, 5000, ca);
  try {
    const exec = sdkExecutor(client);
    // The first operation opens the lane: its handshake is the connect time.
    await exec('set', 'warm', new Uint8Array(1));
    const connectMs = performance.now() - started;
    const set = await loadKeySpace(exec, `${label} set`, o.count, { keySize: 16, valueSize: o.valueSize, inflight: o.inflight });
    const get = await runWorkload(exec, {
      label: `${label} get`, mix: { label: 'get', weights: [{ op: 'get', weight: 1 }] }, keys: o.count, keySize: 16, valueSize: o.valueSize,
      inflight: o.inflight, durationMs: 0, count: o.count, isQuiet: true,
    });
    return { label, connectMs, set, get };
  } finally {
    await client.close();
  }
}

/** A switch's value as a whole number of at least 1; anything else ends the run with exit 2. */
function wholeNumber(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    process.stderr.write(`tls-cost: ${name} must be a whole number of at least 1, not ${JSON.stringify(text.slice(0, 40))}\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { count: { type: 'string' }, inflight: { type: 'string' }, 'value-size': { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help === true) {
    process.stdout.write(TLS_COST_USAGE);
    return;
  }
  const o = { count: wholeNumber('--count', values.count, 20_000), inflight: wholeNumber('--inflight', values.inflight, 64), valueSize: wholeNumber('--value-size', values['value-size'], 100) };
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-tls-bench-'));
  const procs: Spawned[] = [];
  try {
    const certs = await makeTestCerts(dir);
    const plain = await spawnNode(['--insecure']);
    procs.push(plain);
    const secure = await spawnNode(['--insecure', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile]);
    procs.push(secure);
    const a = await pass('ws ', plain, o, null);
    const b = await pass('wss', secure, o, certs.ca);
    const line = (p: Pass): string => `${p.label}: connect ${p.connectMs.toFixed(1)} ms; set ${Math.round(p.set.opsPerSec)} ops/s (p50 ${p.set.latency.p50Us} µs, p99 ${p.set.latency.p99Us} µs); `
      + `get ${Math.round(p.get.opsPerSec)} ops/s (p50 ${p.get.latency.p50Us} µs, p99 ${p.get.latency.p99Us} µs); errors ${p.set.errors + p.get.errors}\n`;
    process.stdout.write(`TLS cost, ${o.count} ops per pass, ${o.inflight} in flight, ${o.valueSize}-byte values:\n${line(a)}${line(b)}`);
    process.stdout.write(`wss/ws throughput: set ${(b.set.opsPerSec / a.set.opsPerSec).toFixed(2)}, get ${(b.get.opsPerSec / a.get.opsPerSec).toFixed(2)}\n`);
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
