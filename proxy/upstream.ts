import { EventEmitter } from 'eventemitter3';
import { KvError } from '../shared/errors.js';
import { holdingNodes, type ClusterMap } from '../shared/cluster-map.js';
import { ManagerMapSource } from '../sdk/manager-map-source.js';
import type { MapSource, MapSourceEvents } from '../sdk/map-source.js';
import { LanePool } from '../sdk/lane-pool.js';
import { Dispatcher } from '../sdk/dispatcher.js';
import { rawAnswerReader } from './raw-answer-reader.js';
import type { ProxyOptions } from './options.js';
import type { KeyPair } from '../shared/auth/index.js';

export interface UpstreamEvents {
  health: (isHealthy: boolean) => void;
}

/**
 * The proxy's view of the cluster: the live map, adopted only after lanes to every
 * node it names are open (new nodes are warmed before cut-over, removed ones drained),
 * `lanesPerNode` lanes to each node, and a dispatcher that fails fast when an owner is
 * down rather than rehashing. Also a `MapSource` itself: it hands out the adopted map.
 */
export class Upstream extends EventEmitter<MapSourceEvents> implements MapSource {
  readonly pool: LanePool;
  readonly dispatcher: Dispatcher;
  readonly health = new EventEmitter<UpstreamEvents>();
  private readonly managerMap: ManagerMapSource;
  private adopted: ClusterMap | null = null;
  private lostSince: number | null = Date.now();
  private healthTimer: NodeJS.Timeout;
  private isHealthyNow = false;
  private isWarmedOnce = false;
  private warming: Promise<void> = Promise.resolve();
  private waiters: Array<{ minEpoch: number; resolve: (m: ClusterMap) => void }> = [];
  private readonly derivedKeys = new Map<string, KeyPair>();

  // A node must prove the key the map lists for it; the newest map first, as lanes warm before cut-over.
  private readonly nodeKeyFor = (address: string): string | null => {
    for (const map of [this.managerMap?.current() ?? null, this.adopted]) {
      const node = map?.nodes.find((n) => n.address === address);
      if (node !== undefined) return node.peerKey;
    }
    return null;
  };

  /** @param onActivity called as each message from a node arrives (the idle poller) */
  constructor(private readonly options: ProxyOptions, onActivity: (() => void) | null = null) {
    super();
    this.pool = new LanePool({
      connectTimeoutMs: options.warmupTimeoutMs,
      maxInFlight: options.maxInFlightPerLane,
      maxQueued: options.maxInFlightPerLane * 16,
      maxFramesPerMessage: 1024,
      maxBatchBytes: 1024 * 1024,
      heartbeatMs: 5000,
      // Requests from every client message handled in one I/O phase leave in one message per lane.
      scheduleFlush: flushPerTurn,
      sendWindow: options.sendWindow,
      // A lone request (one client in flight) leaves at the end of its client message's task.
      sendWhenIdle: true,
      // Answers to forwarded frames go back to clients as the node encoded them.
      answerReader: rawAnswerReader(onActivity),
      tlsCa: options.tlsCa,
      wireLayout: options.upstreamLayout,
      auth: options.credentials === null ? null : {
        credentials: options.credentials, serverKeyFor: this.nodeKeyFor, derivedKeys: this.derivedKeys,
        ...(options.passwordLimits === null ? {} : { passwordLimits: options.passwordLimits }),
      },
    }, options.backoffMs, options.lanesPerNode);
    this.dispatcher = new Dispatcher(this, this.pool, { backoffMs: [1, 10, 50, 100], isFailFast: true });
    this.managerMap = new ManagerMapSource(options.map, {
      tlsCa: options.tlsCa,
      auth: options.credentials === null ? null : {
        credentials: options.credentials, managerKey: options.managerKey, derivedKeys: this.derivedKeys,
        ...(options.passwordLimits === null ? {} : { passwordLimits: options.passwordLimits }),
      },
    });
    this.managerMap.on('principals', (list) => this.emit('principals', list));
    this.managerMap.on('map', this.onManagerMap);
    this.managerMap.on('status', this.onStatus);
    this.managerMap.on('error', () => undefined);
    this.pool.on('node-down', () => this.checkHealth());
    this.pool.on('node-up', () => this.checkHealth());
    this.healthTimer = setInterval(() => this.checkHealth(), Math.max(10, Math.min(250, options.mapLossMs / 4)));
    this.healthTimer.unref();
  }

  /** Resolve once a map is adopted and its lanes are up, or reject at the deadline. */
  ready(deadlineMs: number): Promise<ClusterMap> {
    return this.refresh(0, deadlineMs);
  }

  current(): ClusterMap | null {
    return this.adopted;
  }

  refresh(minEpoch: number, deadlineMs: number): Promise<ClusterMap> {
    if (this.adopted !== null && this.adopted.epoch >= minEpoch) return Promise.resolve(this.adopted);
    void this.managerMap.refresh(minEpoch, deadlineMs).catch(() => undefined);
    return new Promise((resolve, reject) => {
      const waiter = { minEpoch, resolve: (m: ClusterMap): void => { clearTimeout(timer); resolve(m); } };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(KvError.timeout(`no map with epoch ≥ ${minEpoch} before the deadline`, { isSafeToRetry: true }));
      }, Math.max(0, deadlineMs - Date.now()));
      this.waiters.push(waiter);
    });
  }

  /**
   * Healthy: the first map adopted with every lane up, and the subscription not lost for
   * longer than mapLossMs. A node that goes down later does not make the proxy unhealthy:
   * requests for its buckets fail fast and retryably until the map changes.
   */
  get isHealthy(): boolean {
    return this.isHealthyNow;
  }

  /** True when the map has been gone longer than `mapLossMs`: refuse new work. */
  get isMapLost(): boolean {
    return this.lostSince !== null && Date.now() - this.lostSince > this.options.mapLossMs;
  }

  /** Nodes that own buckets in the adopted map, and whether each one's lanes are up. */
  laneStatus(): Array<{ address: string; isWarm: boolean }> {
    const map = this.adopted;
    if (map === null) return [];
    return liveNodes(map).map((address) => ({ address, isWarm: this.pool.isWarm(address) }));
  }

  async close(): Promise<void> {
    clearInterval(this.healthTimer);
    this.managerMap.close();
    await this.pool.close();
  }

  private readonly onStatus = (isConnected: boolean): void => {
    if (isConnected) this.lostSince = null;
    else this.lostSince ??= Date.now();
    this.checkHealth();
  };

  // Warm lanes to every node of the new map first, then cut over; maps are adopted in order.
  private readonly onManagerMap = (map: ClusterMap): void => {
    this.warming = this.warming.then(async () => {
      const deadline = Date.now() + this.options.warmupTimeoutMs;
      await Promise.all(liveNodes(map).map((a) => this.pool.warm(a, deadline).catch(() => undefined)));
      const latest = this.managerMap.current();
      if (latest !== null && latest !== map && (latest.epoch > map.epoch || latest.rev > map.rev)) return;
      const previous = this.adopted;
      this.adopted = map;
      this.pool.retain(new Set(map.nodes.filter((n) => n.state !== 'failed').map((n) => n.address)));
      this.emit('map', map, previous);
      const ready = this.waiters.filter((w) => map.epoch >= w.minEpoch);
      this.waiters = this.waiters.filter((w) => map.epoch < w.minEpoch);
      for (const w of ready) w.resolve(map);
      this.checkHealth();
    });
  };

  private checkHealth(): void {
    if (!this.isWarmedOnce && this.adopted !== null && this.laneStatus().every((s) => s.isWarm)) this.isWarmedOnce = true;
    const ok = this.isWarmedOnce && !this.isMapLost;
    if (ok !== this.isHealthyNow) {
      this.isHealthyNow = ok;
      this.health.emit('health', ok);
    }
  }
}

function liveNodes(map: ClusterMap): string[] {
  return [...holdingNodes(map)].map((i) => map.nodes[i]!).filter((n) => n.state !== 'failed').map((n) => n.address);
}

/** Once per event-loop turn (after the I/O phase), instead of once per microtask checkpoint. */
function flushPerTurn(flush: () => void): void {
  setImmediate(flush);
}
