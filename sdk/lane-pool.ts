import { EventEmitter } from 'eventemitter3';
import { KvError } from '../shared/errors.js';
import { Lane, type LaneOptions } from './lane.js';
import { backoffDelay } from './backoff.js';

export interface LanePoolEvents {
  'node-down': (address: string, err: KvError | null) => void;
  'node-up': (address: string) => void;
}

interface Health {
  failures: number;
  retryAt: number;
  isDown: boolean;
}

/**
 * One lane per node, opened on first use and re-opened after a failure no sooner than
 * the backoff allows (until then requests fail fast with a retryable UNAVAILABLE).
 */
export class LanePool extends EventEmitter<LanePoolEvents> {
  private readonly lanes = new Map<string, Lane>();
  private readonly health = new Map<string, Health>();
  private isClosed = false;

  constructor(private readonly options: LaneOptions, private readonly backoffMs: readonly number[]) {
    super();
  }

  /** The lane to `address`, opening one if needed. @throws KvError UNAVAILABLE during backoff */
  get(address: string): Lane {
    const lane = this.lanes.get(address);
    if (lane !== undefined && !lane.isClosed) return lane;
    if (this.isClosed) throw KvError.clientClosed();
    const h = this.health.get(address);
    if (h !== undefined && h.retryAt > Date.now()) {
      throw KvError.unavailable(`node ${address} is down; next connection attempt in ${h.retryAt - Date.now()} ms`, { node: address, isSafeToRetry: true });
    }
    return this.open(address);
  }

  /** Addresses with a lane now. */
  addresses(): string[] {
    return [...this.lanes.keys()];
  }

  /** Close lanes to nodes not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const [address, lane] of this.lanes) {
      if (!keep.has(address)) {
        this.lanes.delete(address);
        this.health.delete(address);
        void lane.close();
      }
    }
  }

  async close(): Promise<void> {
    this.isClosed = true;
    const lanes = [...this.lanes.values()];
    this.lanes.clear();
    await Promise.all(lanes.map((l) => l.close()));
  }

  destroy(err: KvError): void {
    this.isClosed = true;
    for (const lane of this.lanes.values()) lane.destroy(err);
    this.lanes.clear();
  }

  private open(address: string): Lane {
    const lane = new Lane(address, this.options);
    this.lanes.set(address, lane);
    lane.on('open', () => this.onLaneOpen(address));
    lane.on('close', (err) => this.onLaneClose(address, lane, err));
    return lane;
  }

  private onLaneOpen(address: string): void {
    const h = this.health.get(address);
    if (h === undefined) return;
    this.health.delete(address);
    if (h.isDown) this.emit('node-up', address);
  }

  private onLaneClose(address: string, lane: Lane, err: KvError | null): void {
    if (this.lanes.get(address) === lane) this.lanes.delete(address);
    if (this.isClosed || err === null || err.code === 'KV_ERR_CLIENT_CLOSED') return;
    const h = this.health.get(address) ?? { failures: 0, retryAt: 0, isDown: false };
    h.failures++;
    h.retryAt = Date.now() + backoffDelay(this.backoffMs, h.failures - 1);
    const wasDown = h.isDown;
    h.isDown = true;
    this.health.set(address, h);
    if (!wasDown) this.emit('node-down', address, err);
  }
}
