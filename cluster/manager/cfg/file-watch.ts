import { EventEmitter } from 'eventemitter3';
import type { CfgEvent, CfgSnapshot, CfgWatch, CfgWatchEvents } from './cfg.js';
import { eventKey, eventRev } from './file-state.js';

type Item = { kind: 'event'; event: CfgEvent } | { kind: 'reset'; snapshot: CfgSnapshot };

/**
 * A watch on the file store. The store hands it changes synchronously as they are
 * committed; it delivers them on a later microtask, in order, so listeners attached right
 * after `watch()` returns see everything.
 */
export class FileWatch extends EventEmitter<CfgWatchEvents> implements CfgWatch {
  private queue: Item[] = [];
  private isScheduled = false;
  private isClosed = false;
  private deliveredRev: number;

  constructor(readonly prefix: string, fromRev: number, private readonly onClose: (w: FileWatch) => void) {
    super();
    this.deliveredRev = fromRev;
  }

  get rev(): number {
    return this.deliveredRev;
  }

  /** Queue committed changes; those outside the prefix are skipped. */
  push(events: readonly CfgEvent[]): void {
    if (this.isClosed) return;
    for (const event of events) {
      if (eventKey(event).startsWith(this.prefix)) this.queue.push({ kind: 'event', event });
    }
    this.schedule();
  }

  /** Queue a reset: the history this watch needs is gone. */
  pushReset(snapshot: CfgSnapshot): void {
    if (this.isClosed) return;
    this.queue.push({ kind: 'reset', snapshot });
    this.schedule();
  }

  /** Stop for good with an error (the store failed). */
  fail(err: Error): void {
    if (this.isClosed) return;
    void this.close();
    queueMicrotask(() => this.emit('error', err));
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.queue = [];
    this.onClose(this);
  }

  private schedule(): void {
    if (this.isScheduled || this.queue.length === 0) return;
    this.isScheduled = true;
    queueMicrotask(this.flush);
  }

  private readonly flush = (): void => {
    this.isScheduled = false;
    const items = this.queue;
    this.queue = [];
    for (const item of items) {
      if (this.isClosed) return;
      if (item.kind === 'reset') {
        this.deliveredRev = item.snapshot.rev;
        this.emit('reset', item.snapshot);
      } else {
        this.deliveredRev = eventRev(item.event);
        this.emit('event', item.event);
      }
    }
  };
}
