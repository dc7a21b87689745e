import WebSocket from 'ws';
import { decodeCbor, encodeMessage } from '../shared/protocol/codec.js';
import { Op } from '../shared/protocol/ops.js';
import type { BenchOp } from './mix.js';

interface Waiter {
  resolve: (frame: unknown[]) => void;
  reject: (err: Error) => void;
}

/**
 * The least a client can do on the wire: pipelined request frames, every frame issued
 * in one tick packed into one message (flushed per microtask), answers matched by id.
 * No routing, validation, retries or deadlines; it measures the transport alone.
 */
export class RawLane {
  private readonly ws: WebSocket;
  private readonly waiters = new Map<number, Waiter>();
  private outbox: unknown[][] = [];
  private isFlushScheduled = false;
  private nextId = 1;
  private failure: Error | null = null;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', this.onMessage);
    ws.on('close', this.onClose);
    ws.on('error', this.onError);
  }

  /** Connect to `url` within `timeoutMs`. */
  static open(url: string, timeoutMs: number): Promise<RawLane> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.binaryType = 'nodebuffer';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`connecting to ${url} timed out after ${timeoutMs} ms`)), timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        ws.off('open', onOpen);
        ws.off('error', fail);
      };
      const onOpen = (): void => {
        done();
        resolve(new RawLane(ws));
      };
      function fail(err: Error): void {
        done();
        ws.terminate();
        reject(err);
      }
      ws.on('open', onOpen);
      ws.on('error', fail);
    });
  }

  /** Send `frame` (its first element is replaced by a fresh id); resolves with the answer frame. */
  request(frame: unknown[]): Promise<unknown[]> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    frame[0] = id;
    this.outbox.push(frame);
    if (!this.isFlushScheduled) {
      this.isFlushScheduled = true;
      queueMicrotask(this.flush);
    }
    return new Promise((resolve, reject) => this.waiters.set(id, { resolve, reject }));
  }

  /** Close the socket; requests still waiting fail. */
  close(): void {
    this.ws.close();
    this.failAll(new Error('lane closed'));
  }

  private readonly flush = (): void => {
    this.isFlushScheduled = false;
    const frames = this.outbox;
    this.outbox = [];
    if (frames.length > 0 && this.failure === null) this.ws.send(encodeMessage(frames));
  };

  private readonly onMessage = (data: WebSocket.RawData): void => {
    const { value } = data instanceof Uint8Array ? decodeCbor(data) : { value: undefined };
    if (!Array.isArray(value)) {
      this.failAll(new Error('malformed answer message'));
      this.ws.terminate();
      return;
    }
    for (const frame of value as unknown[]) {
      if (!Array.isArray(frame)) continue;
      const waiter = this.waiters.get(frame[0] as number);
      if (waiter === undefined) continue;
      this.waiters.delete(frame[0] as number);
      if (frame[1] === 0) waiter.resolve(frame);
      else waiter.reject(new Error(`status ${String(frame[1])}`));
    }
  };

  private readonly onClose = (): void => {
    this.failAll(new Error('connection closed'));
  };

  private readonly onError = (err: Error): void => {
    this.failAll(err);
  };

  private failAll(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.waiters.values()) waiter.reject(err);
    this.waiters.clear();
  }
}

/** The request frame a bare client sends for `op`: `[id, op, epoch, key, value]`. */
export function rawFrame(op: BenchOp, key: string, value: Uint8Array): unknown[] {
  switch (op) {
    case 'get': return [0, Op.GET, 0, key, null];
    case 'set': return [0, Op.SET, 0, key, value];
    case 'delete': return [0, Op.DELETE, 0, key, null];
  }
}
