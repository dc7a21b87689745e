import { benchKeystream } from './keystream-bench.js';
import type { BenchOptions } from './options.js';
import { runCeiling } from './ceiling.js';
import { runSdkBench } from './sdk-bench.js';
import { memoryBudgetMb, runMemoryBench } from './memory-bench.js';
import { withNodes } from './nodes.js';
import { formatCount, formatRunLine } from './histogram.js';
import { describeMachine, formatFigureLine, makeFigure, type BenchResults, type Figure } from './report.js';
import type { WorkloadResult } from './workload.js';

/** The keystream microbench as the suite calls it (its options are all optional). */
type KeystreamRunner = (opts?: { keys?: number; passes?: number }) => { keysPerSec: number; nsPerKey: number };
const runKeystream: KeystreamRunner = benchKeystream;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The standard suite: transport ceiling, SDK throughput as a share of it, node memory
 * per item, keystream speed. A phase that fails is recorded and the others still run.
 */
export async function runSuite(o: BenchOptions, out: NodeJS.WritableStream): Promise<BenchResults> {
  const results: BenchResults = {
    schema: 'pandakv-bench/1',
    startedAt: new Date().toISOString(),
    finishedAt: '',
    machine: describeMachine(),
    config: { ...o },
    ceiling: null,
    sdk: null,
    memory: null,
    keystream: null,
    figures: [],
    failures: [],
  };
  const { machine } = results;
  const t = o.targets;
  const durationMs = o.durationS * 1000;
  const warmupMs = o.warmupS * 1000;
  const runLength = o.count > 0 ? `${o.count} ops` : `${o.durationS} s`;
  const rounds = o.rounds > 1 ? `best of ${o.rounds} runs` : '1 run';
  out.write(`pandakv bench on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}\n`);
  out.write(`${o.inflight} in flight, ${rounds} of ${runLength}, ${o.keySize}-byte keys, ${o.valueSize}-byte values\n\n`);
  const add = (f: Figure): void => {
    results.figures.push(f);
    out.write(`${formatFigureLine(f)}\n`);
  };
  const phase = async (name: string, body: () => Promise<void>): Promise<void> => {
    if (!o.only.includes(name as BenchOptions['only'][number])) return;
    out.write(`[${name}]\n`);
    try {
      await body();
    } catch (err) {
      results.failures.push({ phase: name, message: errorMessage(err) });
      out.write(`  ${name} FAILED: ${errorMessage(err)}\n`);
    }
    out.write('\n');
  };
  const printRun = (r: WorkloadResult): void => {
    const errors = r.errors > 0 ? `   ${r.errors} errors (${r.firstError ?? '?'})` : '';
    const rates = r.roundOpsPerSec !== undefined && r.roundOpsPerSec.length > 1 ? `   rounds ${r.roundOpsPerSec.map(formatCount).join(' / ')}` : '';
    out.write(`  ${formatRunLine(r.label, r.opsPerSec, r.latency)}${errors}${rates}\n`);
  };

  await phase('ceiling', async () => {
    const r = await runCeiling({
      inflight: o.inflight, durationMs, warmupMs, count: o.count, rounds: o.rounds, keys: o.keys,
      keySize: o.keySize, valueSize: o.valueSize, spawnTimeoutMs: o.spawnTimeoutMs,
    });
    results.ceiling = r;
    printRun(r);
    add(makeFigure('ceiling.opsPerSec', 'transport ceiling', r.opsPerSec, 'ops/s', { comparison: '>=', value: t.ceilingOpsPerSec }));
  });

  await phase('sdk', async () => {
    const memoryMb = Math.max(o.nodeMemoryMb, memoryBudgetMb(o.keys, o.keySize, o.valueSize));
    const nodeSet = { targetNodes: o.targetNodes, memoryMb, isEvictionDisabled: false, spawnTimeoutMs: o.spawnTimeoutMs };
    const r = await withNodes(nodeSet, (nodes) => runSdkBench(nodes.addresses, {
      mixes: o.mixes, keys: o.keys, keySize: o.keySize, valueSize: o.valueSize, inflight: o.inflight, loadInflight: o.loadInflight,
      durationMs, warmupMs, count: o.count, rounds: o.rounds, opTimeoutMs: o.opTimeoutMs,
    }));
    if (r.load !== null) printRun(r.load);
    const ceiling = results.ceiling?.opsPerSec ?? Number.NaN;
    results.sdk = { load: r.load, runs: r.runs.map((run) => ({ ...run, ceilingRatio: run.opsPerSec / ceiling })) };
    for (const run of r.runs) printRun(run);
    for (const run of results.sdk.runs) {
      const label = run.label.replace(/^sdk /, '');
      add(makeFigure(`sdk.${label}.opsPerSec`, `SDK ${label}`, run.opsPerSec, 'ops/s', null));
      add(makeFigure(`sdk.${label}.ceilingRatio`, `SDK ${label} / ceiling`, run.ceilingRatio, 'ratio', { comparison: '>=', value: t.sdkCeilingRatio }));
    }
  });

  await phase('memory', async () => {
    const memoryMb = memoryBudgetMb(o.items, o.keySize, o.valueSize);
    const nodeSet = { targetNodes: o.targetNodes, memoryMb, isEvictionDisabled: true, spawnTimeoutMs: o.spawnTimeoutMs };
    const m = await withNodes(nodeSet, (nodes) => runMemoryBench(nodes.addresses, {
      items: o.items, keySize: o.keySize, valueSize: o.valueSize, inflight: o.loadInflight,
      opTimeoutMs: o.opTimeoutMs, settleMs: o.settleMs,
    }));
    results.memory = m;
    const mb = (n: number): string => `${(n / (1024 * 1024)).toFixed(1)} MiB`;
    out.write(`  ${m.stored} items of ${m.rawBytesPerItem} raw bytes; RSS ${mb(m.before.rssBytes)} → ${mb(m.after.rssBytes)}\n`);
    add(makeFigure('memory.marginalBytesPerItem', 'RSS per item (marginal)', m.marginalBytesPerItem, 'bytes', null));
    add(makeFigure('memory.marginalRatio', 'RSS per item / raw (marginal)', m.marginalRatio, 'ratio', { comparison: '<=', value: t.memoryMarginalRatio }));
    // Includes the node's fixed baseline, so it only means something for large item counts.
    add(makeFigure('memory.totalRatio', 'total RSS / raw', m.totalRatio, 'ratio', null));
  });

  await phase('keystream', async () => {
    const k = runKeystream({ keys: o.keystreamKeys, passes: o.keystreamPasses });
    results.keystream = { keysPerSec: k.keysPerSec, nsPerKey: k.nsPerKey };
    out.write(`  bucketOf on 16-byte ASCII keys: ${k.nsPerKey.toFixed(1)} ns/key\n`);
    add(makeFigure('keystream.keysPerSec', 'keystream', k.keysPerSec, 'keys/s', { comparison: '>=', value: t.keystreamKeysPerSec }));
  });

  results.finishedAt = new Date().toISOString();
  return results;
}
