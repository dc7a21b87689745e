import { EventEmitter } from 'eventemitter3';
import type { NoiseSecretStream } from 'hyperdht';
import { ErrorCode, KvError } from '../../shared/errors.js';
import { FrameDecoder, encodeFrame } from './frame-codec.js';
import { Kind, PEER_PROTOCOL_VERSION, failFrame, helloFrame, messageFrame, parseEnvelope, replyFrame, requestFrame, type Envelope } from './peer-envelope.js';
import type { PeerPlaneOptions } from './options.js';

/** Answer a request: a value is the reply, an `Error` fails it (its `code` if a KvError, else INTERNAL). */
export type PeerReply = (result: unknown) => void;

export interface PeerLinkEvents {
  /** Both sides sent HELLO on this connection: it is usable. */
  up: (link: PeerLink) => void;
  /** The connection is gone; `reason` says why. Emitted once. */
  close: (link: PeerLink, reason: KvError) => void;
  /** The peer sent something this side cannot accept; the link is dropped right after. */
  'link-error': (link: PeerLink, err: KvError) => void;
  message: (link: PeerLink, message: unknown, reply: PeerReply | undefined) => void;
  /** The write queue emptied after the socket was over its high-water mark. */
  drain: (link: PeerLink) => void;
}

type LinkLimits = Pick<PeerPlaneOptions, 'maxFrameBytes' | 'maxQueuedBytesPerPeer' | 'maxInFlightPerPeer' | 'helloTimeoutMs' | 'idleTimeoutMs'>;

interface PendingRequest {
  resolve: (value: unknown) => void;
  reject: (err: KvError) => void;
  timer: NodeJS.Timeout;
}

// secret-stream refuses one write over 16 MiB; stay well under it.
const WRITE_SLICE_BYTES = 1024 * 1024;

/**
 * One Noise connection to one peer: HELLO exchange, CBOR framing, requests with ids and
 * deadlines, and bounded, batched writes that respect the socket's backpressure.
 * {@link PeerPlane} owns the links; nothing else should create them.
 */
export class PeerLink extends EventEmitter<PeerLinkEvents> {
  /** Hex public key of the remote node. */
  readonly peer: string;
  readonly socket: NoiseSecretStream;
  private readonly limits: LinkLimits;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private isFlushScheduled = false;
  private isWaitingDrain = false;
  private helloTimer: NodeJS.Timeout | null;
  private lastSocketError: Error | null = null;
  private state: 'hello' | 'up' | 'closed' = 'hello';
  /** The link was up at some point (so its close is a peer-down). */
  hasBeenUp = false;

  constructor(socket: NoiseSecretStream, peer: string, limits: LinkLimits) {
    super();
    this.peer = peer;
    this.socket = socket;
    this.limits = limits;
    this.decoder = new FrameDecoder(limits.maxFrameBytes);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    socket.on('data', this.onSocketData);
    socket.on('drain', this.onSocketDrain);
    if (limits.idleTimeoutMs > 0) socket.setTimeout(limits.idleTimeoutMs);
    this.helloTimer = setTimeout(this.onHelloTimeout, limits.helloTimeoutMs);
    this.enqueue(encodeFrame(helloFrame(), limits.maxFrameBytes));
  }

  /** HELLO went both ways and the link is not closed. */
  get isUp(): boolean {
    return this.state === 'up';
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** The socket is over its high-water mark; frames queue until `drain`. */
  get isBusy(): boolean {
    return this.isWaitingDrain;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Bytes waiting in this link's queue. */
  get queued(): number {
    return this.queuedBytes;
  }

  /** Queue a one-way message; false when closed or the queue is full. @throws KvError TOO_LARGE */
  send(message: unknown): boolean {
    if (this.state !== 'up') return false;
    return this.enqueue(encodeFrame(messageFrame(message), this.limits.maxFrameBytes));
  }

  /** Send a request and wait for its reply. `timeoutError` is made by the caller so its stack names the caller. */
  request(message: unknown, deadlineMs: number, timeoutError: KvError): Promise<unknown> {
    if (this.state !== 'up') return Promise.reject(KvError.unavailable(`peer ${short(this.peer)} is not connected`, { node: this.peer, isSafeToRetry: true }));
    if (this.pending.size >= this.limits.maxInFlightPerPeer) {
      return Promise.reject(KvError.busy(`${this.pending.size} requests in flight to peer ${short(this.peer)}`, { node: this.peer, isSafeToRetry: true }));
    }
    const id = this.takeId();
    let frame: Buffer;
    try {
      frame = encodeFrame(requestFrame(id, message), this.limits.maxFrameBytes);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.enqueue(frame)) {
      return Promise.reject(KvError.busy(`write queue to peer ${short(this.peer)} is full`, { node: this.peer, isSafeToRetry: true }));
    }
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(timeoutError);
      }, deadlineMs);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  /** Drop the connection now: pending requests fail, `close` is emitted once. Idempotent. */
  destroy(reason: KvError): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    const failure = reason.code === ErrorCode.CLIENT_CLOSED
      ? reason
      : KvError.connectionClosed(`connection to peer ${short(this.peer)} closed: ${reason.message}`, { node: this.peer }, reason);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(failure);
    }
    this.pending.clear();
    this.queue = [];
    this.queuedBytes = 0;
    this.socket.off('data', this.onSocketData);
    this.socket.off('drain', this.onSocketDrain);
    this.socket.off('close', this.onSocketClose);
    // The error listener stays: a destroyed stream may still report one.
    this.socket.destroy();
    this.emit('close', this, reason);
  }

  private takeId(): number {
    let id = this.nextId;
    while (this.pending.has(id)) id = id >= 0xffffffff ? 1 : id + 1;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    return id;
  }

  private enqueue(frame: Buffer): boolean {
    if (this.state === 'closed') return false;
    if (this.queuedBytes > 0 && this.queuedBytes + frame.length > this.limits.maxQueuedBytesPerPeer) return false;
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    if (!this.isFlushScheduled && !this.isWaitingDrain) {
      // One write per microtask: frames queued in the same tick leave together.
      this.isFlushScheduled = true;
      queueMicrotask(this.flush);
    }
    return true;
  }

  private readonly flush = (): void => {
    this.isFlushScheduled = false;
    if (this.state === 'closed' || this.isWaitingDrain || this.queuedBytes === 0) return;
    const data = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue, this.queuedBytes);
    this.queue = [];
    this.queuedBytes = 0;
    let isOk = true;
    for (let at = 0; at < data.length; at += WRITE_SLICE_BYTES) {
      isOk = this.socket.write(data.subarray(at, at + WRITE_SLICE_BYTES));
    }
    if (!isOk) this.isWaitingDrain = true;
  };

  private readonly onSocketDrain = (): void => {
    if (!this.isWaitingDrain) return;
    this.isWaitingDrain = false;
    this.flush();
    if (!this.isWaitingDrain && this.state !== 'closed') this.emit('drain', this);
  };

  private readonly onSocketData = (chunk: Buffer): void => {
    let frames: unknown[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail(err as KvError);
      return;
    }
    for (const frame of frames) {
      if (this.state === 'closed') return;
      let env: Envelope;
      try {
        env = parseEnvelope(frame);
      } catch (err) {
        this.fail(err as KvError);
        return;
      }
      this.onEnvelope(env);
    }
  };

  private onEnvelope(env: Envelope): void {
    if (this.state === 'hello') {
      if (env.kind !== Kind.HELLO) return this.fail(KvError.protocol(`peer ${short(this.peer)} sent frame kind ${env.kind} before HELLO`));
      if (env.version !== PEER_PROTOCOL_VERSION) return this.fail(KvError.protocol(`peer ${short(this.peer)} speaks peer protocol ${env.version}, this node ${PEER_PROTOCOL_VERSION}`));
      if (this.helloTimer !== null) clearTimeout(this.helloTimer);
      this.helloTimer = null;
      this.state = 'up';
      this.hasBeenUp = true;
      this.emit('up', this);
      return;
    }
    switch (env.kind) {
      case Kind.HELLO:
        return this.fail(KvError.protocol(`peer ${short(this.peer)} sent HELLO twice`));
      case Kind.MESSAGE:
        this.emit('message', this, env.message, undefined);
        return;
      case Kind.REQUEST:
        this.emit('message', this, env.message, this.replier(env.id));
        return;
      case Kind.REPLY:
      case Kind.FAIL: {
        const p = this.pending.get(env.id);
        // No entry: the request timed out already; the late answer is dropped.
        if (p === undefined) return;
        this.pending.delete(env.id);
        clearTimeout(p.timer);
        if (env.kind === Kind.REPLY) p.resolve(env.message);
        else p.reject(new KvError(env.code, env.text, { node: this.peer }));
        return;
      }
    }
  }

  private replier(id: number): PeerReply {
    let isDone = false;
    return (result: unknown): void => {
      if (isDone || this.state === 'closed') return;
      isDone = true;
      let frame: Buffer;
      try {
        if (result instanceof Error) {
          const code = result instanceof KvError ? result.code : ErrorCode.INTERNAL;
          frame = encodeFrame(failFrame(id, code, result.message), this.limits.maxFrameBytes);
        } else {
          frame = encodeFrame(replyFrame(id, result), this.limits.maxFrameBytes);
        }
      } catch (err) {
        const e = err instanceof KvError ? err : KvError.internal('reply could not be encoded', {}, err);
        frame = encodeFrame(failFrame(id, e.code, e.message), this.limits.maxFrameBytes);
      }
      // A full queue drops the reply; the requester's deadline covers it.
      this.enqueue(frame);
    };
  }

  private fail(err: KvError): void {
    if (this.state === 'closed') return;
    this.emit('link-error', this, err);
    this.destroy(err);
  }

  private readonly onHelloTimeout = (): void => {
    this.helloTimer = null;
    this.fail(KvError.timeout(`peer ${short(this.peer)} sent no HELLO within ${this.limits.helloTimeoutMs} ms`, { node: this.peer }));
  };

  private readonly onSocketError = (err: Error): void => {
    this.lastSocketError ??= err;
  };

  private readonly onSocketClose = (): void => {
    const cause = this.lastSocketError;
    this.destroy(KvError.connectionClosed(cause === null ? 'closed by peer' : `closed: ${cause.message}`, { node: this.peer }, cause ?? undefined));
  };
}

/** First 8 hex digits of a key, for messages. */
export function short(peer: string): string {
  return peer.slice(0, 8);
}
