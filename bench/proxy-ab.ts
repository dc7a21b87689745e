import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { numberArg, parseCommandLine, UsageError } from '../bin/cli-util.js';
import { spawnManager, spawnNode, spawnProxy, type Spawned } from '../bin/spawn.js';
import { connect } from '../sdk/index.js';
import { readProcStat } from '../shared/spare-cpu.js';
import { formatCount } from './histogram.js';
import { machineCpuUs } from './outside-load.js';
import { openMemcachedLoad } from './memcached-load.js';
import { parseMix } from './mix.js';
import { findBinary, startTwemproxy, stopServers, type PeerServer } from './peer-servers.js';
import { procCpuMeter, waitForOwners, type CpuMeter } from './proxy-bench.js';
import { loadKeySpace } from './sdk-bench.js';
import { runWorkload, type OpExecutor } from './workload.js';

/**
 * `pandakv bench proxy-ab`: two PandaKV proxies, A (this build) and B (this build or
 * another checkout), on the same three nodes, and twemproxy beside them when installed,
 * alternating in rounds under the `bench peers` memcached load. One round of one proxy
 * moves by ±15 % from the next with nothing changed (docs/benchmarks.md, "Two proxies in
 * one run"); runs minutes apart move by more. Only proxies measured side by side, round
 * after round, tell a change of a few per cent from that.
 */

/** Options of `pandakv bench proxy-ab`. */
export interface ProxyAbOptions {
  /** Root of the checkout whose build runs proxy B (its `dist/bin/spawn.js`); null: this build. @default null */
  bBuild: string | null;
  /** Switches of `pandakv proxy` for A and B. @default [] */
  aArgs: string[];
  bArgs: string[];
  /** Node flags of A's and B's process. @default [] */
  aNodeFlags: string[];
  bNodeFlags: string[];
  /** @default 6 */
  rounds: number;
  /** @default 2000 */
  durationMs: number;
  /** Untimed run of each contender first, ms. @default 3000 */
  warmupMs: number;
  /** @default 8 */
  connections: number;
  /** @default 64 */
  inflight: number;
  /** @default 10000 */
  keys: number;
  /** @default 'get:90,set:10' */
  mix: string;
  /** Run twemproxy as the third contender when installed. @default true */
  hasTwemproxy: boolean;
}

/** Key and value sizes of the load, as in `bench peers`. */
const KEY_SIZE = 16;
const VALUE_SIZE = 100;

export const PROXY_AB_DEFAULTS: Readonly<ProxyAbOptions> = Object.freeze({
  bBuild: null, aArgs: [], bArgs: [], aNodeFlags: [], bNodeFlags: [], rounds: 6, durationMs: 2000, warmupMs: 3000,
  connections: 8, inflight: 64, keys: 10_000, mix: 'get:90,set:10', hasTwemproxy: true,
});

export const PROXY_AB_USAGE = `Usage: pandakv bench proxy-ab [switches]

Runs two PandaKV proxies, A (this build) and B, on the same 3-node cluster, and twemproxy
in front of 3 memcached when installed, alternating in rounds under one memcached load.
Prints every round's rate, each proxy's CPU per operation, the whole machine's CPU per
operation and share of busy cores, and B / A both on the fastest rounds and as the
median of the per-round ratios.

  --b-build DIR        checkout whose build runs proxy B (its dist/bin/spawn.js);
                       default: this build
  --a-args="…"         switches of \`pandakv proxy\` for A, e.g. --a-args="--idle-poll-us 0"
                       (with =: the value starts with -)
  --b-args="…"         the same for B
  --a-node-flags="…"   Node flags of A's process, e.g. --a-node-flags=--max-semi-space-size=2
  --b-node-flags="…"   the same for B
  --rounds N           rounds, every contender once per round (default 6)
  --duration S         seconds per run (default 2)
  --warmup S           untimed run of each contender first, seconds (default 3)
  --connections N      memcached connections per contender (default 8)
  --inflight N         requests outstanding (default 64)
  --keys N             key space (default 10000)
  --mix LIST           workload (default get:90,set:10)
  --no-twemproxy       A and B only
  --help               print this text
`;

const SWITCHES = {
  'b-build': { type: 'string' }, 'a-args': { type: 'string' }, 'b-args': { type: 'string' }, 'a-node-flags': { type: 'string' }, 'b-node-flags': { type: 'string' },
  rounds: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, connections: { type: 'string' }, inflight: { type: 'string' },
  keys: { type: 'string' }, mix: { type: 'string' }, 'no-twemproxy': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

/** Words of a switch's value, split on white space. */
function words(value: unknown): string[] {
  return value === undefined ? [] : String(value).trim().split(/\s+/).filter((w) => w !== '');
}

/** Node flags: every word a `--flag`, so a stray word cannot become Node's script argument. @throws UsageError */
function nodeFlags(name: string, value: unknown): string[] {
  const flags = words(value);
  const bad = flags.find((f) => !/^--[a-z0-9][a-z0-9_-]*(=\S*)?$/i.test(f));
  if (bad !== undefined) throw new UsageError(`--${name}: "${bad}" is not a Node flag (--name or --name=value)`);
  return flags;
}

/** Parse `pandakv bench proxy-ab` arguments. @throws UsageError */
export function parseProxyAbArgs(argv: string[]): ProxyAbOptions | 'help' {
  const { values, positionals } = parseCommandLine(argv, SWITCHES);
  if (values.help === true) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const o: ProxyAbOptions = { ...PROXY_AB_DEFAULTS };
  const isCount = (max: number) => (n: number): boolean => Number.isSafeInteger(n) && n >= 1 && n <= max;
  if (values['b-build'] !== undefined) {
    const dir = resolve(String(values['b-build']).trim() || '.');
    if (!existsSync(join(dir, 'dist', 'bin', 'spawn.js'))) throw new UsageError(`--b-build: ${dir} has no dist/bin/spawn.js (build it with npm run build)`);
    o.bBuild = dir;
  }
  o.aArgs = words(values['a-args']);
  o.bArgs = words(values['b-args']);
  o.aNodeFlags = nodeFlags('a-node-flags', values['a-node-flags']);
  o.bNodeFlags = nodeFlags('b-node-flags', values['b-node-flags']);
  o.rounds = numberArg(values, 'rounds', isCount(100)) ?? o.rounds;
  o.connections = numberArg(values, 'connections', isCount(1024)) ?? o.connections;
  o.inflight = numberArg(values, 'inflight', isCount(4096)) ?? o.inflight;
  o.keys = numberArg(values, 'keys', isCount(1_000_000)) ?? o.keys;
  const seconds = numberArg(values, 'duration', (n) => Number.isFinite(n) && n > 0 && n <= 600);
  if (seconds !== undefined) o.durationMs = seconds * 1000;
  const warmup = numberArg(values, 'warmup', (n) => Number.isFinite(n) && n >= 0 && n <= 600);
  if (warmup !== undefined) o.warmupMs = warmup * 1000;
  if (typeof values.mix === 'string') {
    if (parseMix(values.mix).weights.some((w) => w.op === 'delete')) throw new UsageError('--mix: get and set only');
    o.mix = values.mix;
  }
  if (values['no-twemproxy'] === true) o.hasTwemproxy = false;
  if (o.connections > o.inflight) o.connections = o.inflight;
  return o;
}

/**
 * The order of `count` contenders in round `round`: rotated by one each round, and
 * reversed every other cycle, so each contender follows each other one over the rounds.
 */
export function abRoundOrder(round: number, count: number): number[] {
  if (count <= 0) return [];
  const shift = round % count;
  const order = Array.from({ length: count }, (_, i) => (i + shift) % count);
  return Math.floor(round / count) % 2 === 0 ? order : order.reverse();
}

/** What one contender did over every round. */
export interface AbTally {
  name: string;
  rates: number[];
  ops: number;
  /** CPU of the contender's proxy process, µs; null where unreadable. */
  proxyUs: number | null;
  /** Busy CPU time of the whole machine during its rounds, µs, and the time its cores could give, µs; null where unreadable. */
  machineBusyUs: number | null;
  machineAllUs: number | null;
}

/** The median of `values` (the mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `b` against `a`: on the fastest rounds, and the median of round-by-round ratios (rounds paired by index). */
export function compareTallies(a: AbTally, b: AbTally): { best: number; medianOfRounds: number; perRound: number[] } {
  const perRound = a.rates.slice(0, b.rates.length).map((x, i) => b.rates[i]! / x);
  return { best: Math.max(...b.rates) / Math.max(...a.rates), medianOfRounds: median(perRound), perRound };
}

/** One contender's summary line. */
export function tallyLine(t: AbTally): string {
  const perOp = (us: number | null): string => (us === null || t.ops === 0 ? 'n/a' : (us / t.ops).toFixed(2));
  const busy = t.machineBusyUs === null || t.machineAllUs === null || t.machineAllUs <= 0 ? 'n/a' : `${Math.round((100 * t.machineBusyUs) / t.machineAllUs)} %`;
  return `  ${t.name.padEnd(10)} best ${formatCount(Math.max(...t.rates)).padStart(7)}  median ${formatCount(median(t.rates)).padStart(7)} ops/s`
    + `   proxy CPU ${perOp(t.proxyUs)} µs/op   machine CPU ${perOp(t.machineBusyUs)} µs/op, cores busy ${busy}\n`;
}

interface Contender {
  tally: AbTally;
  exec: OpExecutor;
  proxyCpu: CpuMeter;
}

/** The machine's busy and total CPU time now, µs; null where unreadable. */
function machineNow(): { busy: number; all: number } | null {
  const t = readProcStat();
  return t === null ? null : machineCpuUs(t);
}

/** Run the A/B bench, printing as it goes. */
export async function runProxyAb(o: ProxyAbOptions, out: NodeJS.WritableStream): Promise<{ a: AbTally; b: AbTally; twemproxy: AbTally | null }> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-bench-ab-'));
  const procs: Spawned[] = [];
  const servers: PeerServer[] = [];
  const closers: Array<() => void | Promise<void>> = [];
  const timeoutMs = 20_000;
  const load = { keySize: KEY_SIZE, valueSize: VALUE_SIZE, inflight: o.inflight };
  try {
    const manager = await spawnManager(['--insecure', '--no-dht', '--cfg', `file:${join(dir, 'cfg.json')}`], timeoutMs);
    procs.push(manager);
    const nodes: Spawned[] = [];
    for (let i = 0; i < 3; i++) {
      const node = await spawnNode(['--insecure', '--manager', manager.address, '--data-dir', join(dir, `n${i}`), '--memory-size', '256', '--engine', 'memory'], timeoutMs);
      procs.push(node);
      nodes.push(node);
    }
    const sdk = await connect({ map: manager.address, timeoutMs: 5000, connectTimeoutMs: 5000 });
    closers.push(() => sdk.close());
    await waitForOwners(sdk, nodes.map((n) => n.address), timeoutMs);
    const spawnB: typeof spawnProxy = o.bBuild === null ? spawnProxy
      : ((await import(pathToFileURL(join(o.bBuild, 'dist', 'bin', 'spawn.js')).href)) as { spawnProxy: typeof spawnProxy }).spawnProxy;
    const contenders: Contender[] = [];
    const open = async (name: string, address: string, pid: number): Promise<void> => {
      const l = await openMemcachedLoad(address, o.connections, 5000, 5000);
      closers.push(l.close);
      contenders.push({ exec: l.exec, proxyCpu: procCpuMeter(pid), tally: { name, rates: [], ops: 0, proxyUs: 0, machineBusyUs: 0, machineAllUs: 0 } });
    };
    for (const [name, spawn, args, flags] of [['A', spawnProxy, o.aArgs, o.aNodeFlags], ['B', spawnB, o.bArgs, o.bNodeFlags]] as const) {
      const p = await spawn(['--insecure', '--map', manager.address, ...args], timeoutMs, flags);
      procs.push(p);
      if (p.memcached === null) throw new Error(`proxy ${name} announced no memcached port`);
      await open(name, p.memcached, p.pid);
    }
    const memcachedBin = findBinary('memcached');
    const nutcracker = findBinary('nutcracker');
    if (o.hasTwemproxy && memcachedBin !== null && nutcracker !== null) {
      const set = await startTwemproxy({ memcached: memcachedBin, nutcracker }, dir, 3, 256, timeoutMs);
      servers.push(...set.all);
      await open('twemproxy', set.proxy.address, set.proxy.handle.pid);
      await loadKeySpace(contenders[2]!.exec, 'load twemproxy', o.keys, load);
    } else if (o.hasTwemproxy) {
      out.write('  twemproxy skipped: memcached or nutcracker not found (bench/setup-peers.sh installs them)\n');
    }
    await loadKeySpace(contenders[0]!.exec, 'load PandaKV', o.keys, load);
    const mix = parseMix(o.mix);
    const run = (c: Contender, label: string, durationMs: number) => runWorkload(c.exec, { label, mix, keys: o.keys, ...load, durationMs, isQuiet: true });
    if (o.warmupMs > 0) for (const c of contenders) await run(c, `${c.tally.name} warm-up`, o.warmupMs);
    for (let i = 0; i < o.rounds; i++) {
      const notes: string[] = [];
      for (const k of abRoundOrder(i, contenders.length)) {
        const c = contenders[k]!;
        const t = c.tally;
        const cpu0 = c.proxyCpu();
        const m0 = machineNow();
        const r = await run(c, t.name, o.durationMs);
        const cpu1 = c.proxyCpu();
        const m1 = machineNow();
        t.rates.push(r.opsPerSec);
        t.ops += r.ops;
        t.proxyUs = cpu0 === null || cpu1 === null || t.proxyUs === null ? null : t.proxyUs + cpu1 - cpu0;
        t.machineBusyUs = m0 === null || m1 === null || t.machineBusyUs === null ? null : t.machineBusyUs + m1.busy - m0.busy;
        t.machineAllUs = m0 === null || m1 === null || t.machineAllUs === null ? null : t.machineAllUs + m1.all - m0.all;
        if (r.errors > 0) notes.push(`${t.name} ${r.errors} errors (${r.firstError ?? '?'})`);
      }
      const line = contenders.map((c) => `${c.tally.name} ${formatCount(c.tally.rates[i]!)}`).join('  ');
      out.write(`  round ${i + 1}/${o.rounds}: ${line}   B / A ${(contenders[1]!.tally.rates[i]! / contenders[0]!.tally.rates[i]!).toFixed(2)}${notes.length > 0 ? `   ${notes.join('; ')}` : ''}\n`);
    }
    const [a, b, twem] = contenders.map((c) => c.tally);
    out.write('\n');
    for (const t of [a!, b!, ...(twem === undefined ? [] : [twem])]) out.write(tallyLine(t));
    const ab = compareTallies(a!, b!);
    out.write(`  B / A: ${ab.best.toFixed(3)}× on the fastest rounds, ${ab.medianOfRounds.toFixed(3)}× median of the per-round ratios\n`);
    if (twem !== undefined) {
      out.write(`  A / twemproxy ${compareTallies(twem, a!).best.toFixed(3)}×, B / twemproxy ${compareTallies(twem, b!).best.toFixed(3)}× on the fastest rounds\n`);
    }
    return { a: a!, b: b!, twemproxy: twem ?? null };
  } finally {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
    await stopServers(servers);
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** `pandakv bench proxy-ab`. */
export async function runProxyAbCli(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const o = parseProxyAbArgs(argv);
  if (o === 'help') {
    out.write(PROXY_AB_USAGE);
    return 0;
  }
  const show = (args: string[], flags: string[]): string => [...flags, ...args].join(' ') || 'defaults';
  out.write(`pandakv bench proxy-ab: A = this build (${show(o.aArgs, o.aNodeFlags)}), B = ${o.bBuild ?? 'this build'} (${show(o.bArgs, o.bNodeFlags)}); `
    + `${o.rounds} rounds of ${o.durationMs / 1000} s, ${o.connections} memcached connections, ${o.inflight} in flight, ${o.mix}\n`);
  await runProxyAb(o, out);
  return 0;
}
