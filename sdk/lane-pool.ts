import { EventEmitter } from 'eventemitter3';
import { KvError, ErrorCode } from '../shared/errors.js';
import { Lane } from './lane.js';
import type { LaneOptions } from './lane-contract.js';
import { backoffDelay } from './backoff.js';

export interface LanePoolEvents {
  'node-down': (address: string, err: KvError | null) => void;
  'node-up': (address: string) => void;
}

interface Slot {
  lanes: Array<Lane | null>;
  next: number;
  failures: number;
  retryAt: number;
  isDown: boolean;
}

/** Hook run on every new lane before it carries requests (the proxy authenticates here). */
export type LaneSetup = (lane: Lane) => Promise<void>;

/**
 * Lanes to every node: `lanesPerNode` each (the SDK uses 1, the proxy 2), opened on first
 * use or up front with `warm()`, and re-opened after a failure no sooner than the backoff
 * allows (until then requests fail fast with a retryable UNAVAILABLE).
 */
export class LanePool extends EventEmitter<LanePoolEvents> {
  private readonly slots = new Map<string, Slot>();
  private isClosed = false;

  constructor(
    private readonly options: LaneOptions,
    private readonly backoffMs: readonly number[],
    private readonly lanesPerNode = 1,
  ) {
    super();
  }

  /** A lane to `address`, round-robin over its lanes. @throws KvError UNAVAILABLE during backoff */
  get(address: string): Lane {
    if (this.isClosed) throw KvError.clientClosed();
    const slot = this.slot(address);
    const n = slot.lanes.length;
    for (let i = 0; i < n; i++) {
      const at = (slot.next + i) % n;
      const lane = slot.lanes[at];
      if (lane != null && !lane.isClosed) {
        slot.next = at + 1;
        if (lane.isOpen || i === n - 1) return lane;
      }
    }
    if (slot.retryAt > Date.now()) {
      throw KvError.unavailable(`node ${address} is down; next connection attempt in ${slot.retryAt - Date.now()} ms`, { node: address, isSafeToRetry: true });
    }
    for (let i = 0; i < n; i++) if (slot.lanes[i] == null || slot.lanes[i]!.isClosed) this.open(address, slot, i);
    return slot.lanes[slot.next++ % n]!;
  }

  /** Open every lane to `address` and resolve when all are open, or reject at the deadline. */
  async warm(address: string, deadlineMs: number): Promise<void> {
    const slot = this.slot(address);
    for (let i = 0; i < slot.lanes.length; i++) if (slot.lanes[i] == null || slot.lanes[i]!.isClosed) this.open(address, slot, i);
    await Promise.all(slot.lanes.map((lane) => lane!.whenOpen(deadlineMs)));
  }

  /** True when every lane to `address` is open. */
  isWarm(address: string): boolean {
    const slot = this.slots.get(address);
    return slot !== undefined && slot.lanes.every((l) => l !== null && l.isOpen);
  }

  /** Addresses with lanes now. */
  addresses(): string[] {
    return [...this.slots.keys()];
  }

  /** Drain and close lanes to nodes not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const [address, slot] of this.slots) {
      if (keep.has(address)) continue;
      this.slots.delete(address);
      for (const lane of slot.lanes) void lane?.close();
    }
  }

  async close(): Promise<void> {
    this.isClosed = true;
    const lanes = [...this.slots.values()].flatMap((s) => s.lanes);
    this.slots.clear();
    await Promise.all(lanes.map((l) => l?.close()));
  }

  destroy(err: KvError): void {
    this.isClosed = true;
    for (const slot of this.slots.values()) for (const lane of slot.lanes) lane?.destroy(err);
    this.slots.clear();
  }

  private slot(address: string): Slot {
    let slot = this.slots.get(address);
    if (slot === undefined) {
      slot = { lanes: new Array<Lane | null>(this.lanesPerNode).fill(null), next: 0, failures: 0, retryAt: 0, isDown: false };
      this.slots.set(address, slot);
    }
    return slot;
  }

  private open(address: string, slot: Slot, index: number): Lane {
    const lane = new Lane(address, this.options);
    slot.lanes[index] = lane;
    lane.on('open', () => this.onLaneOpen(address, slot));
    lane.on('close', (err) => this.onLaneClose(address, slot, lane, index, err));
    return lane;
  }

  private onLaneOpen(address: string, slot: Slot): void {
    slot.failures = 0;
    slot.retryAt = 0;
    if (slot.isDown) {
      slot.isDown = false;
      this.emit('node-up', address);
    }
  }

  private onLaneClose(address: string, slot: Slot, lane: Lane, index: number, err: KvError | null): void {
    if (slot.lanes[index] === lane) slot.lanes[index] = null;
    if (this.isClosed || err === null || err.code === ErrorCode.CLIENT_CLOSED) return;
    slot.failures++;
    slot.retryAt = Date.now() + backoffDelay(this.backoffMs, slot.failures - 1);
    if (!slot.isDown) {
      slot.isDown = true;
      this.emit('node-down', address, err);
    }
  }
}
