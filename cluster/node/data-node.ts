import { KvError } from '../../shared/errors.js';
import { NodeMetrics } from './node-metrics.js';
import { snakeKeys } from '../../shared/snake-case.js';
import { join } from 'node:path';
import type { NodeLoadReport } from '../../shared/map-protocol.js';
import { MemoryEngine } from './engine/memory-engine.js';
import { DiskEngine } from './engine/disk-engine.js';
import type { KvEngine } from './engine/types.js';
import { Executor, type StatsSource } from './executor.js';
import { DataServer } from './data-server.js';
import type { ConnGuardCounters } from '../../shared/conn-guard.js';
import { Ownership } from './ownership.js';
import { NODE_DEFAULTS, type NodeOptions } from './options.js';
import { ManagerLink, type RegisteredInfo } from './manager-link.js';
import { DashboardReporter } from './dashboard-report.js';
import { OwnershipLease } from './lease.js';
import { loadNodeId, loadNodeKey } from './identity.js';
import { ServerAuth, toHex, type KeyPair } from '../../shared/auth/index.js';
import { MIN_PEER_IDLE_TIMEOUT_MS, PeerPlane, peerTimeouts } from '../peer/index.js';
import { Replicator } from './replication/replicator.js';
import { describeConnectError } from '../../shared/connect-error.js';
import { HintStore } from './replication/hint-store.js';
import { chainOf, type ClusterMap } from '../../shared/cluster-map.js';
import { Purger } from './purge.js';
import { followedMapUrl, followsMap, ringRole, startRingSeed, validateRingOptions } from './ring.js';
import { loadSnapshot, saveSnapshot, SnapshotError } from './warm-restart.js';
import type { Manager } from '../manager/manager.js';
import { EventLog } from '../../shared/event-log.js';

/** `ws://ip:port`, bracketing IPv6 addresses. */
export function wsUrl(ip: string, port: number, isTls = false): string {
  return `${isTls ? 'wss' : 'ws'}://${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
}

/**
 * A data node: engine (disk or memory) + ownership + the client-facing server. Started
 * alone it owns every bucket at epoch 0.
 */
export class DataNode implements StatsSource {
  readonly options: Readonly<NodeOptions>;
  readonly engine: KvEngine;
  readonly ownership: Ownership;
  private server: DataServer | null = null;
  private readonly executor: Executor;
  /** Authentication of client connections; null with `--insecure`. */
  auth: ServerAuth | null = null;
  /** The node's identity to clients and peers; set by listen(). */
  keyPair: KeyPair | null = null;
  private readonly startedAt = Date.now();
  private address: { ip: string; port: number } | null = null;
  private closing: Promise<void> | null = null;
  private link: ManagerLink | null = null;
  private dashboardReporter: DashboardReporter | null = null;
  private followed: { map: ClusterMap; self: number } | null = null;
  private recoveryTimer: NodeJS.Timeout | null = null;
  private readonly purger: Purger;
  /** Replication over the peer plane; null without `--dht`. */
  replicator: Replicator | null = null;
  private plane: PeerPlane | null = null;
  /** Hints held for down replicas (hinted handoff); null without `--dht`. */
  hints: HintStore | null = null;
  /** The lease this node serves its units under, renewed by the manager (DESIGN §4). */
  readonly lease = new OwnershipLease();
  private planeJoin: Promise<void> | null = null;
  private hasWarnedNoPlane = false;
  /** Why the managers cannot be reached, as last logged; null while they answer. */
  private managerProblem: string | null = null;
  /** Why joining the peer plane failed, when it did. */
  peerPlaneError: string | null = null;
  /** Stable id: kept in the data dir when there is one. */
  id = '';
  /** The ring's map service, on a node that seeds a ring (see ring.ts); else null. */
  ring: Manager | null = null;
  /**
   * Cluster events on this node (fence, unfence, rollback, hint-replay, …), one line each
   * on `logWrite`; lines carry the node's id once listen() has loaded it.
   */
  readonly events: EventLog;

  constructor(options: Partial<NodeOptions> = {}) {
    const opts = { ...NODE_DEFAULTS, ...options };
    validateNodeOptions(opts);
    this.options = Object.freeze(opts);
    this.events = new EventLog({ component: 'node', format: opts.logFormat, write: opts.logWrite, capacity: opts.eventCapacity });
    this.engine = engineKind(opts) === 'disk'
      ? new DiskEngine({
        path: join(opts.dataDir!, 'engine'),
        memorySizeMb: opts.memorySizeMb,
        commitIntervalMs: opts.commitIntervalMs,
        expirySweepIntervalMs: opts.expirySweepIntervalMs,
        maxKeyBytes: opts.maxKeyBytes,
        maxValueBytes: opts.maxValueBytes,
      })
      : new MemoryEngine({
        memorySizeMb: opts.memorySizeMb,
        isEvictionEnabled: opts.isEvictionEnabled,
        maxKeyBytes: opts.maxKeyBytes,
        maxValueBytes: opts.maxValueBytes,
      });
    this.ownership = new Ownership(Math.log2(opts.buckets), followsMap(opts));
    this.executor = new Executor(this.engine, this.ownership, this);
    const own = this.ownership;
    this.executor.backupHost = {
      get epoch() { return own.epoch; },
      get bits() { return own.bits; },
      activeRanges: () => own.activeRanges(),
      isServing: () => own.isServing(),
      unitBits: () => this.map?.unitBits ?? null,
      history: () => this.replicator,
    };
    this.purger = new Purger(this.engine, this.ownership, {
      beforePass: () => this.replicator?.forgetUnheld(),
      isHeld: () => this.replicator?.isKeepingData === true,
    });
  }

  /** Create and start a node; resolves once it accepts connections. */
  static async start(options: Partial<NodeOptions> = {}): Promise<DataNode> {
    const node = new DataNode(options);
    await node.listen();
    return node;
  }

  async listen(): Promise<string> {
    const o = this.options;
    this.id = await loadNodeId(o.dataDir);
    this.events.id = this.id;
    this.keyPair = loadNodeKey(o.dataDir, this.id);
    if (this.engine instanceof DiskEngine) this.engine.bindNode(this.id);
    if (!o.isInsecure) {
      this.auth = new ServerAuth(this.id, this.keyPair);
      if (o.principals !== null) this.auth.setPrincipals(o.principals, 'pandakv node');
    }
    this.server = new DataServer(o, this.executor, this.auth);
    const server = this.server;
    const metrics = new NodeMetrics({ stats: () => snakeKeys({ ...this.engine.stats(), ...this.nodeStats() }), requests: () => server.load.ops, conn: () => server.connCounters });
    server.endpoints = { metrics: () => metrics.text(), health: this.health };
    this.address = await this.server.listen();
    if (o.dht.length > 0) await this.joinPeerPlane(o.dht);
    if (ringRole(o) === 'seed') this.ring = await startRingSeed(o);
    const mapUrl = this.ring?.address ?? followedMapUrl(o);
    if (mapUrl !== null) {
      this.ownership.lease = this.lease;
      this.lease.on('fence', (e) => this.logEvent('fence', { epoch: e.epoch, late_ms: e.lateMs, reason: 'no acknowledged lease renewal' }));
      this.lease.on('unfence', (e) => this.logEvent('unfence', { epoch: e.epoch, fenced_ms: e.fencedMs }));
      this.link = new ManagerLink(mapUrl, {
        id: this.id, address: o.advertise ?? this.url, zone: o.zone, weight: o.weight, peerKey: toHex(this.keyPair.publicKey),
      }, {
        credentials: o.credentials, managerKey: o.managerKey, tlsCa: o.tlsCa, report: () => this.replicator?.report() ?? null, load: this.loadReport, lease: this.lease,
        extras: this.dashboardReporter = new DashboardReporter(this.engine, this.events),
      });
      this.link.on('map', this.onMap);
      this.link.on('registered', this.onRegistered);
      this.link.on('principals', (list) => this.auth?.setPrincipals(list, 'pandakv node'));
      this.link.on('maybe-failed', () => this.replicator?.markSuspect());
      this.link.on('manager-switch', (e) => this.logEvent('manager-switch', { from: e.from, to: e.to, reason: e.reason }));
      this.link.on('error', this.onManagerError);
      this.link.on('registered', this.onManagerBack);
      this.link.start();
    }
    return this.url;
  }

  private logEvent(name: string, fields: Record<string, string | number | boolean | null>): void {
    this.events.record(name, fields);
  }

  /**
   * Join the peer plane (replication, backfill, hinted handoff) through `bootstrap`
   * (`host:port` list): the node's `--dht`, or what its manager offered on registration.
   */
  private async joinPeerPlane(bootstrap: readonly string[]): Promise<void> {
    const o = this.options;
    const nodes = bootstrap.map((hp) => {
      const at = hp.lastIndexOf(':');
      return { host: hp.slice(0, at), port: Number(hp.slice(at + 1)) };
    });
    const plane = new PeerPlane(this.keyPair!, nodes, { host: o.ip, ...peerTimeouts(o.peerIdleTimeoutMs) });
    plane.on('link-error', noop);
    await plane.start();
    this.plane = plane;
    this.hints = await HintStore.open(o.dataDir, { ttlMs: o.hintTtlMs });
    if (!this.hints.isDurable) process.stderr.write('pandakv node: no --data-dir: hints for down replicas are kept in memory only\n');
    this.replicator = new Replicator(this.engine, plane, { backfillBytesPerSec: o.backfillBytesPerSec }, this.hints);
    // A move waits for this node's report that its backfills are done: send it at once.
    this.replicator.on('backfill-ended', () => setImmediate(() => this.link?.heartbeatNow()));
    this.replicator.on('held', (units) => this.ownership.hold(units));
    this.replicator.leaseTermMs = () => this.lease.termMs;
    this.replicator.on('hint-replay', (e) => this.logEvent('hint-replay', { delivered: e.count, left: e.left }));
    this.replicator.on('rollback', (e) => this.logEvent('rollback', {
      source: e.source.slice(0, 16), how: e.how, units: e.units.length, discarded: e.discarded, first: e.units.slice(0, 8).join(','),
    }));
    this.executor.replicator = this.replicator;
    // Unit seqnos go to disk in the same commits as the items they number.
    this.engine.setUnitMarkSource(this.replicator.marks);
    if (this.engine.isDurable) this.diskStart();
    else if (this.isWarmRestart) this.warmStart();
  }

  /** A node given no `--dht` joins the peer plane its manager offers, once. */
  /** Logged once per reason, not at every retry; said again when the reason changes. */
  private readonly onManagerError = (err: Error): void => {
    const reason = describeConnectError(err);
    if (reason === this.managerProblem) return;
    this.managerProblem = reason;
    this.logEvent('manager-error', { manager: this.link?.managerUrl ?? '', error: reason, retrying: true });
  };

  private readonly onManagerBack = (): void => {
    if (this.managerProblem === null) return;
    this.managerProblem = null;
    this.logEvent('manager-reachable', { manager: this.link?.managerUrl ?? '' });
  };

  private readonly onRegistered = (info: RegisteredInfo): void => {
    if (this.plane !== null || this.planeJoin !== null || this.closing !== null) return;
    if (info.dht.length === 0) {
      if (info.wasFailed) this.dropStaleCopies();
      if (!this.hasWarnedNoPlane) process.stderr.write(`pandakv node: the manager at ${info.url} offers no peer plane and this node has no --dht: it does not replicate; writes asking for majority durability on units with replicas are refused (KV_ERR_DURABILITY_IMPOSSIBLE)\n`);
      this.hasWarnedNoPlane = true;
      return;
    }
    this.planeJoin = this.joinPeerPlane(info.dht).then(
      () => {
        this.logEvent('peer-plane-joined', { bootstrap: info.dht.join(',') });
        const map = this.map;
        if (map !== null) this.onMap(map);
        this.link?.heartbeatNow();
      },
      (err: Error) => {
        this.planeJoin = null;
        this.peerPlaneError = err.message;
        this.logEvent('peer-plane-failed', { bootstrap: info.dht.join(','), error: err.message });
      },
    );
  };

  /**
   * Back from a failover with no peer plane: the units this node was active for went to
   * other nodes, which took writes for them, and nothing can tell it what it missed. What
   * it holds is older than what was acknowledged meanwhile, so it goes before any map is
   * applied (the node is fenced until then): units handed back start empty, like every
   * unit that changes owner without replication.
   */
  private dropStaleCopies(): void {
    const items = this.engine.stats().items;
    this.engine.flush();
    this.logEvent('drop-stale', { items, reason: 'failed over without replication' });
  }

  /** A graceful stop keeps the items for the next start (see warm-restart.ts); a disk engine keeps them anyway. */
  private get isWarmRestart(): boolean {
    const o = this.options;
    return o.isWarmRestartEnabled && o.dataDir !== null && this.replicator !== null && !this.engine.isDurable;
  }

  /**
   * A disk engine comes back with its items and the unit seqnos committed with them,
   * whether it stopped gracefully or was killed: every unit held is verified against its
   * active, as after a failover, and catches up by delta when its history matches.
   */
  private diskStart(): void {
    const marks = this.engine.unitMarks();
    if (marks.length === 0 && this.engine.size === 0) return;
    const histories = this.engine.unitHistories();
    this.replicator!.restoreMarks(marks, true, histories);
    process.stderr.write(`pandakv node: disk engine: ${this.engine.size} items and ${marks.length} unit seqnos on disk, ${histories.size} with their recent history; every unit held is verified against its active\n`);
  }

  /** Load what the last graceful stop kept, before following any map. */
  private warmStart(): void {
    try {
      const snap = loadSnapshot(this.options.dataDir!, this.id, this.engine);
      if (snap === null) return;
      this.replicator!.restoreMarks(snap.marks);
      process.stderr.write(`pandakv node: warm restart: ${snap.items} items and ${snap.units} unit seqnos loaded (${(snap.bytes / 1048576).toFixed(1)} MiB in ${snap.ms.toFixed(0)} ms); every unit held is verified against its active\n`);
    } catch (err) {
      if (!(err instanceof SnapshotError)) throw err;
      // Started empty: the units are copied in full, as after a crash.
      process.stderr.write(`pandakv node: warm restart: snapshot ignored: ${err.message}\n`);
    }
  }

  /** The map this node follows, when managed. */
  get map(): ClusterMap | null {
    return this.link?.tracker.current ?? null;
  }

  private readonly onMap = (map: ClusterMap): void => {
    const self = map.nodes.findIndex((n) => n.id === this.id);
    const previous = this.followed;
    this.followed = { map, self };
    this.ownership.applyMap(map, self);
    const outcome = this.replicator?.applyMap(map, self) ?? 'following';
    // A failed node keeps its data: coming back, it catches up with only what it missed.
    if (outcome === 'failed') {
      if (this.recoveryTimer !== null) clearTimeout(this.recoveryTimer);
      this.recoveryTimer = null;
      return;
    }
    if (outcome === 'recovering') {
      // Back: units the rejoin does not give back are dropped once the moves that place
      // this node have had time to run.
      if (this.recoveryTimer !== null) clearTimeout(this.recoveryTimer);
      this.recoveryTimer = setTimeout(() => {
        this.recoveryTimer = null;
        this.replicator?.endRecovery();
        this.purger.request();
      }, this.options.recoveryCleanupMs);
      this.recoveryTimer.unref();
      return;
    }
    // Copies this node no longer holds are dropped once the map has moved them away.
    if (previous !== null && losesUnits(previous.map, previous.self, map, self)) this.purger.request();
  };

  get url(): string {
    if (this.address === null) throw KvError.unavailable('node is not listening');
    return wsUrl(this.address.ip, this.address.port, this.options.tls !== null);
  }

  /** `/healthz`: serving when not fenced and, under a manager or ring, once a map is adopted. */
  private readonly health = (): { isHealthy: boolean; body: Record<string, unknown> } => {
    const isFenced = this.lease.isFenced;
    const hasMap = this.link === null || this.map !== null;
    const isHealthy = !isFenced && hasMap;
    return {
      isHealthy,
      body: { ok: isHealthy, id: this.id, epoch: this.ownership.epoch, rev: this.map?.rev ?? null, isFenced, hasMap, manager: this.link?.managerUrl ?? null },
    };
  };

  /** Load figures for the heartbeat (the dashboard's node cards). */
  private readonly loadReport = (): NodeLoadReport => {
    const e = this.engine.stats();
    return {
      ops: this.server!.load.ops, ...this.server!.load.takePercentiles(),
      items: e.items, memoryBytes: e.bytes, hintsPending: this.hints?.count ?? 0,
      // As of sending: a node cut off from the managers sends nothing, a paused one says so
      // in its first heartbeat after the pause. A lease that ran out counts even before its
      // timer noticed (after a pause the heartbeat's timer may fire first).
      isFenced: this.lease.isFenced || this.lease.remainingMs() <= 0,
    };
  };

  nodeStats(): Record<string, number | string> {
    const c = this.server!.counters;
    return {
      connections: c.connections,
      totalConnections: c.totalConnections,
      rejectedConnections: c.rejectedConnections,
      messages: c.messages,
      frames: c.frames,
      badFrames: c.badFrames,
      authFailures: c.authFailures,
      authDenied: c.authDenied,
      ...prefixed('conn_', connStats(this.server!.connCounters)),
      purgedItems: this.purger.purged,
      purgeKeysRead: this.purger.keysRead,
      replicaRedirects: this.executor.replicaRedirects,
      engine: this.engine.kind,
      ...(this.replicator === null ? {} : prefixed('repl_', { ...this.replicator.counters, ...this.replicator.gauges() })),
      rssBytes: process.memoryUsage.rss(),
      uptimeSec: Math.floor((Date.now() - this.startedAt) / 1000),
      epoch: this.ownership.epoch,
      mapRev: this.map?.rev ?? 0,
      fenced: this.lease.isFenced ? 1 : 0,
      leaseLeftMs: Number.isFinite(this.lease.remainingMs()) ? Math.round(this.lease.remainingMs()) : -1,
      replicating: this.replicator === null ? 0 : 1,
      manager: this.link?.managerUrl ?? '',
      nodeId: this.id,
      bucketBits: this.ownership.bits,
      pid: process.pid,
    };
  }

  /** Stop accepting and close every connection. Idempotent. */
  close(): Promise<void> {
    this.link?.close();
    this.dashboardReporter?.close();
    this.lease.close();
    this.ownership.releaseWaiters();
    if (this.recoveryTimer !== null) clearTimeout(this.recoveryTimer);
    this.purger.close();
    this.replicator?.close();
    this.closing ??= (async () => {
      await this.server?.close();
      // Nothing is served any more: the cut is consistent.
      if (this.isWarmRestart && this.id !== '') {
        try {
          const f = saveSnapshot(this.options.dataDir!, this.id, this.engine, this.replicator!.unitMarks());
          process.stderr.write(`pandakv node: warm restart: kept ${f.items} items and ${f.units} unit seqnos (${(f.bytes / 1048576).toFixed(1)} MiB in ${f.ms.toFixed(0)} ms)\n`);
        } catch (err) {
          process.stderr.write(`pandakv node: warm restart: could not keep the items: ${(err as Error).message}\n`);
        }
      }
      await this.plane?.close();
      await this.hints?.close();
      await this.ring?.close();
      await this.engine.close();
    })();
    return this.closing;
  }
}

/** The engine a node with these options runs: disk is the default with a data dir. */
export function engineKind(o: Pick<NodeOptions, 'engine' | 'dataDir'>): 'disk' | 'memory' {
  return o.engine ?? (o.dataDir === null ? 'memory' : 'disk');
}

/** @throws KvError INVALID_ARGUMENT with a one-line reason when an option is out of range. */
export function validateNodeOptions(o: NodeOptions): void {
  if (o.engine === 'disk' && o.dataDir === null) throw KvError.invalidArgument('--engine disk needs --data-dir');
  if (!Number.isFinite(o.commitIntervalMs) || o.commitIntervalMs < 0 || o.commitIntervalMs > 10_000) throw KvError.invalidArgument(`--commit-interval-ms must be 0..10000, got ${o.commitIntervalMs}`);
  if (!Number.isSafeInteger(o.expirySweepIntervalMs) || o.expirySweepIntervalMs < 0) throw KvError.invalidArgument(`--expiry-sweep-ms must be a whole number of ms, 0 or more, got ${o.expirySweepIntervalMs}`);
  if (!Number.isFinite(o.backfillBytesPerSec) || o.backfillBytesPerSec < 0) throw KvError.invalidArgument(`--backfill-rate must be 0 or more KiB/s, got ${o.backfillBytesPerSec / 1024}`);
  if (!Number.isSafeInteger(o.recoveryCleanupMs) || o.recoveryCleanupMs < 0 || o.recoveryCleanupMs > 86_400_000) throw KvError.invalidArgument(`--recovery-window-ms must be 0 to 86400000 ms, got ${o.recoveryCleanupMs}`);
  if (!Number.isSafeInteger(o.peerIdleTimeoutMs) || o.peerIdleTimeoutMs < MIN_PEER_IDLE_TIMEOUT_MS || o.peerIdleTimeoutMs > 3_600_000) {
    throw KvError.invalidArgument(`--peer-idle-timeout-ms must be ${MIN_PEER_IDLE_TIMEOUT_MS} to 3600000 ms, got ${o.peerIdleTimeoutMs}`);
  }
  const bits = Math.log2(o.buckets);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) throw KvError.invalidArgument(`--buckets must be a power of two between 1 and 2^32, got ${o.buckets}`);
  if (!Number.isFinite(o.memorySizeMb) || o.memorySizeMb <= 0) throw KvError.invalidArgument(`--memory-size must be a positive number of MB, got ${o.memorySizeMb}`);
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw KvError.invalidArgument(`--port must be 0..65535, got ${o.port}`);
  if (!Number.isInteger(o.redundancy) || o.redundancy < 1 || o.redundancy > 8) throw KvError.invalidArgument(`--redundancy must be 1..8, got ${o.redundancy}`);
  validateRingOptions(o);
  if (!o.isInsecure) {
    const isFollowing = followsMap(o);
    if (!isFollowing && o.principals === null) throw KvError.invalidArgument('a node without --manager needs --principals FILE (or --insecure)');
    if (isFollowing && o.credentials === null) throw KvError.invalidArgument('a node with --manager, --ringnode or a ring to seed needs --credentials FILE of an admin principal (or --insecure)');
  }
}

function noop(): void {}

function connStats(c: Readonly<ConnGuardCounters>): Record<string, number> {
  return { evicted: c.evicted, refused: c.refused, preAuthTimeouts: c.preAuthTimeouts, idleTimeouts: c.idleTimeouts, readTimeouts: c.readTimeouts };
}

/** True when the node at `selfA` in `a` holds a copy of some unit that `selfB` in `b` does not. */
function losesUnits(a: ClusterMap, selfA: number, b: ClusterMap, selfB: number): boolean {
  if (selfA < 0) return false;
  if (selfB < 0 || a.bits !== b.bits) return true;
  const unitBits = Math.max(a.unitBits, b.unitBits);
  const size = 2 ** (a.bits - unitBits);
  for (let u = 0; u < 2 ** unitBits; u++) {
    if (chainOf(a, u * size).includes(selfA) && !chainOf(b, u * size).includes(selfB)) return true;
  }
  return false;
}

function prefixed(prefix: string, o: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) out[prefix + k] = v;
  return out;
}
