import { EventEmitter } from 'eventemitter3';
import { KvError, ErrorCode } from '../../shared/errors.js';
import { Status } from '../../shared/status.js';
import { chainOf, type ClusterMap } from '../../shared/cluster-map.js';
import { bucketOf } from '../../shared/keystream.js';
import { errorFromAnswer, type Response } from '../../shared/protocol/frames.js';
import { backupChangesRequest, backupPageRequest } from '../../shared/protocol/backup-frames.js';
import { UnitSnapshot } from '../../shared/backup/unit-snapshot.js';
import type { BackupItem, Manifest } from '../../shared/backup/backup-format.js';
import type { MapSource } from '../map-source.js';
import { backoffDelay, delay } from '../backoff.js';
import { BACKUP_DEFAULTS, type BackupOptions } from './options.js';

/** Where a finished unit goes (the backup directory writer). */
export interface UnitSink {
  writeUnit(unit: number, unitBits: number, seq: number, epoch: number, node: string, items: readonly BackupItem[]): void;
}

/** Sends one frame to the node at `address` (a lane, authenticated as the cluster needs). */
export type NodeRequest = (address: string, frame: unknown[], deadlineMs: number) => Promise<Response>;

export interface BackupProgress {
  unitsDone: number;
  unitsTotal: number;
  items: number;
  bytes: number;
  /** Units read again: moved to another node, or their change log overtaken. */
  retries: number;
}

export interface BackupResult extends BackupProgress {
  map: Manifest['map'];
  epochEnd: number;
  createdAt: string;
}

/** The outcome of one pass over some units of one node. */
interface PassOutcome {
  /** Units whose reads were refused for a newer map: wait for it (its epoch, when the node named it). */
  staleEpoch: number | null;
  /** Units to read again (moved, log overtaken, node busy or unreachable). */
  again: number[];
}

/**
 * A consistent backup of a running cluster, unit by unit (docs/backup.md). For each unit
 * the backup reads, on the unit's active at one map epoch, the unit's items page by page
 * from seqno S0 on, then the unit's change records (S0, S1]; applied over the pages they
 * give the unit's exact state at S1 (`UnitSnapshot`). A unit whose active changed (the
 * node answers NOT_MY_BUCKET), or whose records the node's change log no longer holds,
 * is read again from its active in the newest map. Units of one node are read together,
 * `unitsPerPass` at a time, in one pass over the node's keys; nodes are read in parallel.
 */
export class ClusterBackup extends EventEmitter<{ progress: (p: BackupProgress) => void }> {
  private readonly options: BackupOptions;
  private readonly attempts = new Map<number, number>();
  private readonly progress: BackupProgress = { unitsDone: 0, unitsTotal: 0, items: 0, bytes: 0, retries: 0 };
  private epochEnd = 0;

  constructor(private readonly source: MapSource, private readonly request: NodeRequest, private readonly sink: UnitSink, options: Partial<BackupOptions> = {}) {
    super();
    this.options = { ...BACKUP_DEFAULTS, ...options };
  }

  /** Read every unit; resolves once each is in the sink. @throws KvError when a unit cannot be read */
  async run(): Promise<BackupResult> {
    const createdAt = new Date().toISOString();
    const first = await this.source.ready(Date.now() + this.options.requestTimeoutMs);
    // Pending units at the newest map's unit bits: a growing cluster raises them, which
    // splits every unit in place (no data moves), so what is left is split the same way.
    let unitBits = first.unitBits;
    let pending = new Set<number>();
    for (let u = 0; u < 2 ** unitBits; u++) pending.add(u);
    this.progress.unitsTotal = pending.size;
    this.emit('progress', { ...this.progress });
    let idleSince = Date.now();
    let round = 0;
    while (pending.size > 0) {
      const map = this.source.current() ?? first;
      if (map.unitBits < unitBits) throw KvError.unavailable(`the map's unit bits went down during the backup (from ${unitBits} to ${map.unitBits}); run the backup again`);
      if (map.unitBits > unitBits) {
        const d = 2 ** (map.unitBits - unitBits);
        const split = new Set<number>();
        for (const u of pending) for (let i = 0; i < d; i++) split.add(u * d + i);
        this.progress.unitsTotal += split.size - pending.size;
        this.attempts.clear();
        pending = split;
        unitBits = map.unitBits;
      }
      const before = this.progress.unitsDone;
      const outcomes = await Promise.all([...this.byActive(map, pending)].map(([node, units]) => this.readNode(map, node, units, pending)));
      let waitEpoch: number | null = null;
      for (const o of outcomes) if (o.staleEpoch !== null) waitEpoch = Math.max(waitEpoch ?? 0, o.staleEpoch);
      if (this.progress.unitsDone > before) {
        idleSince = Date.now();
        round = 0;
      } else if (Date.now() - idleSince > this.options.idleTimeoutMs) {
        throw KvError.timeout(`no unit could be read for ${this.options.idleTimeoutMs} ms (${pending.size} left; nodes down or the map stuck?)`);
      }
      if (pending.size === 0) break;
      if (waitEpoch !== null) {
        // A newer map is on its way (the node named its epoch): wait for it, not a backoff.
        await this.source.refresh(Math.max(waitEpoch, map.epoch), Date.now() + this.options.requestTimeoutMs).catch(() => undefined);
      }
      if (this.source.current() === map || waitEpoch === null) await delay(backoffDelay(this.options.backoffMs, round++));
    }
    return { ...this.progress, map: { epoch: first.epoch, rev: first.rev, bits: first.bits, unitBits: first.unitBits, nodes: first.nodes.length }, epochEnd: this.epochEnd, createdAt };
  }

  /** Pending units grouped by the address of their active in `map` (units whose active is failed wait). */
  private byActive(map: ClusterMap, pending: ReadonlySet<number>): Map<number, number[]> {
    const perUnit = 2 ** (map.bits - map.unitBits);
    const out = new Map<number, number[]>();
    for (const u of [...pending].sort((a, b) => a - b)) {
      const active = chainOf(map, u * perUnit)[0];
      if (active === undefined || map.nodes[active] === undefined || map.nodes[active]!.state === 'failed') continue;
      const list = out.get(active) ?? [];
      list.push(u);
      out.set(active, list);
    }
    return out;
  }

  /** Read `units` from node `nodeIndex` of `map`, in passes; finished units leave `pending`. */
  private async readNode(map: ClusterMap, nodeIndex: number, units: number[], pending: Set<number>): Promise<PassOutcome> {
    const out: PassOutcome = { staleEpoch: null, again: [] };
    // Units read again go in smaller passes: a busy unit then does not hold the others back.
    const fresh = units.filter((u) => (this.attempts.get(u) ?? 0) === 0);
    const retried = units.filter((u) => (this.attempts.get(u) ?? 0) > 0);
    const passes: number[][] = [];
    for (let i = 0; i < fresh.length; i += this.options.unitsPerPass) passes.push(fresh.slice(i, i + this.options.unitsPerPass));
    for (let i = 0; i < retried.length; i += 4) passes.push(retried.slice(i, i + 4));
    for (const pass of passes) {
      try {
        const lost = await this.pass(map, nodeIndex, pass, pending);
        for (const u of lost) this.retry(u);
        if (this.options.paceMs > 0) await delay(this.options.paceMs);
      } catch (err) {
        const e = err instanceof KvError ? err : KvError.internal(String(err), {}, err);
        if (e.code === ErrorCode.NOT_MY_BUCKET) {
          // This pass's units are read again, from whichever node is their active then.
          this.progress.retries += pass.length;
          // A node ahead of this map names the epoch to wait for; one behind catches up by itself.
          const epoch = e.details.epoch ?? 0;
          if (epoch > map.epoch) out.staleEpoch = Math.max(out.staleEpoch ?? 0, epoch);
          return out;
        }
        if (!isTransient(e)) throw e;
        for (const u of pass) this.retry(u);
        // The node is unreachable or busy: leave its other units for the next round.
        return out;
      }
    }
    return out;
  }

  private retry(unit: number): void {
    const n = (this.attempts.get(unit) ?? 0) + 1;
    this.attempts.set(unit, n);
    this.progress.retries++;
    if (n > this.options.maxUnitAttempts) throw KvError.unavailable(`unit ${unit} could not be read consistently after ${n - 1} attempts (writes outpace the node's change log? raise its change log or back up when quieter)`);
  }

  /**
   * One pass: page the units' items from their seqnos S0, then take their records up to
   * S1. Returns the units whose history the node no longer held (to read again).
   */
  private async pass(map: ClusterMap, nodeIndex: number, units: number[], pending: Set<number>): Promise<number[]> {
    const node = map.nodes[nodeIndex]!;
    const { bits, unitBits } = map;
    const shift = 2 ** (bits - unitBits);
    const snaps = new Map<number, UnitSnapshot>();
    let after: Uint8Array | null = null;
    for (;;) {
      const r = await this.send(map, node.address, backupPageRequest(after, units, bits, unitBits, this.options.pageItems));
      const extra = r.extra ?? {};
      if (snaps.size === 0) {
        const seqs = extra.seqs;
        if (!Array.isArray(seqs) || seqs.length !== units.length * 2) throw KvError.protocol(`${node.address} answered a backup page without the units' seqnos`);
        for (let i = 0; i < units.length; i++) {
          if (seqs[i * 2] !== units[i] || !isUint(seqs[i * 2 + 1])) throw KvError.protocol(`${node.address} answered seqnos for other units`);
          snaps.set(units[i]!, new UnitSnapshot(units[i]!, seqs[i * 2 + 1] as number));
        }
      }
      const flat = Array.isArray(r.value) ? r.value as unknown[] : null;
      if (flat === null || flat.length % 4 !== 0) throw KvError.protocol(`${node.address} answered a malformed backup page`);
      for (let i = 0; i < flat.length; i += 4) {
        const key = flat[i];
        const value = flat[i + 1];
        const flags = flat[i + 2];
        const expAt = flat[i + 3];
        if (!(key instanceof Uint8Array) || !(value instanceof Uint8Array) || !isUint(flags) || !isUint(expAt)) throw KvError.protocol(`${node.address} answered a malformed backup item`);
        const snap = snaps.get(Math.floor(bucketOf(key, bits) / shift));
        if (snap === undefined) throw KvError.protocol(`${node.address} answered an item of a unit not asked for`);
        snap.put(key, value, flags, expAt);
      }
      const next = extra.next;
      if (next === null || next === undefined) break;
      if (!(next instanceof Uint8Array)) throw KvError.protocol(`${node.address} answered a malformed resume key`);
      after = next;
    }
    // The records (S0, S1] of each unit, asked again for units an answer left out (size).
    const lost: number[] = [];
    let ask = units;
    while (ask.length > 0) {
      const r = await this.send(map, node.address, backupChangesRequest(ask, ask.map((u) => snaps.get(u)!.startSeq), bits, unitBits));
      const entries = Array.isArray(r.value) ? r.value as unknown[] : [];
      const answered = new Set<number>();
      for (const e of entries) {
        if (!Array.isArray(e) || !isUint(e[0]) || !snaps.has(e[0]) || answered.has(e[0])) throw KvError.protocol(`${node.address} answered malformed backup changes`);
        const unit = e[0];
        answered.add(unit);
        const snap = snaps.get(unit)!;
        if (e[1] === null || !isUint(e[1]) || e[1] < snap.startSeq || !Array.isArray(e[2])) {
          lost.push(unit);
          continue;
        }
        const recs = e[2] as unknown[];
        for (let i = 0; i + 3 < recs.length; i += 4) {
          const key = recs[i];
          const value = recs[i + 1];
          if (!(key instanceof Uint8Array) || !(value === null || value instanceof Uint8Array)) throw KvError.protocol(`${node.address} answered a malformed change record`);
          snap.apply(key, value, isUint(recs[i + 2]) ? recs[i + 2] as number : 0, isUint(recs[i + 3]) ? recs[i + 3] as number : 0);
        }
        this.finish(unit, unitBits, e[1], map.epoch, node.id, snap, pending);
      }
      if (answered.size === 0) throw KvError.protocol(`${node.address} answered no unit's changes`);
      ask = ask.filter((u) => !answered.has(u));
    }
    return lost;
  }

  private finish(unit: number, unitBits: number, seq: number, epoch: number, node: string, snap: UnitSnapshot, pending: Set<number>): void {
    if (!pending.has(unit)) return;
    const items = snap.sorted(Math.floor(Date.now() / 1000));
    this.sink.writeUnit(unit, unitBits, seq, epoch, node, items);
    pending.delete(unit);
    this.epochEnd = Math.max(this.epochEnd, epoch);
    this.progress.unitsDone++;
    this.progress.items += items.length;
    for (const it of items) this.progress.bytes += it.key.length + it.value.length;
    this.emit('progress', { ...this.progress });
  }

  private async send(map: ClusterMap, address: string, frame: unknown[]): Promise<Response> {
    frame[2] = map.epoch;
    const r = await this.request(address, frame, Date.now() + this.options.requestTimeoutMs);
    if (r.status === Status.OK) return r;
    const epoch = r.extra?.epoch;
    throw errorFromAnswer(r, { node: address, ...(isUint(epoch) ? { epoch } : {}) });
  }
}

/** Failures worth another round: the node busy, unreachable, or the request timed out. */
function isTransient(e: KvError): boolean {
  return e.code === ErrorCode.BUSY || e.code === ErrorCode.TIMEOUT || e.code === ErrorCode.CONNECTION_CLOSED
    || (e.code === ErrorCode.UNAVAILABLE && e.details.isSafeToRetry === true);
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
