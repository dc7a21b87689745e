import { caOption } from '../shared/tls-ca.js';
import { EventEmitter } from 'eventemitter3';
import WebSocket from 'ws';
import { KvError, errorFromStatus } from '../shared/errors.js';
import { Op } from '../shared/protocol/ops.js';
import { decodeResponses, encodeMessage } from '../shared/protocol/codec.js';
import { ANSWER_STRIDE, AnswerField as A, decodeAnswerFrame, scanAnswers, scannedAnswers } from '../shared/protocol/raw-frames.js';
import { encodeBatch } from './lane-batch.js';
import { controlRequest, errorFromAnswer, type Response } from '../shared/protocol/frames.js';
import { Status } from '../shared/status.js';
import { AuthClient, authFailedError } from '../shared/auth/index.js';
import type { LaneAuth, LaneCallback, LaneOptions, RawRequest, RawSettle } from './lane-contract.js';

export interface LaneEvents {
  open: () => void;
  close: (err: KvError | null) => void;
}

interface Pending {
  id: number;
  /** An object frame, or null for a raw request. */
  frame: unknown[] | null;
  raw: RawRequest | null;
  epoch: number;
  deadline: number;
  bytes: number;
  isSent: boolean;
  done: LaneCallback | null;
  settle: RawSettle | null;
}

type LaneState = 'connecting' | 'open' | 'closing' | 'closed';

// Binary, no per-message compression (the lane never negotiates it), one final frame.
const SEND_OPTIONS = Object.freeze({ binary: true, compress: false, fin: true });

/**
 * One multiplexed, pipelined WebSocket connection to a node. Requests issued in the
 * same tick leave in one message; answers are matched by id in any order. In-flight
 * requests are bounded; callers beyond the bound wait in a bounded queue.
 */
export class Lane extends EventEmitter<LaneEvents> {
  readonly address: string;
  private state: LaneState = 'connecting';
  private readonly ws: WebSocket;
  private readonly options: Required<LaneOptions>;
  private readonly pending = new Map<number, Pending>();
  private outbox: Pending[] = [];
  private waiting: Pending[] = [];
  private waitingHead = 0;
  private nextId = 1;
  private isFlushScheduled = false;
  private lastReceivedAt = Date.now();
  private isPinging = false;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly connectTimer: NodeJS.Timeout;
  private drained: (() => void) | null = null;

  constructor(address: string, options: LaneOptions) {
    super();
    this.address = address;
    this.options = { sweepMs: 10, maxResponseBytes: 256 * 1024 * 1024, auth: null, isFlushPerTurn: false, isRawAnswers: false, onActivity: null, tlsCa: null, ...options };
    this.ws = new WebSocket(address, { perMessageDeflate: false, maxPayload: this.options.maxResponseBytes, ...caOption(this.options.tlsCa) });
    this.ws.binaryType = 'nodebuffer';
    this.ws.on('open', this.onOpen);
    this.ws.on('message', this.onMessage);
    this.ws.on('close', this.onClose);
    this.ws.on('error', this.onError);
    this.sweepTimer = setInterval(this.sweep, this.options.sweepMs);
    this.sweepTimer.unref();
    this.connectTimer = setTimeout(this.onConnectTimeout, this.options.connectTimeoutMs);
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
    return this.pending.size < this.options.maxInFlight;
  }

  /** Requests sent or about to be sent, not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Send one frame (`frame[0]` is overwritten with the lane's id) and resolve with the
   * answer. Rejects with a `KvError` on deadline, overflow or connection loss.
   */
  request(frame: unknown[], deadline: number, valueBytes = 0): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      this.requestCb(frame, deadline, valueBytes, (err, r) => {
        if (err !== null) reject(err);
        else resolve(r!);
      });
    });
  }

  /**
   * `request` without a promise: `done` is called exactly once, never synchronously
   * from inside this call except for a refusal (closed lane, queue full). The hot path
   * of the proxy, which forwards thousands of frames per message.
   */
  requestCb(frame: unknown[], deadline: number, valueBytes: number, done: LaneCallback): void {
    if (this.state === 'closed' || this.state === 'closing') {
      done(KvError.connectionClosed(`lane to ${this.address} is closed`, { node: this.address, isSafeToRetry: true }), null);
      return;
    }
    this.enqueue({ id: 0, frame, raw: null, epoch: 0, deadline, bytes: valueBytes, isSent: false, done, settle: null });
  }

  /**
   * Send a request that is already encoded: `epoch` and the lane's id are written in
   * front of `req.tail`. `settle` is called exactly once, synchronously only for a refusal.
   */
  requestRaw(req: RawRequest, epoch: number, deadline: number, valueBytes: number, settle: RawSettle): void {
    if (this.state === 'closed' || this.state === 'closing') {
      settle(req, KvError.connectionClosed(`lane to ${this.address} is closed`, { node: this.address, isSafeToRetry: true }), 0, 0, null, null);
      return;
    }
    this.enqueue({ id: 0, frame: null, raw: req, epoch, deadline, bytes: valueBytes, isSent: false, done: null, settle });
  }

  private enqueue(p: Pending): void {
    if (this.pending.size < this.options.maxInFlight) {
      this.admit(p);
    } else if (this.waiting.length - this.waitingHead < this.options.maxQueued) {
      this.waiting.push(p);
    } else {
      settle(p, KvError.busy(`more than ${this.options.maxQueued} requests queued for ${this.address}`, { node: this.address, isSafeToRetry: true }), null);
    }
  }

  /** Stop taking requests, let the in-flight ones finish (within their deadlines), then close. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'connecting') {
      this.destroy(KvError.clientClosed());
      return;
    }
    this.state = 'closing';
    if (this.pending.size > 0 || this.waiting.length > this.waitingHead) {
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

  private finish(err: KvError | null): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearInterval(this.sweepTimer);
    clearTimeout(this.connectTimer);
    this.ws.off('message', this.onMessage);
    queueMicrotask(() => this.emit('close', err));
  }

  private failAll(reason: KvError): void {
    const sentReason = new KvError(reason.code, reason.message, { ...reason.details, isSafeToRetry: false }, reason.cause);
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.outbox = [];
    const waiting = this.waiting.slice(this.waitingHead);
    this.waiting = [];
    this.waitingHead = 0;
    for (const p of pending) settle(p, p.isSent ? sentReason : reason, null);
    for (const p of waiting) settle(p, reason, null);
  }

  private admit(p: Pending): void {
    const id = this.nextId++;
    p.id = id;
    if (p.frame !== null) p.frame[0] = id;
    this.pending.set(id, p);
    this.outbox.push(p);
    if (!this.isFlushScheduled && this.state === 'open') {
      this.isFlushScheduled = true;
      if (this.options.isFlushPerTurn) setImmediate(this.flush);
      else queueMicrotask(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.isFlushScheduled = false;
    if (this.state !== 'open' && this.state !== 'closing') return;
    const box = this.outbox;
    if (box.length === 0) return;
    this.outbox = [];
    const { maxFramesPerMessage, maxBatchBytes } = this.options;
    let batch: Pending[] = [];
    let bytes = 0;
    for (const p of box) {
      if (p.isSent) continue;
      if (batch.length > 0 && (batch.length >= maxFramesPerMessage || bytes + p.bytes > maxBatchBytes)) {
        this.ws.send(encodeBatch(batch), SEND_OPTIONS);
        batch = [];
        bytes = 0;
      }
      p.isSent = true;
      batch.push(p);
      bytes += p.bytes;
    }
    if (batch.length > 0) this.ws.send(encodeBatch(batch), SEND_OPTIONS);
  };

  private readonly onOpen = (): void => {
    if (this.state !== 'connecting') return;
    const auth = this.options.auth;
    if (auth === null) {
      this.becomeOpen();
      return;
    }
    // The connect deadline covers the handshake; requests wait in the outbox until it is done.
    this.authenticate(auth).then(
      () => this.becomeOpen(),
      (err: unknown) => this.destroy(err instanceof KvError ? err : KvError.protocol(`authentication with ${this.address} failed: ${err instanceof Error ? err.message : String(err)}`, err)),
    );
  };

  /**
   * The handshake, before any queued request leaves: ask for a challenge naming the
   * principal (so a password principal gets its salt), answer it, and check the server's
   * signature over our nonce against the key the map gives for this node.
   */
  private async authenticate(auth: LaneAuth): Promise<void> {
    const serverKey = auth.serverKeyFor(this.address);
    const client = new AuthClient({
      credentials: auth.credentials,
      serverPublicKey: serverKey,
      isTrustOnFirstUse: serverKey === null,
      derivedKeys: auth.derivedKeys,
      ...(auth.passwordLimits === undefined ? {} : { passwordLimits: auth.passwordLimits }),
    });
    const deadline = Date.now() + this.options.connectTimeoutMs;
    const challenge = await this.sendNow(controlRequest(Op.AUTH, { principal: client.principal }), deadline);
    if (challenge.status !== Status.AUTH_NEEDED) throw this.refusal(challenge);
    const answer = client.answer(challenge.extra);
    const verdict = await this.sendNow(controlRequest(Op.AUTH, { ...answer }), deadline);
    if (verdict.status !== Status.OK) throw this.refusal(verdict);
    if (!client.verifyServer(serverKey, verdict.extra?.serverSignature, verdict.extra?.serverPublicKey)) {
      const err = authFailedError('server-signature');
      throw new KvError(err.code, `${this.address} could not prove it holds its key`, { ...err.details, node: this.address });
    }
  }

  private refusal(r: Response): KvError {
    const message = typeof r.extra?.message === 'string' ? r.extra.message : 'authentication refused';
    // A node that just started may not have the principal list yet: the handshake ran
    // nothing, so trying again is safe.
    const err = errorFromStatus(r.status, `${this.address}: ${message}`, { node: this.address });
    return r.status === Status.UNAVAILABLE || r.status === Status.BUSY ? new KvError(err.code, err.message, { ...err.details, isSafeToRetry: true }) : err;
  }

  /** Send one frame at once, whatever the state (the handshake's frames). */
  private sendNow(frame: unknown[], deadline: number): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      const id = this.nextId++;
      frame[0] = id;
      const done: LaneCallback = (err, r) => (err !== null ? reject(err) : resolve(r!));
      this.pending.set(id, { id, frame, raw: null, epoch: 0, deadline, bytes: 0, isSent: true, done, settle: null });
      this.ws.send(encodeMessage([frame]), SEND_OPTIONS);
    });
  }

  private becomeOpen(): void {
    clearTimeout(this.connectTimer);
    if (this.state !== 'connecting') return;
    this.state = 'open';
    this.lastReceivedAt = Date.now();
    this.flush();
    this.emit('open');
  }

  private readonly onMessage = (data: WebSocket.RawData): void => {
    this.lastReceivedAt = Date.now();
    this.options.onActivity?.();
    if (this.options.isRawAnswers && data instanceof Uint8Array && this.onRawMessage(data)) return;
    const responses = data instanceof Uint8Array ? decodeResponses(data) : null;
    if (responses === null) {
      this.destroy(KvError.protocol(`malformed response from ${this.address}`));
      return;
    }
    for (const r of responses) {
      if (r.id === 0) {
        this.destroy(errorFromAnswer(r, { node: this.address }));
        return;
      }
      const p = this.pending.get(r.id);
      if (p === undefined) continue; // answer to a request that already timed out
      this.pending.delete(r.id);
      settle(p, null, r);
    }
    this.admitWaiting();
  };

  /**
   * Answers read as bytes: a raw request gets its answer's status and encoded fields,
   * any other request its frame decoded on its own. False when the message is not one
   * the byte reader takes (the full decoder then judges it).
   */
  private onRawMessage(data: Uint8Array): boolean {
    const count = scanAnswers(data);
    if (count < 0) return false;
    const a = scannedAnswers();
    for (let i = 0, base = 0; i < count; i++, base += ANSWER_STRIDE) {
      const id = a[base + A.ID]!;
      if (id === 0) {
        const r = decodeAnswerFrame(data, a[base + A.FRAME_START]!, a[base + A.FRAME_END]!);
        const message = typeof r?.extra?.message === 'string' ? r.extra.message : undefined;
        this.destroy(errorFromStatus(a[base + A.STATUS]!, message, { node: this.address }));
        return true;
      }
      const p = this.pending.get(id);
      if (p === undefined) continue; // answer to a request that already timed out
      this.pending.delete(id);
      if (p.raw !== null) {
        p.settle!(p.raw, null, a[base + A.STATUS]!, a[base + A.FIELD_COUNT]!, data.subarray(a[base + A.FIELDS_START]!, a[base + A.FRAME_END]!), null);
        continue;
      }
      const r = decodeAnswerFrame(data, a[base + A.FRAME_START]!, a[base + A.FRAME_END]!);
      if (r === null) {
        settle(p, KvError.protocol(`malformed response from ${this.address}`), null);
        this.destroy(KvError.protocol(`malformed response from ${this.address}`));
        return true;
      }
      settle(p, null, r);
    }
    this.admitWaiting();
    return true;
  }

  private admitWaiting(): void {
    const max = this.options.maxInFlight;
    while (this.pending.size < max && this.waitingHead < this.waiting.length) {
      const p = this.waiting[this.waitingHead]!;
      this.waiting[this.waitingHead++] = undefined as unknown as Pending;
      this.admit(p);
    }
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitingHead);
      this.waitingHead = 0;
    }
    if (this.drained !== null && this.pending.size === 0 && this.waitingHead >= this.waiting.length) {
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

  // Deadlines and the heartbeat are checked on one coarse timer instead of a timer per request.
  private readonly sweep = (): void => {
    const now = Date.now();
    for (const [id, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(id);
      settle(p, KvError.timeout(`no answer from ${this.address} before the deadline`, { node: this.address, isSafeToRetry: !p.isSent }), null);
    }
    for (let i = this.waitingHead; i < this.waiting.length; i++) {
      const p = this.waiting[i]!;
      if (p.deadline > now) continue;
      this.waiting.splice(i, 1);
      i--;
      settle(p, KvError.timeout(`queued for ${this.address} until the deadline`, { node: this.address, isSafeToRetry: true }), null);
    }
    this.admitWaiting();
    if (this.state === 'open' && !this.isPinging && now - this.lastReceivedAt > this.options.heartbeatMs) this.ping(now);
  };

  private ping(now: number): void {
    this.isPinging = true;
    this.request(controlRequest(Op.PING), now + this.options.heartbeatMs).then(
      () => { this.isPinging = false; },
      (err: KvError) => {
        this.isPinging = false;
        if (err.code === 'KV_ERR_TIMEOUT') this.destroy(KvError.connectionClosed(`${this.address} did not answer a heartbeat within ${this.options.heartbeatMs} ms`, { node: this.address }));
      },
    );
  }
}

/** Hand a request its outcome, whichever form it was sent in. */
function settle(p: Pending, err: KvError | null, r: Response | null): void {
  if (p.raw !== null) p.settle!(p.raw, err, r?.status ?? 0, 0, null, r);
  else p.done!(err, r);
}
