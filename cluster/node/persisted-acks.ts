import { KvError } from '../../shared/errors.js';
import type { KvEngine } from './engine/types.js';
import { isUint } from './replication/records.js';

interface PersistWaiter {
  unit: number;
  seq: number;
  need: number;
  peers: string[];
  resolve: () => void;
  reject: (err: KvError) => void;
  timer: NodeJS.Timeout;
}

/**
 * `persistMajority` (DESIGN §7): a write is answered once a majority of its chain has it
 * on disk. Replicas on a disk engine send, after the commit that holds the records they
 * acknowledged, a second ack `{ t: 'ack', a: [], p: [unit, seq, …] }` with the seqnos now
 * on their disk; the active counts those per unit. The active's own fsync is awaited by
 * the executor (`engine.whenDurable`). A replica on a memory engine never sends `p`, so a
 * persistMajority write it would be needed for times out.
 */
export class PersistedAcks {
  /** Seqno each replica has on disk, per peer and unit. */
  private readonly onDisk = new Map<string, Map<number, number>>();
  private waiters: PersistWaiter[] = [];
  /** Replica side: seqnos acknowledged and not yet reported as on disk, per peer. */
  private toReport = new Map<string, Map<number, number>>();
  private isReportScheduled = false;
  /** A record gathered for the next report came from a persistMajority write: its active waits. */
  private isUrgent = false;
  private isClosed = false;

  constructor(private readonly engine: KvEngine, private readonly send: (peer: string, flat: number[]) => boolean) {}

  /**
   * Replica side: report these seqnos to `peer` once the engine has them on disk.
   * `isUrgent`: the active waits for them (persistMajority), so the commit starts now;
   * otherwise the report follows the engine's usual commits, which costs no fsync of its own.
   */
  reportWhenDurable(peer: string, acks: ReadonlyMap<number, number>, isUrgent = false): void {
    if (isUrgent) this.isUrgent = true;
    let mine = this.toReport.get(peer);
    if (mine === undefined) {
      mine = new Map();
      this.toReport.set(peer, mine);
    }
    for (const [unit, seq] of acks) if (seq > (mine.get(unit) ?? 0)) mine.set(unit, seq);
    if (this.isReportScheduled) return;
    this.isReportScheduled = true;
    queueMicrotask(this.startReport);
  }

  private readonly startReport = (): void => {
    this.isReportScheduled = false;
    // Everything gathered so far is covered by the commit whenDurable waits for.
    const batch = this.toReport;
    const isUrgent = this.isUrgent;
    this.toReport = new Map();
    this.isUrgent = false;
    this.engine.whenDurable(isUrgent).then(() => {
      if (this.isClosed) return;
      for (const [peer, units] of batch) {
        const flat: number[] = [];
        for (const [unit, seq] of units) flat.push(unit, seq);
        this.send(peer, flat);
      }
    }, noop);
  };

  /** Active side: a replica's `p` field. */
  onAcks(peer: string, raw: unknown): void {
    if (!Array.isArray(raw) || raw.length === 0) return;
    let mine = this.onDisk.get(peer);
    if (mine === undefined) {
      mine = new Map();
      this.onDisk.set(peer, mine);
    }
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const unit = raw[i];
      const seq = raw[i + 1];
      if (!isUint(unit) || !isUint(seq)) return;
      if (seq > (mine.get(unit) ?? 0)) mine.set(unit, seq);
    }
    if (this.waiters.length === 0) return;
    const still: PersistWaiter[] = [];
    for (const w of this.waiters) {
      if (this.count(w) >= w.need) {
        clearTimeout(w.timer);
        w.resolve();
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
  }

  /** Active side: resolves once `need` of `peers` have `unit` at `seq` or later on disk. */
  wait(unit: number, seq: number, need: number, peers: string[], timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w: PersistWaiter = {
        unit, seq, need, peers, resolve, reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(KvError.timeout(`replicas of unit ${unit} did not report it on disk within ${timeoutMs} ms`, { isSafeToRetry: false }));
        }, timeoutMs),
      };
      if (this.count(w) >= need) {
        clearTimeout(w.timer);
        resolve();
        return;
      }
      this.waiters.push(w);
    });
  }

  peerDown(peer: string): void {
    this.onDisk.delete(peer);
  }

  close(): void {
    this.isClosed = true;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(KvError.unavailable('node shutting down'));
    }
    this.waiters = [];
  }

  private count(w: PersistWaiter): number {
    let n = 0;
    for (const peer of w.peers) if ((this.onDisk.get(peer)?.get(w.unit) ?? 0) >= w.seq) n++;
    return n;
  }
}

function noop(): void {}
