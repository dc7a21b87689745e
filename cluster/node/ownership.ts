import { bucketOfBinary } from '../../shared/keystream.js';
import { activeRanges, chainOf, unheldRanges, type ClusterMap } from '../../shared/cluster-map.js';
import type { OwnershipLease } from './lease.js';
import { WaitList } from './wait-list.js';

/**
 * Which buckets this node serves, and at which epoch. A node without a manager owns
 * every bucket at epoch 0. A request is executed only when the node is the active
 * owner of its bucket and the request carries the node's epoch: an older epoch means
 * the client's map is stale, a newer one that the node's is.
 */
export class Ownership {
  epoch = 0;
  bits: number;
  private ranges: Array<[number, number]> | null = null;
  private map: ClusterMap | null = null;
  private self = -1;
  /** Requests waiting for this node to adopt a map of at least their epoch. */
  private readonly waiters: WaitList<number>;
  /**
   * Units this node is the active of in its map but does not serve yet: the previous active
   * has not handed them over (replication/takeover.ts). Left out of `ranges`.
   */
  private held: ReadonlySet<number> = new Set();
  /** Requests waiting for their held unit to be handed over. */
  private readonly heldWaiters: WaitList<number>;

  /**
   * @param isManaged a managed node owns nothing until its first map arrives
   * @param maxWaiters requests that may wait for a newer map at once (see `whenEpoch`)
   */
  /** The lease the node serves its units under (DESIGN §4); null = never fenced. */
  lease: OwnershipLease | null = null;

  constructor(bits: number, private readonly isManaged = false, maxWaiters = 65_536) {
    this.bits = bits;
    this.waiters = new WaitList(maxWaiters);
    this.heldWaiters = new WaitList(maxWaiters);
    if (isManaged) this.ranges = [];
  }

  /** Adopt the ranges this node is active for in `map`. */
  applyMap(map: ClusterMap, nodeIndex: number): void {
    this.epoch = map.epoch;
    this.bits = map.bits;
    this.map = map;
    this.self = nodeIndex;
    this.ranges = this.servedRanges();
    if (this.waiters.size > 0) this.waiters.release((epoch) => epoch <= map.epoch);
  }

  /**
   * A client sent a newer epoch than this node's: the map that carries it is on its way
   * here too. Resolves once the node adopts a map of at least `epoch`, or after `ms`;
   * null when the node follows no manager or too many requests wait already (the caller
   * answers NOT_MY_BUCKET). Waiters resolve in arrival order.
   */
  whenEpoch(epoch: number, ms: number): Promise<void> | null {
    if (!this.isManaged || epoch <= this.epoch) return null;
    return this.waiters.add(epoch, ms);
  }

  /** Release every waiting request (shutdown). */
  releaseWaiters(): void {
    this.waiters.release();
    this.heldWaiters.release();
  }

  /** Serve none of `units` (of the current map's units), though this node is their active, until a later call leaves them out. */
  hold(units: ReadonlySet<number>): void {
    this.held = new Set(units);
    if (this.map !== null) this.ranges = this.servedRanges();
    if (this.heldWaiters.size > 0) this.heldWaiters.release((unit) => !this.held.has(unit));
  }

  /**
   * The unit of `key` is held (its previous active has not handed it over): resolves once
   * it is released, or after `ms`; null when it is not held or too many requests wait.
   */
  whenServed(key: string, ms: number): Promise<void> | null {
    const map = this.map;
    if (this.held.size === 0 || map === null) return null;
    const unit = Math.floor(bucketOfBinary(key, map.bits) / 2 ** (map.bits - map.unitBits));
    if (!this.held.has(unit)) return null;
    return this.heldWaiters.add(unit, ms);
  }

  /** The ranges this node is the active of in its map, without the units held. */
  private servedRanges(): Array<[number, number]> {
    const map = this.map!;
    if (this.self < 0) return [];
    const ranges = activeRanges(map, this.self);
    if (this.held.size === 0) return ranges;
    const per = 2 ** (map.bits - map.unitBits);
    const out: Array<[number, number]> = [];
    for (const [start, end] of ranges) {
      let from = start;
      for (let u = Math.floor(start / per); u * per < end; u++) {
        if (!this.held.has(u)) continue;
        if (u * per > from) out.push([from, u * per]);
        from = Math.max(from, (u + 1) * per);
      }
      if (from < end) out.push([from, end]);
    }
    return out;
  }

  /** True when the node holds a copy (active or replica) of the bucket of `key`. */
  holdsKey(key: string): boolean {
    const map = this.map;
    if (map === null) return this.ranges === null;
    return this.self >= 0 && chainOf(map, bucketOfBinary(key, map.bits)).includes(this.self);
  }

  /**
   * Ranges of a grid of 2^`gridBits` buckets holding every bucket of which this node holds
   * no copy (the keys `holdsKey` refuses), merged; cells only partly unheld are included.
   */
  unheldRanges(gridBits: number): Array<[number, number]> {
    const map = this.map;
    if (map === null) return this.ranges === null ? [] : [[0, 2 ** gridBits]];
    return unheldRanges(map, this.self, gridBits);
  }

  /** False while the node cannot prove its lease: it then executes nothing for its units. */
  isServing(): boolean {
    return this.lease === null || this.lease.isValid(this.epoch);
  }

  /** Copies the map keeps of the bucket of `key` (1 without a map). */
  copiesOf(key: string): number {
    const map = this.map;
    return map === null ? 1 : chainOf(map, bucketOfBinary(key, map.bits)).length;
  }

  /** The bucket ranges `[start, end)` at `bits` this node is active for; null when it owns every bucket. */
  activeRanges(): ReadonlyArray<readonly [number, number]> | null {
    return this.ranges;
  }

  get ownsEverything(): boolean {
    return this.ranges === null;
  }

  /** True when the node is the active owner of the bucket of `key` (a binary string). */
  ownsKey(key: string): boolean {
    return this.ranges === null || this.ownsBucket(bucketOfBinary(key, this.bits));
  }

  /** True when the node is the active owner of `bucket` (at `bits`). */
  ownsBucket(bucket: number): boolean {
    const ranges = this.ranges;
    if (ranges === null) return true;
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = ranges[mid]!;
      if (bucket < r[0]) hi = mid - 1;
      else if (bucket >= r[1]) lo = mid + 1;
      else return true;
    }
    return false;
  }
}
