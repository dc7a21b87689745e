/**
 * Subscriber side of `pandakv bench map`, in a process of its own: N `ManagerMapSource`
 * subscriptions, and the trigger. This process sends each fake node's registration and
 * sees each subscriber receive the resulting map, so both timestamps come from one
 * monotonic clock. Prints one JSON line `{"result": FanoutReport}` on stdout.
 *
 * `node dist/bench/map-fanout-subscribers.js --manager http://127.0.0.1:PORT --subscribers 100 --changes 50`
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { numberArg, parseCommandLine, runCommand, UsageError } from '../bin/cli-util.js';
import { ManagerMapSource } from '../sdk/manager-map-source.js';
import type { ClusterMap } from '../shared/cluster-map.js';
import { diffMaps, encodeDelta, encodeMap } from '../shared/map-codec.js';
import { decodeServerMessage, encodeMapMessage, mapServiceUrl } from '../shared/map-protocol.js';

/** One measured change: when each subscriber had the new map, ms after the trigger was sent. */
export interface FanoutChange {
  rev: number;
  /** One per subscriber that received the map before the deadline, in arrival order. */
  latenciesMs: number[];
  /** Per subscriber: from the manager publishing the map to the subscriber having it. */
  publishLagsMs?: number[];
  /** Subscribers that had not received it at the deadline. */
  missed: number;
  /** Encoded size of the delta from the previous map; null when only a full map would do. */
  deltaBytes: number | null;
}

/** The `pandakv_manager_map_pushes_total` counters. */
export interface PushCounters {
  full: number;
  delta: number;
}

/** What the subscriber process measured. */
export interface FanoutReport {
  changes: FanoutChange[];
  /** Encoded size of the last map. */
  fullMapBytes: number;
  nodes: number;
  /** Maps the manager sent while the measured changes ran. */
  pushes: PushCounters;
}

/** Fake nodes claim ws://127.0.0.1:(base + index); nothing connects there. */
const FAKE_PORT_BASE = 20_000;

/** A node that only registers and heartbeats; each registration makes the leader publish a map. */
class FakeNode {
  private ws: WebSocket | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  /** Set when the manager refused the registration or dropped the link. */
  failure: string | null = null;

  readonly id: string;

  constructor(private readonly index: number, private readonly url: string, private readonly latest: () => ClusterMap | null) {
    this.id = `bench-fanout-${index}`;
  }

  /** Connect; not part of the measured time. */
  open(timeoutMs: number): Promise<void> {
    const ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    this.ws = ws;
    ws.on('message', this.onMessage);
    ws.on('close', this.onClose);
    return new Promise<void>((resolve, reject) => {
      const onOpen = (): void => {
        ws.off('error', onError);
        ws.on('error', this.onError);
        resolve();
      };
      const onError = (err: Error): void => reject(new Error(`fake node ${this.id} could not connect to ${this.url}: ${err.message}`));
      ws.once('open', onOpen);
      ws.once('error', onError);
    });
  }

  /** The trigger. */
  register(): void {
    const node = { id: this.id, address: `ws://127.0.0.1:${FAKE_PORT_BASE + this.index}`, zone: '', weight: 1, peerKey: null };
    this.ws?.send(encodeMapMessage({ t: 'register', node }));
  }

  close(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.ws?.off('close', this.onClose);
    this.ws?.terminate();
    this.ws = null;
  }

  private readonly onMessage = (data: Buffer): void => {
    const msg = decodeServerMessage(data);
    if (msg?.t === 'registered') {
      this.heartbeat ??= setInterval(this.sendHeartbeat, msg.heartbeatMs);
    } else if (msg?.t === 'err') {
      this.failure = `${msg.code}: ${msg.message}`;
    }
  };

  private readonly sendHeartbeat = (): void => {
    const map = this.latest();
    this.ws?.send(encodeMapMessage({ t: 'hb', id: this.id, rev: map?.rev ?? 0, epoch: map?.epoch ?? 0 }));
  };

  private readonly onError = (): void => undefined;

  private readonly onClose = (code: number): void => {
    this.failure ??= `link closed by the manager (${code})`;
  };
}

/** Times one change at a time: from the trigger until every subscriber has a map naming the new node. */
class FanoutProbe {
  private nodeId: string | null = null;
  private startedAt = 0;
  private readonly seen: boolean[];
  private latenciesMs: number[] = [];
  private publishLagsMs: number[] = [];
  private wake: (() => void) | null = null;
  /** The first map that named the node of the last change. */
  reached: ClusterMap | null = null;

  constructor(private readonly count: number) {
    this.seen = new Array<boolean>(count).fill(false);
  }

  note(index: number, map: ClusterMap, publishedAt: number | null): void {
    if (this.nodeId === null || this.seen[index] === true) return;
    if (!map.nodes.some((n) => n.id === this.nodeId)) return;
    this.latenciesMs.push(performance.now() - this.startedAt);
    // Same machine, same clock: the manager's publish stamp against ours.
    if (publishedAt !== null) this.publishLagsMs.push(performance.timeOrigin + performance.now() - publishedAt);
    this.seen[index] = true;
    this.reached ??= map;
    if (this.latenciesMs.length === this.count) this.wake?.();
  }

  /** Run `trigger` and resolve once every subscriber saw `nodeId`, or at the deadline. */
  async measure(nodeId: string, trigger: () => void, timeoutMs: number): Promise<{ latenciesMs: number[]; publishLagsMs: number[]; missed: number }> {
    this.seen.fill(false);
    this.latenciesMs = [];
    this.publishLagsMs = [];
    this.reached = null;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve) => {
      this.wake = resolve;
      timer = setTimeout(resolve, timeoutMs);
    });
    this.nodeId = nodeId;
    this.startedAt = performance.now();
    trigger();
    await done;
    clearTimeout(timer);
    this.nodeId = null;
    this.wake = null;
    return { latenciesMs: this.latenciesMs, publishLagsMs: this.publishLagsMs, missed: this.count - this.latenciesMs.length };
  }
}

/** One subscription, with a named listener that reports to the probe. */
class Subscriber {
  readonly source: ManagerMapSource;

  constructor(private readonly index: number, address: string, connectTimeoutMs: number, private readonly probe: FanoutProbe) {
    this.source = new ManagerMapSource(address, { connectTimeoutMs });
    this.source.on('map', this.onMap);
  }

  private readonly onMap = (map: ClusterMap): void => this.probe.note(this.index, map, this.source.publishedAt);
}

/** Read the push counters out of the manager's Prometheus text. @throws Error when absent */
export function parsePushCounters(text: string): PushCounters {
  const read = (kind: string): number => {
    const m = new RegExp(`^pandakv_manager_map_pushes_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text);
    if (m === null) throw new Error(`manager metrics have no pandakv_manager_map_pushes_total{kind="${kind}"}`);
    return Number(m[1]);
  };
  return { full: read('full'), delta: read('delta') };
}

async function scrapePushes(manager: string, timeoutMs: number): Promise<PushCounters> {
  const res = await fetch(new URL('/metrics', manager), { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${manager}/metrics answered ${res.status}`);
  return parsePushCounters(await res.text());
}

/** Every switch is required: the defaults live in map-fanout.ts. */
function parseSettings(argv: string[]): {
  manager: string; subscribers: number; changes: number; warmupChanges: number; changeTimeoutMs: number; connectTimeoutMs: number;
} {
  const counts = ['subscribers', 'changes', 'warmup-changes', 'change-timeout-ms', 'connect-timeout-ms'];
  const { values } = parseCommandLine(argv, Object.fromEntries(['manager', ...counts].map((n) => [n, { type: 'string' as const }])));
  const manager = values.manager;
  if (typeof manager !== 'string' || !/^http:\/\/127\.0\.0\.1:\d+$/.test(manager)) throw new UsageError('--manager http://127.0.0.1:PORT is required');
  const count = (name: string, min: number): number => {
    const n = numberArg(values, name, (v) => Number.isSafeInteger(v) && v >= min);
    if (n === undefined) throw new UsageError(`--${name} is required`);
    return n;
  };
  return {
    manager, subscribers: count('subscribers', 1), changes: count('changes', 1), warmupChanges: count('warmup-changes', 0),
    changeTimeoutMs: count('change-timeout-ms', 1), connectTimeoutMs: count('connect-timeout-ms', 1),
  };
}

async function main(argv: string[]): Promise<number> {
  const s = parseSettings(argv);
  const url = mapServiceUrl(s.manager);
  const probe = new FanoutProbe(s.subscribers);
  const subscribers: Subscriber[] = [];
  const nodes: FakeNode[] = [];
  const latest = (): ClusterMap | null => subscribers[0]?.source.current() ?? null;
  // One change: connect a fake node, then time its registration reaching every subscriber.
  const change = async (timeoutMs: number): Promise<FanoutChange> => {
    const node = new FakeNode(nodes.length, url, latest);
    nodes.push(node);
    await node.open(s.connectTimeoutMs);
    const before = latest();
    const { latenciesMs, publishLagsMs, missed } = await probe.measure(node.id, () => node.register(), timeoutMs);
    if (node.failure !== null) throw new Error(`fake node ${node.id}: ${node.failure}`);
    const map = probe.reached;
    if (map === null) throw new Error(`no subscriber received a map naming ${node.id} within ${timeoutMs} ms`);
    const delta = before === null ? null : diffMaps(before, map);
    const deltaBytes = delta === null ? null : encodeDelta(delta).byteLength;
    const round = (ms: number): number => Math.round(ms * 1000) / 1000;
    return { rev: map.rev, latenciesMs: latenciesMs.map(round), publishLagsMs: publishLagsMs.map(round), missed, deltaBytes };
  };
  try {
    for (let i = 0; i < s.subscribers; i++) subscribers.push(new Subscriber(i, s.manager, s.connectTimeoutMs, probe));
    // The first node makes the first map; every subscriber having it means all are connected.
    const seed = await change(s.connectTimeoutMs);
    if (seed.missed > 0) throw new Error(`${seed.missed} of ${s.subscribers} subscribers had no map within ${s.connectTimeoutMs} ms`);
    for (let i = 0; i < s.warmupChanges; i++) await change(s.changeTimeoutMs);
    const pushesBefore = await scrapePushes(s.manager, s.connectTimeoutMs);
    const changes: FanoutChange[] = [];
    for (let i = 0; i < s.changes; i++) changes.push(await change(s.changeTimeoutMs));
    const pushesAfter = await scrapePushes(s.manager, s.connectTimeoutMs);
    const last = latest();
    const report: FanoutReport = {
      changes,
      pushes: { full: pushesAfter.full - pushesBefore.full, delta: pushesAfter.delta - pushesBefore.delta },
      fullMapBytes: last === null ? 0 : encodeMap(last).byteLength,
      nodes: last?.nodes.length ?? 0,
    };
    process.stdout.write(`${JSON.stringify({ result: report })}\n`);
    return 0;
  } finally {
    for (const sub of subscribers) sub.source.close();
    for (const node of nodes) node.close();
  }
}

// Run only as a program: tests import parsePushCounters from here.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void runCommand('map-fanout-subscribers', () => main(process.argv.slice(2)));
}
