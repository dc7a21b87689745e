import { KvError } from '../../../shared/errors.js';
import { chainOf, unitOf, type ClusterMap } from '../../../shared/cluster-map.js';
import { isUint } from './records.js';

/**
 * Why a `majority` write of `bucket` cannot be met now by this node (`self`), active of
 * the bucket: too few of its replicas are in the map and reachable (`isUp`). Null when it
 * can, or when this node is not the bucket's active (the write is refused elsewhere).
 */
export function majorityShortfall(map: ClusterMap, bucket: number, self: number, isUp: (peer: string) => boolean): string | null {
  const chain = chainOf(map, bucket);
  if (chain[0] !== self) return null;
  const need = Math.floor(chain.length / 2);
  if (need === 0) return null;
  let reachable = 0;
  for (let i = 1; i < chain.length; i++) {
    const node = map.nodes[chain[i]!];
    if (node !== undefined && node.peerKey !== null && node.state !== 'failed' && isUp(node.peerKey)) reachable++;
  }
  return reachable >= need ? null : `majority needs ${need} replica(s) of unit ${unitOf(map, bucket)}; ${reachable} reachable`;
}

interface Waiter {
  unit: number;
  seq: number;
  /** The active's map epoch when it made the write. */
  epoch: number;
  /** Peers whose acknowledgement was counted. */
  counted: Set<string>;
  /** Replica acks still needed. */
  need: number;
  peers: readonly string[];
  resolve: () => void;
  reject: (err: KvError) => void;
  timer: NodeJS.Timeout;
}

/**
 * `majority` writes waiting for their replicas: the highest seqno each replica
 * acknowledged per unit, and the writes still short of acknowledgements. An ack counts
 * only from a copy that had seen the write's epoch (a copy behind it re-acknowledges once
 * it adopts the map).
 */
export class MajorityWaits {
  /** Highest seqno each replica acknowledged, per peer and unit. */
  private readonly acked = new Map<string, Map<number, number>>();
  private waiters: Waiter[] = [];

  /**
   * Resolves once `need` of `peers` acknowledged `seq` of `unit` at epoch `epoch` or later;
   * rejects with TIMEOUT after `timeoutMs` (`onTimeout` is told first).
   */
  wait(unit: number, seq: number, epoch: number, need: number, peers: readonly string[], timeoutMs: number, onTimeout: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        unit, seq, epoch, counted: new Set(), need, peers, resolve, reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          onTimeout();
          reject(KvError.timeout(`replicas of unit ${unit} did not acknowledge within ${timeoutMs} ms`, { isSafeToRetry: false }));
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /**
   * Acknowledgements `[unit, seqno, …]` from `peer` at its map epoch `ackEpoch`; `each` is
   * told of every valid pair. Stops at the first malformed pair.
   */
  onAcks(peer: string, flat: readonly unknown[], ackEpoch: number, each: (unit: number, seq: number) => void): void {
    let mine = this.acked.get(peer);
    if (mine === undefined) {
      mine = new Map();
      this.acked.set(peer, mine);
    }
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const unit = flat[i];
      const seq = flat[i + 1];
      if (!isUint(unit) || !isUint(seq)) return;
      if (seq > (mine.get(unit) ?? 0)) mine.set(unit, seq);
      each(unit, seq);
    }
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if ((mine.get(w.unit) ?? 0) >= w.seq && ackEpoch >= w.epoch && w.peers.includes(peer) && !w.counted.has(peer)) {
        w.counted.add(peer);
        w.need--;
      }
      if (w.need <= 0) {
        clearTimeout(w.timer);
        w.resolve();
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
  }

  /** The link to `peer` went down: what it acknowledged is forgotten. */
  peerDown(peer: string): void {
    this.acked.delete(peer);
  }

  /** Every waiting write fails with `err`. */
  close(err: KvError): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters = [];
  }
}
