import { caOption } from '../shared/tls-ca.js';
import { EventEmitter } from 'eventemitter3';
import WebSocket from 'ws';
import { KvError } from '../shared/errors.js';
import { Op } from '../shared/protocol/ops.js';
import { decodeResponses, encodeMessage } from '../shared/protocol/codec.js';
import { decodePackedAnswers } from '../shared/protocol/packed-answers.js';
import { LAYOUTS_HEADER, PACKED_DURABLE_TOKEN, PACKED_V1, offersLayout, offersPackedV1 } from '../shared/protocol/packed-layout.js';
import type { IncomingMessage } from 'node:http';
import { controlRequest, errorFromAnswer, type RequestFrame, type Response } from '../shared/protocol/frames.js';
import { encodeBatch } from './lane-batch.js';
import { RequestTable } from './lane-table.js';
import { expireRequests } from './lane-deadlines.js';
import { Heartbeat } from './lane-heartbeat.js';
import { authenticateLane } from './lane-auth.js';
import { LanePromise } from './request-forms.js';
import type { AnswerReader, AnswerSink, LaneAuth, LaneOptions, LaneRequest } from './lane-contract.js';

export interface LaneEvents {
  open: () => void;
  close: (err: KvError | null) => void;
}

type LaneState = 'connecting' | 'open' | 'closing' | 'closed';

/**
 * A lane's default flush schedule. Per microtask, each message read from a node set off
 * its own write to every lane (its answers' callers send again at once, to keys all over
 * the cluster); per turn, the answers of all nodes read in one I/O phase set off one
 * write per lane: 45 % fewer socket writes at 64 in flight over 3 nodes.
 */
function flushPerTurn(flush: () => void): void {
  setImmediate(flush);
}

// Binary, no per-message compression (the lane never negotiates it), one final frame.
const SEND_OPTIONS = Object.freeze({ binary: true, compress: false, fin: true });

/**
 * The masking key of every frame this client sends: all zero, so `ws` writes the payload
 * as it is instead of copying it into a masked buffer. Masking guards intermediaries
 * against scripts in a browser choosing the bytes on the wire (RFC 6455 §10.3); a lane is
 * a program talking to its own cluster, not a page, so it only costs a copy per message.
 */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

type Settings = Required<Omit<LaneOptions, 'auth' | 'answerReader' | 'tlsCa'>> & { auth: LaneAuth | null; answerReader: AnswerReader | null };

/** Decode an answer message in whichever layout it came (by its first byte); null when malformed. */
function decodeAnswers(data: Uint8Array): Response[] | null {
  return data.length > 0 && data[0] === PACKED_V1 ? decodePackedAnswers(data) : decodeResponses(data);
}

/**
 * One multiplexed, pipelined WebSocket connection to a node: its connection state and
 * the requests on it. Requests issued in the same tick leave in one message; answers are
 * matched by id in any order. In-flight requests are bounded; callers beyond the bound
 * wait in a bounded queue (`RequestTable`). The handshake, the deadline sweep and the
 * heartbeat live in their own files.
 */
export class Lane extends EventEmitter<LaneEvents> implements AnswerSink {
  readonly address: string;
  private state: LaneState = 'connecting';
  private readonly ws: WebSocket;
  private readonly options: Settings;
  private readonly table: RequestTable;
  private readonly heartbeat: Heartbeat;
  private outbox: LaneRequest[] = [];
  private isFlushScheduled = false;
  /** Messages sent since the node's last message (`sendWindow`). */
  private unanswered = 0;
  /** Releases held requests when the node's next message is late (`maxHoldMs`). */
  private holdTimer: NodeJS.Timeout | null = null;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly connectTimer: NodeJS.Timeout;
  private drained: (() => void) | null = null;
  /** Requests go in the packed layout: asked for, and offered by the server at the upgrade. */
  private isPacked = false;
  /** The server reads SET_DURABLE: a SET with a durability goes packed too. */
  private hasDurable = false;

  constructor(address: string, options: LaneOptions) {
    super();
    this.address = address;
    this.options = {
      sweepMs: 10, maxResponseBytes: 256 * 1024 * 1024, scheduleFlush: flushPerTurn, wireLayout: 'cbor', sendWindow: 0, maxHoldMs: 1, sendWhenIdle: false, ...options,
      auth: options.auth ?? null, answerReader: options.answerReader ?? null,
    };
    this.table = new RequestTable(options.maxInFlight, options.maxQueued);
    this.heartbeat = new Heartbeat(options.heartbeatMs, this.ping, this.onSilent);
    this.ws = new WebSocket(address, { perMessageDeflate: false, maxPayload: this.options.maxResponseBytes, generateMask: zeroMask, ...caOption(options.tlsCa ?? null) });
    this.ws.binaryType = 'nodebuffer';
    this.ws.on('upgrade', this.onUpgrade);
    this.ws.on('open', this.onOpen);
    this.ws.on('message', this.onMessage);
    this.ws.on('close', this.onClose);
    this.ws.on('error', this.onError);
    this.sweepTimer = setInterval(this.sweep, this.options.sweepMs);
    this.sweepTimer.unref();
    this.connectTimer = setTimeout(this.onConnectTimeout, options.connectTimeoutMs);
    this.connectTimer.unref();
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get isClosed(): boolean {
    return this.state === 'closed' || this.state === 'closing';
  }

  /** Resolve once the lane is open; reject when it closes first or at the deadline. */
  whenOpen(deadlineMs: number): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
    if (this.state !== 'connecting') return Promise.reject(KvError.connectionClosed(`lane to ${this.address} is closed`, { node: this.address }));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(KvError.timeout(`lane to ${this.address} did not open before the deadline`, { node: this.address, isSafeToRetry: true }));
      }, Math.max(0, deadlineMs - Date.now()));
      const onOpen = (): void => { cleanup(); resolve(); };
      const onClose = (err: KvError | null): void => { cleanup(); reject(err ?? KvError.connectionClosed(`lane to ${this.address} closed`, { node: this.address })); };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('open', onOpen);
        this.off('close', onClose);
      };
      this.on('open', onOpen);
      this.on('close', onClose);
    });
  }

  /** True while a new request would be admitted at once rather than queued. */
  get hasRoom(): boolean {
    return this.table.hasRoom;
  }

  /** Requests sent or about to be sent, not yet answered. */
  get inFlight(): number {
    return this.table.inFlight;
  }

  /**
   * The one way in: send `req` (at once when there is room, else after the queued ones)
   * and report its outcome to it. A closed lane or a full queue is reported from inside
   * this call.
   */
  enqueue(req: LaneRequest): void {
    const table = this.table;
    if (this.state === 'closed' || this.state === 'closing') {
      req.onError(KvError.connectionClosed(`lane to ${this.address} is closed`, { node: this.address, isSafeToRetry: true }));
    } else if (table.hasRoom) {
      this.admit(req);
    } else if (table.hasQueueRoom) {
      table.queue(req);
    } else {
      req.onError(KvError.busy(`more than ${this.options.maxQueued} requests queued for ${this.address}`, { node: this.address, isSafeToRetry: true }));
    }
  }

  /** `enqueue` as a promise of the answer: one frame (`frame[0]` is overwritten with the lane's id). */
  request(frame: unknown[], deadline: number, valueBytes = 0): Promise<Response> {
    return new Promise<Response>((resolve, reject) => this.enqueue(new LanePromise(frame, deadline, valueBytes, resolve, reject)));
  }

  /** Stop taking requests, let the in-flight ones finish (within their deadlines), then close. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'connecting') {
      this.destroy(KvError.clientClosed());
      return;
    }
    this.state = 'closing';
    if (!this.table.isEmpty) {
      await new Promise<void>((resolve) => { this.drained = resolve; });
    }
    this.finish(null);
    this.ws.close(1000);
  }

  /** Fail everything at once and drop the connection. Idempotent. */
  destroy(err: KvError | null = null): void {
    if (this.state === 'closed') return;
    const reason = err ?? KvError.clientClosed();
    // Refuse new requests first: a callback that sends again from inside failAll must not be lost.
    this.state = 'closing';
    this.failAll(reason);
    this.finish(err);
    this.ws.terminate();
  }

  /** @internal AnswerSink: the request waiting for `id`, removed from the table. */
  take(id: number): LaneRequest | undefined {
    return this.table.take(id);
  }

  /** @internal AnswerSink: the stream from the node is unusable. */
  fail(err: KvError): void {
    this.destroy(err);
  }

  private finish(err: KvError | null): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearInterval(this.sweepTimer);
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    clearTimeout(this.connectTimer);
    this.ws.off('message', this.onMessage);
    queueMicrotask(() => this.emit('close', err));
  }

  private failAll(reason: KvError): void {
    const sentReason = new KvError(reason.code, reason.message, { ...reason.details, isSafeToRetry: false }, reason.cause);
    const { admitted, queued } = this.table.takeAll();
    this.outbox = [];
    for (const req of admitted) req.onError(req.isSent ? sentReason : reason);
    for (const req of queued) req.onError(reason);
  }

  private admit(req: LaneRequest): void {
    this.table.admit(req);
    this.outbox.push(req);
    if (this.isFlushScheduled || this.state !== 'open') return;
    if (this.isHolding) {
      // Held: the node's next message, or the hold timer, sends it.
      this.holdTimer ??= setTimeout(this.release, this.options.maxHoldMs).unref();
      return;
    }
    if (this.options.sendWhenIdle && this.table.inFlight === 1) {
      // Nothing else in flight: no answer will come to send with, so send at the end of this task.
      this.isFlushScheduled = true;
      queueMicrotask(this.flush);
      return;
    }
    this.scheduleFlush();
  }

  /** The send window is full: new requests wait for the node's next message. */
  private get isHolding(): boolean {
    return this.options.sendWindow > 0 && this.unanswered >= this.options.sendWindow;
  }

  /** Open, or closing with requests still to send. */
  private get isSending(): boolean {
    return this.state === 'open' || this.state === 'closing';
  }

  private scheduleFlush(): void {
    this.isFlushScheduled = true;
    this.options.scheduleFlush(this.flush);
  }

  private readonly release = (): void => {
    this.holdTimer = null;
    if (!this.isFlushScheduled && this.outbox.length > 0 && this.isSending) this.scheduleFlush();
  };

  private readonly flush = (): void => {
    this.isFlushScheduled = false;
    if (!this.isSending) return;
    const box = this.outbox;
    if (box.length === 0) return;
    this.outbox = [];
    const { maxFramesPerMessage, maxBatchBytes } = this.options;
    let batch: LaneRequest[] = [];
    let bytes = 0;
    for (const req of box) {
      if (req.isSent) continue;
      if (batch.length > 0 && (batch.length >= maxFramesPerMessage || bytes + req.valueBytes > maxBatchBytes)) {
        this.sendBatch(batch);
        batch = [];
        bytes = 0;
      }
      req.isSent = true;
      batch.push(req);
      bytes += req.valueBytes;
    }
    if (batch.length > 0) this.sendBatch(batch);
  };

  /** One message of requests; it counts toward the send window until the node's next message. */
  private sendBatch(batch: readonly LaneRequest[]): void {
    this.unanswered++;
    this.ws.send(encodeBatch(batch, this.isPacked, this.hasDurable), SEND_OPTIONS);
  }


  private readonly onUpgrade = (res: IncomingMessage): void => {
    const offered = res.headers[LAYOUTS_HEADER];
    this.isPacked = this.options.wireLayout === 'packed' && offersPackedV1(offered);
    this.hasDurable = this.isPacked && offersLayout(offered, PACKED_DURABLE_TOKEN);
  };

  /** The layout requests go in on this lane: packed only when the server offered it. */
  get wireLayout(): 'cbor' | 'packed' {
    return this.isPacked ? 'packed' : 'cbor';
  }

  private readonly onOpen = (): void => {
    if (this.state !== 'connecting') return;
    const auth = this.options.auth;
    if (auth === null) {
      this.becomeOpen();
      return;
    }
    // The connect deadline covers the handshake; requests wait in the outbox until it is done.
    authenticateLane(auth, this.address, Date.now() + this.options.connectTimeoutMs, this.sendNow).then(
      () => this.becomeOpen(),
      (err: unknown) => this.destroy(err instanceof KvError ? err : KvError.protocol(`authentication with ${this.address} failed: ${err instanceof Error ? err.message : String(err)}`, err)),
    );
  };

  /** Send one frame at once, whatever the state (the handshake's frames). */
  private readonly sendNow = (frame: RequestFrame, deadline: number): Promise<Response> => {
    return new Promise<Response>((resolve, reject) => {
      const req = new LanePromise(frame, deadline, 0, resolve, reject);
      this.table.admit(req);
      req.isSent = true;
      this.ws.send(encodeMessage([frame]), SEND_OPTIONS);
    });
  };

  private becomeOpen(): void {
    clearTimeout(this.connectTimer);
    if (this.state !== 'connecting') return;
    this.state = 'open';
    this.heartbeat.received();
    this.flush();
    this.emit('open');
  }

  private readonly onMessage = (data: WebSocket.RawData): void => {
    this.heartbeat.received();
    this.unanswered = 0;
    const reader = this.options.answerReader;
    if (reader !== null && data instanceof Uint8Array && reader(data, this)) {
      this.admitWaiting();
      return;
    }
    const responses = data instanceof Uint8Array ? decodeAnswers(data) : null;
    if (responses === null) {
      this.destroy(KvError.protocol(`malformed response from ${this.address}`));
      return;
    }
    for (const r of responses) {
      if (r.id === 0) {
        this.destroy(errorFromAnswer(r, { node: this.address }));
        return;
      }
      // Undefined: an answer to a request that already timed out.
      this.table.take(r.id)?.onAnswer(r);
    }
    this.admitWaiting();
  };

  private admitWaiting(): void {
    for (let req = this.table.nextWaiting(); req !== undefined; req = this.table.nextWaiting()) this.admit(req);
    // Requests held by the send window leave with this turn's flush once the node has answered.
    if (!this.isFlushScheduled && this.outbox.length > 0 && this.isSending && !this.isHolding) this.scheduleFlush();
    if (this.drained !== null && this.table.isEmpty) {
      const done = this.drained;
      this.drained = null;
      done();
    }
  }

  private readonly onClose = (code: number, reason: Buffer): void => {
    const text = reason.toString() || `code ${code}`;
    this.destroy(KvError.connectionClosed(`connection to ${this.address} closed (${text})`, { node: this.address }));
  };

  private readonly onError = (err: Error): void => {
    const isConnecting = this.state === 'connecting';
    const kv = isConnecting
      ? KvError.unavailable(`cannot connect to ${this.address}: ${err.message}`, { node: this.address, isSafeToRetry: true }, err)
      : KvError.connectionClosed(`connection to ${this.address} failed: ${err.message}`, { node: this.address }, err);
    this.destroy(kv);
  };

  private readonly onConnectTimeout = (): void => {
    if (this.state === 'connecting') {
      this.destroy(KvError.unavailable(`connecting to ${this.address} took over ${this.options.connectTimeoutMs} ms`, { node: this.address, isSafeToRetry: true }));
    }
  };

  private readonly sweep = (): void => {
    const now = Date.now();
    expireRequests(this.table, now, this.address);
    this.admitWaiting();
    if (this.state === 'open') this.heartbeat.check(now);
  };

  private readonly ping = (deadline: number): Promise<Response> => this.request(controlRequest(Op.PING), deadline);

  private readonly onSilent = (): void => {
    this.destroy(KvError.connectionClosed(`${this.address} did not answer a heartbeat within ${this.options.heartbeatMs} ms`, { node: this.address }));
  };
}
