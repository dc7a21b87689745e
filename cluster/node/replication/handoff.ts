import { KvError } from '../../../shared/errors.js';
import { chainOf, type ClusterMap } from '../../../shared/cluster-map.js';
import type { PeerPlane, PeerReply } from '../../peer/index.js';
import type { HintStore } from './hint-store.js';
import type { Hint } from './hint-log.js';
import { MESSAGE_BYTES, batches, isRecord, isUint, recordBytes, type ReplRecord, type ReplicationCounters } from './records.js';
import type { ReplicationOptions } from './options.js';
import { isAhead } from './failover-fence.js';

/**
 * Hinted handoff (DESIGN §7): a record that cannot reach a replica (link down or its
 * queue full, or sent but not acknowledged when the link went down) goes as a hint to a
 * fallback node — the next live node of the map outside the unit's chain, another zone
 * first — which keeps it in its {@link HintStore}. When the replica's link comes up, the
 * holder replays its hints in seqno order per unit; the receiver applies one only when
 * its own seqno of the unit is below the hint's, so a hint never overwrites newer data.
 * A hint whose replica no longer holds the unit goes to the unit's current chain instead.
 * Hints never count as acks for `majority` writes.
 */

/** What hinted handoff needs from the replicator it serves. */
export interface HandoffHost {
  /** Held hints reached every node they were for and were deleted (one call per replay pass that delivered some). */
  onHintsDelivered?(count: number, left: number): void;
  readonly map: ClusterMap | null;
  readonly self: number;
  /** Index in the current map of each node, by peer key. */
  readonly nodeIndexByKey: ReadonlyMap<string, number>;
  readonly isClosed: boolean;
  readonly counters: ReplicationCounters;
  isBackfilling(unit: number): boolean;
  seqOf(unit: number): number;
  /** The unit's seqno is now `seq`; `record` (the one at `seq`) extends its change history. */
  setSeq(unit: number, seq: number, record: ReplRecord): void;
  apply(key: string, value: Uint8Array | null, flags: number, expAt: number): void;
  backfill(source: string, units: number[]): void;
}

/** A replay target that is this node itself (the holder is now in the unit's chain). */
const SELF = '';
/** Answers to a hint replay, one per hint. */
const HINT_APPLIED = 0;
const HINT_STALE = 1;
const HINT_RETRY = 2;
type HintEntry = [intended: string, epoch: number, ...record: ReplRecord];

function isHintEntry(h: unknown): h is HintEntry {
  return Array.isArray(h) && h.length === 8 && typeof h[0] === 'string' && /^[0-9a-f]{64}$/.test(h[0]) && isUint(h[1]) && isRecord(h.slice(2));
}

export class HintedHandoff {
  /** Records sent to each replica and not yet acknowledged, per unit in seqno order: hinted if the link drops. */
  private readonly unacked = new Map<string, { units: Map<number, ReplRecord[]>; bytes: number }>();
  /** Highest hinted seqno applied past a gap, per unit (receiver side): older hints are stale. */
  private readonly hintHigh = new Map<number, number>();
  private isReplaying = false;
  private isReplayAgain = false;
  private replayTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly host: HandoffHost,
    private readonly plane: PeerPlane,
    private readonly hints: HintStore | null,
    private readonly options: Pick<ReplicationOptions, 'hintReplayBatch' | 'hintRetryMs' | 'maxUnackedBytesPerPeer'>,
  ) {
    this.syncHintCounters();
    if (hints !== null && hints.count > 0) this.scheduleReplay(options.hintRetryMs);
  }

  /** Deliver held hints now, if any (a peer came up, the map changed). */
  replayIfAny(): void {
    if (this.hints !== null && this.hints.count > 0) void this.replay();
  }

  /** `peer`'s link dropped: what was sent and not acknowledged may be lost with it, so it is hinted. */
  peerDown(peer: string): void {
    const sent = this.unacked.get(peer);
    this.unacked.delete(peer);
    if (sent === undefined || this.host.isClosed) return;
    const records: ReplRecord[] = [];
    // One by one: a unit may hold more unacknowledged records than a call may take arguments.
    for (const list of sent.units.values()) for (const r of list) records.push(r);
    if (records.length > 0) this.handOff(peer, records);
  }

  close(): void {
    if (this.replayTimer !== null) clearTimeout(this.replayTimer);
  }


  /** Records kept in `unacked`, all peers together. */
  get unackedRecords(): number {
    let n = 0;
    for (const sent of this.unacked.values()) for (const list of sent.units.values()) n += list.length;
    return n;
  }

  /** Keep what was sent to `peer` until it is acknowledged (only when hints are on). */
  track(peer: string, records: ReplRecord[]): void {
    if (this.hints === null) return;
    let sent = this.unacked.get(peer);
    if (sent === undefined) {
      sent = { units: new Map(), bytes: 0 };
      this.unacked.set(peer, sent);
    }
    for (const r of records) {
      // Beyond the bound a lost record is a gap the replica backfills.
      if (sent.bytes >= this.options.maxUnackedBytesPerPeer) break;
      let list = sent.units.get(r[0]);
      if (list === undefined) {
        list = [];
        sent.units.set(r[0], list);
      }
      list.push(r);
      sent.bytes += recordBytes(r);
    }
  }

  untrack(peer: string, unit: number, seq: number): void {
    const sent = this.unacked.get(peer);
    const list = sent?.units.get(unit);
    if (sent === undefined || list === undefined) return;
    let i = 0;
    while (i < list.length && list[i]![1] <= seq) sent.bytes -= recordBytes(list[i++]!);
    if (i === list.length) sent.units.delete(unit);
    else if (i > 0) list.splice(0, i);
  }

  /** `records` could not reach replica `peer`: send them as hints to a fallback node. */
  handOff(peer: string, records: ReplRecord[]): void {
    const map = this.host.map;
    if (this.hints === null || this.host.isClosed) return;
    if (map === null) {
      this.host.counters.hintsDropped += records.length;
      return;
    }
    const byFallback = new Map<string, ReplRecord[]>();
    const fallbackOfUnit = new Map<number, string | null>();
    for (const r of records) {
      let fallback = fallbackOfUnit.get(r[0]);
      if (fallback === undefined) {
        fallback = this.fallbackFor(map, peer, r[0]);
        fallbackOfUnit.set(r[0], fallback);
      }
      if (fallback === null) continue; // `peer` no longer holds the unit: nothing to hand off
      const list = byFallback.get(fallback) ?? [];
      list.push(r);
      byFallback.set(fallback, list);
    }
    for (const [fallback, list] of byFallback) void this.sendHints(fallback, peer, map.epoch, list);
  }

  /**
   * The fallback for hints meant for `intended` about `unit`: the next live node of the
   * map after it that is not in the unit's chain, another zone first; this node itself
   * when there is none. Null when `intended` is no longer in the unit's chain.
   */
  private fallbackFor(map: ClusterMap, intended: string, unit: number): string | null {
    const chain = chainOf(map, unit * 2 ** (map.bits - map.unitBits));
    const at = this.host.nodeIndexByKey.get(intended) ?? -1;
    if (at < 0 || !chain.includes(at)) return null;
    const zone = map.nodes[at]!.zone;
    let sameZone: string | null = null;
    for (let k = 1; k < map.nodes.length; k++) {
      const i = (at + k) % map.nodes.length;
      const node = map.nodes[i]!;
      if (i === this.host.self || chain.includes(i) || node.peerKey === null || node.state === 'failed' || node.state === 'leaving') continue;
      if (!this.plane.isUp(node.peerKey) || this.plane.isBusy(node.peerKey)) continue;
      if (node.zone !== zone || zone === '') return node.peerKey;
      sameZone ??= node.peerKey;
    }
    return sameZone ?? SELF;
  }

  private async sendHints(fallback: string, intended: string, epoch: number, records: ReplRecord[]): Promise<void> {
    const store = this.hints!;
    for (const batch of batches(records, MESSAGE_BYTES, 4096, recordBytes)) {
      let taken: boolean[] | null = null;
      if (fallback !== SELF) {
        try {
          const res = await this.plane.request(fallback, { t: 'hint', h: batch.map((r) => [intended, epoch, ...r]) }, 10_000) as { ok?: unknown };
          if (Array.isArray(res?.ok)) taken = res.ok.map((x) => x === true);
        } catch {
          // The fallback went away: keep them here instead.
        }
      }
      if (taken === null) {
        taken = await store.add(batch.map((record) => ({ intended, epoch, record }))).catch(() => batch.map(() => false));
        this.syncHintCounters();
        this.scheduleReplay(0);
      }
      for (let i = 0; i < batch.length; i++) {
        if (taken[i] === true) this.host.counters.hintsSent++;
        else this.host.counters.hintsDropped++;
      }
    }
  }

  // ---- hinted handoff: fallback (holder) side ----

  onHintStore(peer: string, raw: unknown, reply: PeerReply): void {
    const store = this.hints;
    if (store === null) {
      reply(KvError.unavailable('this node keeps no hints'));
      return;
    }
    if (!Array.isArray(raw) || !raw.every(isHintEntry)) {
      reply(KvError.badRequest(`malformed hints from peer ${peer.slice(0, 8)}`));
      return;
    }
    const entries = (raw as HintEntry[]).map(([intended, epoch, ...record]) => ({ intended, epoch, record: record as ReplRecord }));
    store.add(entries).then((taken) => {
      this.syncHintCounters();
      reply({ ok: taken });
      // The replica may be reachable from here (a full queue on the active, a partition).
      void this.replay();
    }, (err: Error) => {
      this.syncHintCounters();
      reply(KvError.unavailable(`hint log: ${err.message}`));
    });
  }

  scheduleReplay(ms: number): void {
    if (this.replayTimer !== null || this.host.isClosed || this.hints === null) return;
    this.replayTimer = setTimeout(() => {
      this.replayTimer = null;
      void this.replay();
    }, ms);
    this.replayTimer.unref();
  }

  /**
   * Deliver held hints to every target that is up, in seqno order per unit; delete the
   * ones every target took (applied, or already newer there). Runs one at a time; runs
   * again while hints are left.
   */
  async replay(): Promise<void> {
    const store = this.hints;
    if (store === null || this.host.isClosed) return;
    if (this.isReplaying) {
      this.isReplayAgain = true;
      return;
    }
    this.isReplaying = true;
    try {
      do {
        this.isReplayAgain = false;
        const expired = store.expire();
        this.host.counters.hintsExpired += expired;
        const map = this.host.map;
        if (map === null || this.host.self < 0) break;
        const byTarget = new Map<string, Hint[]>();
        for (const h of store.all()) {
          for (const t of this.targetsOf(map, h)) {
            if (h.done?.has(t) === true || (t !== SELF && !this.plane.isUp(t))) continue;
            const list = byTarget.get(t) ?? [];
            list.push(h);
            byTarget.set(t, list);
          }
        }
        for (const [target, list] of byTarget) {
          list.sort((a, b) => a.record[0] - b.record[0] || a.record[1] - b.record[1]);
          for (const batch of batches(list, MESSAGE_BYTES, this.options.hintReplayBatch, (h) => h.bytes)) {
            let statuses: unknown[];
            if (target === SELF) {
              statuses = this.applyHinted(batch.map((h) => h.record), batch.map((h) => h.epoch));
            } else {
              try {
                const res = await this.plane.request(target, { t: 'hrep', r: batch.map((h) => h.record), e: batch.map((h) => h.epoch) }, 10_000) as { s?: unknown };
                statuses = Array.isArray(res?.s) ? res.s : [];
              } catch {
                break; // the target went away; its peer-up replays again
              }
            }
            if (this.host.isClosed) return;
            for (let i = 0; i < batch.length; i++) {
              if (statuses[i] === HINT_APPLIED || statuses[i] === HINT_STALE) (batch[i]!.done ??= new Set()).add(target);
            }
          }
        }
        const now = this.host.map ?? map;
        const complete: Hint[] = [];
        for (const h of store.all()) {
          if (h.done === undefined) continue;
          const targets = this.targetsOf(now, h);
          if (targets.length > 0 && targets.every((t) => h.done!.has(t))) complete.push(h);
        }
        store.remove(complete);
        this.host.counters.hintsDelivered += complete.length;
        if (complete.length > 0) this.host.onHintsDelivered?.(complete.length, store.count);
        this.syncHintCounters();
      } while (this.isReplayAgain && !this.host.isClosed);
    } finally {
      this.isReplaying = false;
      this.syncHintCounters();
      if (store.count > 0) this.scheduleReplay(this.options.hintRetryMs);
    }
  }

  /**
   * Where a hint goes now: its intended node while that node is in the unit's chain;
   * otherwise the unit followed to every live node of its current chain ({@link SELF}
   * for this node).
   */
  private targetsOf(map: ClusterMap, h: Hint): string[] {
    const chain = chainOf(map, h.record[0] * 2 ** (map.bits - map.unitBits));
    const at = this.host.nodeIndexByKey.get(h.intended) ?? -1;
    if (at >= 0 && chain.includes(at) && map.nodes[at]!.state !== 'failed') return [at === this.host.self ? SELF : h.intended];
    const out: string[] = [];
    for (const i of chain) {
      const node = map.nodes[i];
      if (node === undefined || node.peerKey === null || node.state === 'failed') continue;
      out.push(i === this.host.self ? SELF : node.peerKey);
    }
    return out;
  }

  // ---- hinted handoff: receiver side ----

  /**
   * Apply hinted records, version-checked: one is applied only when this node's seqno of
   * its unit (or a hint already applied past a gap) is below the hint's. Answers per
   * record: applied, stale (this node has newer data), or retry (not a holder of the
   * unit in this node's map, or the unit is being backfilled).
   */
  applyHinted(raw: unknown, epochs: unknown = undefined): number[] {
    const out: number[] = [];
    if (!Array.isArray(raw)) return out;
    const map = this.host.map;
    const gapped = new Map<string, Set<number>>();
    const ownActive = new Map<number, boolean>();
    for (let i = 0; i < raw.length; i++) {
      const r: unknown = raw[i];
      if (map === null || this.host.self < 0 || !isRecord(r)) {
        out.push(HINT_RETRY);
        continue;
      }
      // A hint made under an older map may come from an active that was failed over since:
      // its seqnos belong to a history the unit's current one replaced (DESIGN §7). The
      // copy catches up by backfill instead.
      const epoch = Array.isArray(epochs) ? epochs[i] : undefined;
      if (!isUint(epoch) || epoch < map.epoch) {
        this.host.counters.hintsStale++;
        out.push(HINT_STALE);
        continue;
      }
      const [unit, seq, keyBytes, value, flags, expAt] = r;
      const chain = chainOf(map, unit * 2 ** (map.bits - map.unitBits));
      const at = chain.indexOf(this.host.self);
      // Made under a newer map than this node follows, which still names it the unit's
      // active: this node is behind (see `isAhead`); it takes the hint once it has adopted
      // that map and checked its history of the unit.
      if (isAhead(map, this.host.self, unit, epoch, ownActive)) {
        this.host.counters.aheadRefused++;
        out.push(HINT_RETRY);
        continue;
      }
      if (at < 0 || this.host.isBackfilling(unit)) {
        out.push(HINT_RETRY);
        continue;
      }
      const last = this.host.seqOf(unit);
      const high = Math.max(last, this.hintHigh.get(unit) ?? 0);
      if (seq <= high) {
        this.host.counters.hintsStale++;
        out.push(HINT_STALE);
        continue;
      }
      this.host.apply(Buffer.from(keyBytes).toString('latin1'), value, flags, expAt);
      this.host.counters.hintsApplied++;
      out.push(HINT_APPLIED);
      if (at === 0 || (seq === last + 1 && high === last)) {
        this.host.setSeq(unit, seq, r);
        continue;
      }
      // Records before this one are missing (lost in flight, or their hints expired):
      // keep the unit's seqno so the gap stays visible, and backfill it from the active.
      this.hintHigh.set(unit, seq);
      const source = map.nodes[chain[0]!]?.peerKey ?? null;
      if (source !== null && this.plane.isUp(source)) {
        const units = gapped.get(source) ?? new Set();
        units.add(unit);
        gapped.set(source, units);
      }
    }
    for (const [source, units] of gapped) {
      this.host.counters.gaps += units.size;
      this.host.backfill(source, [...units]);
    }
    return out;
  }

  private syncHintCounters(): void {
    this.host.counters.hintsStored = this.hints?.count ?? 0;
    this.host.counters.hintBytes = this.hints?.bytes ?? 0;
  }
}
