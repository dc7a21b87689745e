import { EventEmitter } from 'eventemitter3';
import type { IDuplexStream, IEvent, IWatchRequest, IWatchResponse } from 'etcd3';
import { KvError } from '../../../shared/errors.js';
import type { CfgEvent, CfgSnapshot, CfgWatch, CfgWatchEvents } from './cfg.js';
import { fromEtcdError, prefixRange, toEntry, toRev } from './etcd-util.js';

/** One gRPC watch stream. */
export type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

/** What the etcd backend provides to its watches. */
export interface EtcdWatchHost {
  openWatchStream(): Promise<WatchStream>;
  list(prefix: string): Promise<CfgSnapshot>;
  onWatchClosed(watch: EtcdWatch): void;
}

/** Retry delays of a broken stream. */
export interface WatchRetry {
  minMs: number;
  maxMs: number;
}

/**
 * A watch on its own etcd watch stream, starting at `fromRev + 1`. A broken stream is
 * reopened (with backoff) from the revision after the last one delivered. When etcd
 * cancels the watch because that revision was compacted, the watch lists the prefix,
 * emits 'reset' and goes on from the listing's revision: it never silently skips history.
 */
export class EtcdWatch extends EventEmitter<CfgWatchEvents> implements CfgWatch {
  private stream: WatchStream | null = null;
  private deliveredRev: number;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private isClosed = false;

  constructor(private readonly host: EtcdWatchHost, readonly prefix: string, fromRev: number, private readonly retry: WatchRetry) {
    super();
    this.deliveredRev = fromRev;
  }

  get rev(): number {
    return this.deliveredRev;
  }

  /** Open the first stream. */
  start(): void {
    void this.open();
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.dropStream();
    this.host.onWatchClosed(this);
  }

  private async open(): Promise<void> {
    this.retryTimer = null;
    let stream: WatchStream;
    try {
      stream = await this.host.openWatchStream();
    } catch (err) {
      this.scheduleRetry(fromEtcdError(err, 'opening a watch'));
      return;
    }
    if (this.isClosed) {
      stream.on('error', ignore);
      stream.cancel();
      return;
    }
    this.stream = stream;
    const range = prefixRange(this.prefix);
    stream
      .on('data', (res: IWatchResponse) => this.onData(stream, res))
      .on('error', (err: Error) => this.onBroken(stream, fromEtcdError(err, 'watch stream')))
      .on('end', () => this.onBroken(stream, KvError.unavailable('etcd ended the watch stream')));
    stream.write({ create_request: { key: range.key, range_end: range.rangeEnd, start_revision: this.deliveredRev + 1 } });
  }

  private onData(stream: WatchStream, res: IWatchResponse): void {
    if (stream !== this.stream || this.isClosed) return;
    if (res.canceled) {
      this.dropStream();
      if (toRev(res.compact_revision) > 0) void this.resetFromListing();
      else this.fail(KvError.unavailable(`etcd canceled the watch on ${JSON.stringify(this.prefix)}: ${res.cancel_reason || 'no reason given'}`));
      return;
    }
    if (res.created) {
      this.attempt = 0;
      return;
    }
    for (const event of res.events) {
      if (this.isClosed || stream !== this.stream) return;
      const converted = toCfgEvent(event);
      this.deliveredRev = converted.type === 'put' ? converted.entry.modRev : converted.modRev;
      this.emit('event', converted);
    }
  }

  /** The history we need is compacted: re-list, tell the listener, watch on from there. */
  private async resetFromListing(): Promise<void> {
    let snapshot: CfgSnapshot;
    try {
      snapshot = await this.host.list(this.prefix);
    } catch (err) {
      // Reopening from the same revision meets the compaction again and retries the listing.
      this.scheduleRetry(fromEtcdError(err, 'listing after compaction'));
      return;
    }
    if (this.isClosed) return;
    this.deliveredRev = snapshot.rev;
    this.emit('reset', snapshot);
    if (!this.isClosed) void this.open();
  }

  private onBroken(stream: WatchStream, err: KvError): void {
    if (stream !== this.stream || this.isClosed) return;
    this.dropStream();
    this.scheduleRetry(err);
  }

  private scheduleRetry(err: KvError): void {
    if (this.isClosed) return;
    this.emit('disconnected', err);
    const base = Math.min(this.retry.maxMs, this.retry.minMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    this.retryTimer = setTimeout(this.onRetryTimer, base / 2 + Math.random() * (base / 2));
  }

  private readonly onRetryTimer = (): void => {
    void this.open();
  };

  private dropStream(): void {
    const stream = this.stream;
    this.stream = null;
    if (stream === null) return;
    // Cancelling makes the stream report CANCELLED; our listeners ignore a stream that is no longer current.
    stream.cancel();
  }

  private fail(err: Error): void {
    void this.close();
    this.emit('error', err);
  }
}

function toCfgEvent(event: IEvent): CfgEvent {
  const entry = toEntry(event.kv);
  // The proto loader spells enums by their proto names (PUT, DELETE).
  if (String(event.type).toUpperCase() === 'DELETE') {
    return { type: 'delete', key: entry.key, modRev: entry.modRev };
  }
  return { type: 'put', entry };
}

function ignore(): void {
  // A stream opened after close(): its cancellation error is expected.
}
