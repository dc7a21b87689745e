/**
 * `pandakv bench wake`: the CPU a server spends per message when each message wakes it
 * from sleep, against when it is kept busy, for a PandaKV node and for memcached.
 *
 * Each series drives one server with C connections, each sending one message of B GETs
 * and the next once the answers are in: with C = 1 the server sleeps between messages
 * (every message is a wake-up), with C = `busy` it rarely does. The difference between
 * the two, per message, is what a wake-up costs that server. Through a proxy at 64 in
 * flight each node sees a message every few hundred microseconds and sleeps in between,
 * so this is the cost docs/benchmarks.md finds behind the proxy's gap to twemproxy.
 *
 * Series alternate in rounds; CPU is user and system time from /proc (Linux).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { numberArg, parseCommandLine } from '../bin/cli-util.js';
import { spawnManager, spawnNode, type Spawned } from '../bin/spawn.js';
import { connect } from '../sdk/index.js';
import { encodePackedRequests } from '../shared/protocol/packed-requests.js';
import { Op } from '../shared/protocol/ops.js';
import { formatCount } from './histogram.js';
import { findBinary, startMemcached, stopServers, type PeerServer } from './peer-servers.js';
import { emptyResults, finishRun, makeFigure, runPhase, type Figure } from './report.js';

export interface WakeBenchOptions {
  /** GETs per message. @default 4 */
  requests: number;
  /** Connections of the busy series. @default 8 */
  busy: number;
  /** Timed seconds per series, split over `rounds`. @default 4 */
  seconds: number;
  /** @default 4 */
  rounds: number;
  /** Untimed load before each timed slice, ms. @default 1000 */
  warmupMs: number;
  /** Results file. @default 'bench-results.json' */
  jsonFile: string;
}

export const WAKE_BENCH_DEFAULTS: Readonly<WakeBenchOptions> = Object.freeze({ requests: 4, busy: 8, seconds: 4, rounds: 4, warmupMs: 1000, jsonFile: 'bench-results.json' });

export const WAKE_USAGE = `pandakv bench wake [--requests B] [--busy C] [--seconds S] [--rounds N] [--warmup S] [--json FILE]
  CPU per message of a PandaKV node and of memcached (-t 1, when installed), woken for
  every message (1 connection) against kept busy (C connections), B GETs per message.
  --requests B   GETs per message (default 4)
  --busy C       connections of the busy series (default 8)
  --seconds S    timed seconds per series, split over the rounds (default 4)
  --rounds N     rounds the series alternate in (default 4)
  --warmup S     untimed load before each timed slice, seconds (default 1)
  --json FILE    results file (default bench-results.json)
`;

const KEYS = 10_000;
const VALUE_BYTES = 100;
const SPAWN_TIMEOUT_MS = 20_000;
const MESSAGE_TIMEOUT_MS = 5_000;
const TICKS_PER_SECOND = 100;

/** @throws UsageError on a bad switch */
export function parseWakeArgs(argv: string[]): WakeBenchOptions | 'help' {
  const { values } = parseCommandLine(argv, {
    requests: { type: 'string' }, busy: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' }, warmup: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean' },
  });
  if (values.help === true) return 'help';
  const count = (max: number) => (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= max;
  const o = { ...WAKE_BENCH_DEFAULTS };
  o.requests = numberArg(values, 'requests', count(1024)) ?? o.requests;
  o.busy = numberArg(values, 'busy', count(256)) ?? o.busy;
  o.seconds = numberArg(values, 'seconds', (n) => n > 0 && n <= 3600) ?? o.seconds;
  o.rounds = numberArg(values, 'rounds', count(100)) ?? o.rounds;
  const warmupS = numberArg(values, 'warmup', (n) => n >= 0 && n <= 60);
  if (warmupS !== undefined) o.warmupMs = warmupS * 1000;
  if (typeof values.json === 'string') o.jsonFile = values.json;
  return o;
}

/** A server the series drive: its pid, and connections that send one message and wait for its answers. */
interface Target {
  name: string;
  pid: number;
  open(): Promise<Conn>;
}

interface Conn {
  /** Send a message of GETs of `keys`; resolves once every answer is in. */
  exchange(keys: readonly string[]): Promise<void>;
  close(): void;
}

/** One series' totals: messages answered and the server's CPU over them, µs. */
interface Tally {
  messages: number;
  userUs: number;
  sysUs: number;
  ms: number;
}

export interface WakeSeries {
  server: string;
  connections: number;
  messagesPerSec: number;
  userUsPerMessage: number;
  sysUsPerMessage: number;
}

export interface WakeResult {
  requests: number;
  series: WakeSeries[];
  skipped: string[];
}

function cpuOf(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [(Number(f[11]) * 1e6) / TICKS_PER_SECOND, (Number(f[12]) * 1e6) / TICKS_PER_SECOND];
}

function timeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${MESSAGE_TIMEOUT_MS} ms`)), MESSAGE_TIMEOUT_MS);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** A PandaKV node over the native protocol, packed layout (one answer message per request message). */
function nodeTarget(node: Spawned, epoch: number): Target {
  return {
    name: 'PandaKV node',
    pid: node.pid,
    open: () => new Promise((resolve, reject) => {
      const ws = new WebSocket(node.address, { perMessageDeflate: false });
      ws.binaryType = 'nodebuffer';
      ws.once('error', reject);
      ws.once('open', () => {
        let nextId = 1;
        resolve({
          exchange: (keys) => timeout(new Promise<void>((done) => {
            ws.once('message', () => done());
            ws.send(encodePackedRequests(keys.map((k) => [nextId++, Op.GET, epoch, k])));
          }), 'node message'),
          close: () => ws.close(),
        });
      });
    }),
  };
}

const END = Buffer.from('END\r\n');

/** memcached over its text protocol: B `get` lines in one write, done at the B-th `END`. */
function memcachedTarget(server: PeerServer): Target {
  return {
    name: 'memcached',
    pid: server.handle.pid,
    open: () => new Promise((resolve, reject) => {
      const sock: Socket = netConnect(server.port, '127.0.0.1');
      sock.setNoDelay(true);
      sock.once('error', reject);
      sock.once('connect', () => {
        let waiting = 0;
        let onDone: (() => void) | null = null;
        let carry: Buffer = Buffer.alloc(0);
        sock.on('data', (chunk: Buffer) => {
          // Values are 'a's, so END lines are the only ones that end a GET.
          const buf = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
          let at = 0;
          for (let i = buf.indexOf(END); i >= 0; i = buf.indexOf(END, at)) {
            at = i + END.length;
            waiting--;
          }
          carry = buf.subarray(Math.max(at, buf.length - END.length + 1));
          if (waiting === 0 && onDone !== null) {
            const d = onDone;
            onDone = null;
            d();
          }
        });
        resolve({
          exchange: (keys) => timeout(new Promise<void>((done) => {
            waiting = keys.length;
            onDone = done;
            sock.write(keys.map((k) => `get ${k}\r\n`).join(''));
          }), 'memcached message'),
          close: () => sock.destroy(),
        });
      });
    }),
  };
}

/** Drive `target` with `connections` closed loops for `ms` (after a warm-up); adds to `tally`. */
async function drive(target: Target, connections: number, requests: number, warmupMs: number, ms: number, tally: Tally): Promise<void> {
  const conns = await Promise.all(Array.from({ length: connections }, () => target.open()));
  let messages = 0;
  let isRunning = true;
  let next = 0;
  const keysFor = (): string[] => Array.from({ length: requests }, () => keyOf(next++ % KEYS));
  const loops = conns.map(async (c) => {
    while (isRunning) {
      await c.exchange(keysFor());
      messages++;
    }
  });
  try {
    await new Promise((r) => setTimeout(r, warmupMs));
    const m0 = messages;
    const [u0, s0] = cpuOf(target.pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, ms));
    const [u1, s1] = cpuOf(target.pid);
    tally.ms += performance.now() - t0;
    tally.messages += messages - m0;
    tally.userUs += u1 - u0;
    tally.sysUs += s1 - s0;
  } finally {
    isRunning = false;
    await Promise.all(loops);
    for (const c of conns) c.close();
  }
}

const keyOf = (i: number): string => `wake:${String(i).padStart(11, '0')}`;

export async function runWakeBench(o: WakeBenchOptions, out: NodeJS.WritableStream): Promise<WakeResult> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-wake-'));
  const stops: Array<() => Promise<unknown>> = [];
  const skipped: string[] = [];
  try {
    const manager = await spawnManager(['--insecure', '--no-dht', '--cfg', `file:${join(dir, 'cfg.json')}`], SPAWN_TIMEOUT_MS);
    stops.push(() => manager.stop());
    const node = await spawnNode(['--insecure', '--manager', manager.address, '--memory-size', '256'], SPAWN_TIMEOUT_MS);
    stops.push(() => node.stop());
    const db = await connect({ map: manager.address, timeoutMs: MESSAGE_TIMEOUT_MS });
    const value = Buffer.alloc(VALUE_BYTES, 'a');
    let epoch: number;
    try {
      epoch = db.map!.epoch;
      for (let i = 0; i < KEYS; i += 500) await Promise.all(Array.from({ length: Math.min(500, KEYS - i) }, (_, j) => db.set(keyOf(i + j), value)));
    } finally {
      await db.close();
    }
    const targets = [nodeTarget(node, epoch)];
    const bin = findBinary('memcached');
    if (bin === null) {
      skipped.push('memcached: not found (bench/setup-peers.sh installs it)');
    } else {
      const mc = await startMemcached(bin, 'memcached', 256, SPAWN_TIMEOUT_MS);
      stops.push(() => stopServers([mc]));
      targets.push(memcachedTarget(mc));
      const load = netConnect(mc.port, '127.0.0.1');
      await new Promise((r) => load.once('connect', r));
      load.write(Array.from({ length: KEYS }, (_, i) => `set ${keyOf(i)} 0 0 ${VALUE_BYTES} noreply\r\n${value.toString('latin1')}\r\n`).join(''));
      // A GET behind the noreply SETs on the same connection answers once they are all in.
      await new Promise<void>((resolve, reject) => {
        load.on('data', (d: Buffer) => { if (d.includes(END)) resolve(); });
        load.once('error', reject);
        load.write(`get ${keyOf(KEYS - 1)}\r\n`);
      });
      load.destroy();
    }
    const plan = targets.flatMap((t) => [1, o.busy].map((c) => ({ target: t, connections: c, tally: { messages: 0, userUs: 0, sysUs: 0, ms: 0 } })));
    const sliceMs = (o.seconds * 1000) / o.rounds;
    for (let r = 0; r < o.rounds; r++) {
      for (const p of plan) await drive(p.target, p.connections, o.requests, o.warmupMs, sliceMs, p.tally);
      out.write(`  round ${r + 1}/${o.rounds} done\n`);
    }
    const series = plan.map(({ target, connections, tally }) => ({
      server: target.name,
      connections,
      messagesPerSec: (tally.messages * 1000) / tally.ms,
      userUsPerMessage: tally.userUs / tally.messages,
      sysUsPerMessage: tally.sysUs / tally.messages,
    }));
    return { requests: o.requests, series, skipped };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Per server: user µs a wake-up adds to a message (woken minus busy), and their ratio. */
export function wakeFigures(r: WakeResult): Figure[] {
  const figures: Figure[] = [];
  const addedUser = new Map<string, number>();
  for (const server of new Set(r.series.map((s) => s.server))) {
    const [woken, busy] = r.series.filter((s) => s.server === server);
    if (woken === undefined || busy === undefined) continue;
    const id = server === 'memcached' ? 'memcached' : 'node';
    const name = server === 'memcached' ? 'memcached' : 'node';
    const added = woken.userUsPerMessage - busy.userUsPerMessage;
    addedUser.set(id, added);
    figures.push(makeFigure(`wake.${id}.wokenUserUs`, `${name} user µs/msg woken`, woken.userUsPerMessage, 'µs', null));
    figures.push(makeFigure(`wake.${id}.busyUserUs`, `${name} user µs/msg busy`, busy.userUsPerMessage, 'µs', null));
    figures.push(makeFigure(`wake.${id}.wakeUserUs`, `${name} user µs per wake-up`, added, 'µs', null));
  }
  const node = addedUser.get('node');
  const mc = addedUser.get('memcached');
  if (node !== undefined && mc !== undefined && mc > 0) figures.push(makeFigure('wake.userRatio', 'node / memcached per wake-up', node / mc, 'ratio', null));
  return figures;
}

export async function runWakeCli(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const o = parseWakeArgs(argv);
  if (o === 'help') {
    out.write(WAKE_USAGE);
    return 0;
  }
  const results = { ...emptyResults(o.jsonFile), wake: null as WakeResult | null };
  out.write(`pandakv bench wake: ${o.requests} GETs per message, 1 connection (woken) vs ${o.busy} (busy), ${o.rounds} × ${o.seconds / o.rounds} s per series\n\n`);
  await runPhase('wake', results, out, async () => {
    const r = await runWakeBench(o, out);
    results.wake = r;
    for (const s of r.skipped) out.write(`  skipped: ${s}\n`);
    for (const s of r.series) {
      out.write(`  ${`${s.server}, ${s.connections} conn`.padEnd(24)} ${formatCount(s.messagesPerSec).padStart(8)} msg/s   `
        + `user ${s.userUsPerMessage.toFixed(1)} µs/msg   sys ${s.sysUsPerMessage.toFixed(1)} µs/msg\n`);
    }
    return wakeFigures(r);
  });
  return finishRun(results, o.jsonFile, out);
}
