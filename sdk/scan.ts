import { KvError, errorFromStatus } from '../shared/errors.js';
import { Status } from '../shared/status.js';
import { Op } from '../shared/protocol/ops.js';
import type { Response } from '../shared/protocol/frames.js';
import { binaryToWire, bytesToBinary, binaryToUtf8, binaryToBytes, utf8ToBinary } from '../shared/protocol/binary-key.js';

export interface ScanOptions {
  /** First key (inclusive). @default the smallest key */
  start?: string | Uint8Array;
  /** End key (exclusive). @default no end */
  end?: string | Uint8Array;
  /** Most entries to return in total. @default unlimited */
  limit?: number;
  /** Entries fetched per node per round trip. @default 256 */
  pageSize?: number;
  /** Deadline of each page fetch in ms. */
  timeoutMs?: number;
}

export interface ScanEntry<V> {
  /** The key decoded as UTF-8. */
  key: string;
  /** The key's raw bytes. */
  keyBytes: Uint8Array;
  value: V;
  flags: number;
  cas: bigint;
}

export interface ScanTransport<V> {
  send(frame: unknown[], address: string, deadline: number): Promise<Response>;
  decode(bytes: Uint8Array): V;
  timeoutMs: number;
}

interface Head {
  key: string;
  value: Uint8Array;
  flags: number;
  cas: number;
}

/** One node's ordered page stream. */
class NodeStream {
  buffer: Head[] = [];
  index = 0;
  next: string | null;
  isDone = false;

  constructor(readonly address: string, start: string) {
    this.next = start;
  }

  get head(): Head | undefined {
    return this.buffer[this.index];
  }
}

function toBinary(key: string | Uint8Array): string {
  return typeof key === 'string' ? utf8ToBinary(key) : bytesToBinary(key);
}

function wireToBinary(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return bytesToBinary(v);
  throw KvError.protocol('scan answer has a key that is not a string');
}

/**
 * An ordered scan over several nodes: each node streams its keys in order, page by
 * page, and the iterator merges the streams (k-way) so keys come out in byte order.
 * A node is asked for its next page only when its buffer is empty (backpressure).
 */
export class ScanIterator<V> implements AsyncIterableIterator<ScanEntry<V>> {
  private readonly streams: NodeStream[];
  private readonly end: string | null;
  private readonly pageSize: number;
  private remaining: number;
  /** Raw bytes of the last key returned; resume after it with `start: lastKey + '\0'`. */
  lastKey: Uint8Array | null = null;

  constructor(addresses: string[], opts: ScanOptions, private readonly transport: ScanTransport<V>) {
    const start = opts.start === undefined || opts.start.length === 0 ? '\0' : toBinary(opts.start);
    this.end = opts.end === undefined ? null : toBinary(opts.end);
    this.pageSize = opts.pageSize ?? 256;
    this.remaining = opts.limit ?? Number.POSITIVE_INFINITY;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1) throw KvError.invalidArgument('pageSize must be a positive integer');
    if (!(this.remaining >= 0)) throw KvError.invalidArgument('limit must be a non-negative number');
    this.streams = addresses.map((a) => new NodeStream(a, start));
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ScanEntry<V>> {
    return this;
  }

  async next(): Promise<IteratorResult<ScanEntry<V>>> {
    if (this.remaining <= 0) return { done: true, value: undefined };
    await Promise.all(this.streams.filter((s) => s.head === undefined && !s.isDone).map((s) => this.fetch(s)));
    let best: NodeStream | null = null;
    for (const s of this.streams) {
      const h = s.head;
      if (h !== undefined && (best === null || h.key < best.head!.key)) best = s;
    }
    if (best === null) return { done: true, value: undefined };
    const h = best.head!;
    best.index++;
    this.remaining--;
    const keyBytes = binaryToBytes(h.key);
    this.lastKey = keyBytes;
    return { done: false, value: { key: binaryToUtf8(h.key), keyBytes, value: this.transport.decode(h.value), flags: h.flags, cas: BigInt(h.cas) } };
  }

  async return(): Promise<IteratorResult<ScanEntry<V>>> {
    this.remaining = 0;
    return { done: true, value: undefined };
  }

  private async fetch(s: NodeStream): Promise<void> {
    while (s.head === undefined && !s.isDone) {
      if (s.next === null) {
        s.isDone = true;
        return;
      }
      const extra: Record<string, unknown> = { limit: Math.min(this.pageSize, this.remaining) };
      if (this.end !== null) extra.end = binaryToWire(this.end);
      const frame = [0, Op.SCAN, 0, binaryToWire(s.next), null, 0, 0, 0, extra];
      const r = await this.transport.send(frame, s.address, Date.now() + this.transport.timeoutMs);
      if (r.status !== Status.OK) {
        throw errorFromStatus(r.status, typeof r.extra?.message === 'string' ? r.extra.message : undefined, { node: s.address });
      }
      const flat = r.value;
      if (!Array.isArray(flat) || flat.length % 4 !== 0) throw KvError.protocol('malformed scan page');
      const page: Head[] = [];
      for (let i = 0; i < flat.length; i += 4) {
        const value = flat[i + 1];
        if (!(value instanceof Uint8Array)) throw KvError.protocol('scan entry without a byte value');
        page.push({ key: wireToBinary(flat[i]), value, flags: Number(flat[i + 2]) || 0, cas: Number(flat[i + 3]) || 0 });
      }
      s.buffer = page;
      s.index = 0;
      const next = r.extra?.next;
      s.next = next === null || next === undefined ? null : wireToBinary(next);
    }
  }
}
