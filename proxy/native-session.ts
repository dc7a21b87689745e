import type { WebSocket, RawData } from 'ws';
import type { Socket } from 'node:net';
import { KvError, statusFromError } from '../shared/errors.js';
import { Status } from '../shared/status.js';
import { Op, isBackupOp, isIdempotent, type OpCode } from '../shared/protocol/ops.js';
import { decodeRequests, encodeFrame, encodeMessage } from '../shared/protocol/codec.js';
import { answerFrame, errorAnswer, extraAnswer, requestFrame, valueAnswer, type Request, type Response } from '../shared/protocol/frames.js';
import {
  PLAIN_STRIDE, PlainField as P, answerFrameBytes, answerResponse, headBytes, plainFrames, scanPlainRequests, writeAnswerFrame, writeHead,
} from '../shared/protocol/raw-frames.js';
import type { DispatchRequest } from '../sdk/dispatch-request.js';
import { binaryToWire } from '../shared/protocol/binary-key.js';
import type { Upstream } from './upstream.js';
import type { ScanService } from './scan-service.js';
import type { ProxyOptions, RequestGate } from './options.js';
import type { ProxyMetrics } from './metrics.js';
import { insecureAuthAnswer } from '../shared/auth/index.js';

/**
 * One thin client speaking the native protocol to the proxy: each frame is routed with
 * the SDK's router to its owner over a pre-opened lane, answers are batched back with
 * the client's ids, one message per event-loop turn. In-flight work per client is bounded.
 *
 * The hot path is callbacks, not promises: a GET or SET costs no async function, no
 * promise and no microtask hop of its own between the client's message and the lane.
 * A message of plain frames (keyed ops without `extra`, no gate) is not decoded at all:
 * each frame's bytes go upstream with only the id and epoch rewritten, and the node's
 * answer goes back with only the id rewritten (see `raw-frames.ts`).
 */
export class NativeSession {
  private inFlight = 0;
  private outbox: Array<unknown[] | Forwarded> = [];
  private readonly sink: ForwardSink = {
    raw: (f) => this.finishForwarded(f),
    settled: (f, err, r) => {
      if (r !== null) this.finish(f.op, f.started, answerFrame(f.id, r.status, r.value ?? null, r.cas, r.flags, r.extra ?? null));
      else this.fail(f.id, f.op, f.started, err);
    },
  };
  private readonly frameSink: FrameSink = {
    answered: (f, r) => this.finish(f.req.op, f.started, answerFrame(f.req.id, r.status, r.value ?? null, r.cas, r.flags, r.extra ?? null)),
    failed: (f, err) => this.fail(f.req.id, f.req.op, f.started, err),
  };
  private isFlushScheduled = false;
  private isClosed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    private readonly upstream: Upstream,
    private readonly scans: ScanService,
    private readonly options: ProxyOptions,
    private readonly metrics: ProxyMetrics,
    private readonly gate: RequestGate | null,
  ) {
    ws.on('message', this.onMessage);
    ws.on('error', () => undefined);
    ws.once('close', () => { this.isClosed = true; });
  }

  private readonly onMessage = (data: RawData, isBinary: boolean): void => {
    if (!isBinary || !(data instanceof Uint8Array)) {
      this.fatal(Status.BAD_REQUEST, 'messages must be binary CBOR', 1003);
      return;
    }
    if (this.gate === null) {
      const count = scanPlainRequests(data, this.options);
      if (count > 0) {
        this.forwardPlain(data, count);
        return;
      }
    }
    const decoded = decodeRequests(data, this.options);
    if (decoded.fatal !== null) {
      this.fatal(decoded.fatal.status, decoded.fatal.message, decoded.fatal.status === Status.TOO_LARGE ? 1009 : 1007);
      return;
    }
    for (const e of decoded.errors) this.reply(errorAnswer(e.id, e.status, e.message));
    const requests = decoded.requests;
    if (requests.length === 0) return;
    // The frames of one message arrive together: one clock read for all of them.
    const started = performance.now();
    const deadline = Date.now() + this.options.timeoutMs;
    const max = this.options.maxInFlightPerClient;
    for (const req of requests) {
      if (this.inFlight >= max) {
        this.reply(extraAnswer(req.id, Status.BUSY, { message: 'too many requests in flight', retryAfterMs: 1 }));
        continue;
      }
      this.inFlight++;
      this.start(req, started, deadline);
    }
  };

  private forwardPlain(data: Uint8Array, count: number): void {
    const f = plainFrames();
    const started = performance.now();
    const deadline = Date.now() + this.options.timeoutMs;
    const max = this.options.maxInFlightPerClient;
    const dispatcher = this.upstream.dispatcher;
    for (let i = 0, base = 0; i < count; i++, base += PLAIN_STRIDE) {
      const id = f[base + P.ID]!;
      if (this.inFlight >= max) {
        this.reply(extraAnswer(id, Status.BUSY, { message: 'too many requests in flight', retryAfterMs: 1 }));
        continue;
      }
      this.inFlight++;
      dispatcher.dispatch(new Forwarded(
        this.sink, id, f[base + P.OP]!, f[base + P.FIELD_COUNT]!,
        data.subarray(f[base + P.KEY_START]!, f[base + P.KEY_END]!), data.subarray(f[base + P.TAIL_START]!, f[base + P.FRAME_END]!),
        f[base + P.VALUE_BYTES]!, deadline, started,
      ));
    }
  }

  /** Gate, then execute; every path ends in exactly one `finish`. */
  private start(req: Request, started: number, deadline: number): void {
    const gate = this.gate;
    if (gate === null) {
      this.execute(req, started, deadline);
      return;
    }
    let verdict: Promise<unknown[] | null> | unknown[] | null;
    try {
      verdict = gate(req, undefined);
    } catch (err) {
      this.fail(req.id, req.op, started, err);
      return;
    }
    if (verdict === null) {
      this.execute(req, started, deadline);
    } else if (isThenable(verdict)) {
      verdict.then(
        (refused) => (refused !== null ? this.finish(req.op, started, refused) : this.execute(req, started, Date.now() + this.options.timeoutMs)),
        (err: unknown) => this.fail(req.id, req.op, started, err),
      );
    } else {
      this.finish(req.op, started, verdict);
    }
  }

  private execute(req: Request, started: number, deadline: number): void {
    try {
      if (req.op === Op.AUTH) {
        this.finish(req.op, started, insecureAuthAnswer(req, 'proxy'));
      } else if (req.op === Op.PING) {
        this.finish(req.op, started, extraAnswer(req.id, Status.OK, { epoch: this.upstream.current()?.epoch ?? 0 }));
      } else if (req.op === Op.SCAN) {
        this.scans.scan(req, req.cursor).then((frame) => this.finish(req.op, started, frame), (err: unknown) => this.fail(req.id, req.op, started, err));
      } else if (req.op === Op.STATS) {
        this.finish(req.op, started, valueAnswer(req.id, this.metrics.snapshot()));
      } else if (isBackupOp(req.op)) {
        // A backup reads each unit from its active node directly (docs/backup.md).
        this.finish(req.op, started, errorAnswer(req.id, Status.BAD_REQUEST, 'backup ops go to the data nodes, not through the proxy'));
      } else {
        this.forward(req, started, deadline);
      }
    } catch (err) {
      this.fail(req.id, req.op, started, err);
    }
  }

  private forward(req: Request, started: number, deadline: number): void {
    const key = binaryToWire(req.key);
    const frame = requestFrame(req.op, 0, key, req.value, req.flags, req.exptime, req.cas, forwardedExtra(req));
    this.upstream.dispatcher.dispatch(new ForwardedFrame(this.frameSink, req, frame, key, deadline, started));
  }

  private fail(id: number, op: number, started: number, err: unknown): void {
    const kv = err instanceof KvError ? err : KvError.internal(err instanceof Error ? err.message : String(err));
    this.finish(op, started, extraAnswer(id, statusFromError(kv), { message: kv.message, code: kv.code }));
  }

  private finish(op: number, started: number, frame: unknown[]): void {
    this.metrics.observe(op, frame[1] as number, performance.now() - started);
    this.inFlight--;
    this.reply(frame);
  }

  /** A plain frame's answer, as the node sent it. */
  private finishForwarded(f: Forwarded): void {
    this.metrics.observe(f.op, f.status, performance.now() - f.started);
    this.inFlight--;
    if (this.isClosed) return;
    this.outbox.push(f);
    this.scheduleFlush();
  }

  private reply(frame: unknown[]): void {
    if (this.isClosed) return;
    this.outbox.push(frame);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.isFlushScheduled) {
      this.isFlushScheduled = true;
      // Once per event-loop turn: answers from every lane that reported in this I/O phase
      // go back to the client in one message.
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.isFlushScheduled = false;
    if (this.isClosed || this.outbox.length === 0) return;
    const items = this.outbox;
    this.outbox = [];
    this.ws.send(encodeAnswers(items), SEND_OPTIONS);
    // Backpressure: stop reading a client that does not read its answers.
    if (this.ws.bufferedAmount > this.options.highWaterMarkBytes && !this.ws.isPaused) {
      this.ws.pause();
      this.socket.once('drain', () => this.ws.resume());
    }
  };

  private fatal(status: number, message: string, code: number): void {
    this.ws.send(encodeMessage([errorAnswer(0, status, message)]));
    this.ws.close(code, message.slice(0, 100));
  }
}

// Binary, uncompressed (the proxy never negotiates per-message deflate), one final frame.
const SEND_OPTIONS = Object.freeze({ binary: true, compress: false, fin: true });

/** Where a forwarded plain frame reports: its answer as bytes, or the outcome of the retrying path. */
interface ForwardSink {
  raw(f: Forwarded): void;
  settled(f: Forwarded, err: unknown, response: Response | null): void;
}

/** A plain frame on its way to its owner, and then its answer on the way back. */
class Forwarded implements DispatchRequest {
  readonly isIdempotent: boolean;
  readonly frame = null;
  readonly raw = this;
  readonly address = undefined;
  readonly isReplicaRead = undefined;
  status = 0;
  answerFieldCount = 0;
  answerFields: Uint8Array | null = null;

  constructor(
    private readonly sink: ForwardSink,
    /** The client's id. */
    readonly id: number,
    readonly op: number,
    readonly fieldCount: number,
    readonly key: Uint8Array,
    readonly tail: Uint8Array,
    readonly valueBytes: number,
    readonly deadline: number,
    readonly started: number,
  ) {
    this.isIdempotent = isIdempotent(op as OpCode);
  }

  onRawAnswer(status: number, fieldCount: number, fields: Uint8Array): void {
    this.status = status;
    this.answerFieldCount = fieldCount;
    this.answerFields = fields;
    this.sink.raw(this);
  }

  onAnswer(response: Response): void {
    this.sink.settled(this, null, response);
  }

  onError(err: unknown): void {
    this.sink.settled(this, err, null);
  }
}

/** Where a decoded frame forwarded to its owner reports. */
interface FrameSink {
  answered(f: ForwardedFrame, response: Response): void;
  failed(f: ForwardedFrame, err: unknown): void;
}

/** A decoded client frame (one with `extra`, or behind the gate), re-encoded and sent to its owner. */
class ForwardedFrame implements DispatchRequest {
  readonly raw = null;
  readonly address = undefined;
  readonly isReplicaRead = undefined;
  readonly isIdempotent: boolean;
  readonly valueBytes: number;

  constructor(
    private readonly sink: FrameSink,
    readonly req: Request,
    readonly frame: unknown[],
    readonly key: string | Uint8Array,
    readonly deadline: number,
    readonly started: number,
  ) {
    this.isIdempotent = isIdempotent(req.op);
    this.valueBytes = req.value?.length ?? 0;
  }

  onAnswer(response: Response): void {
    this.sink.answered(this, response);
  }

  onRawAnswer(status: number, fieldCount: number, fields: Uint8Array): void {
    this.sink.answered(this, answerResponse(status, fieldCount, fields));
  }

  onError(err: unknown): void {
    this.sink.failed(this, err);
  }
}

/** The answers of one flush as one message: the codec's encoding, or built from parts when some came as bytes. */
function encodeAnswers(items: ReadonlyArray<unknown[] | Forwarded>): Uint8Array {
  let hasRaw = false;
  for (const item of items) if (!Array.isArray(item)) hasRaw = true;
  if (!hasRaw) return encodeMessage(items);
  const encoded: Array<Uint8Array | null> = new Array(items.length);
  let size = headBytes(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (Array.isArray(item)) {
      const e = encodeFrame(item);
      encoded[i] = e;
      size += e.length;
    } else {
      encoded[i] = null;
      size += answerFrameBytes(item.id, item.status, item.answerFieldCount, item.answerFields!);
    }
  }
  const out = Buffer.allocUnsafe(size);
  let pos = writeHead(out, 0, 4, items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const e = encoded[i];
    if (e == null) {
      const f = item as Forwarded;
      pos = writeAnswerFrame(out, pos, f.id, f.status, f.answerFieldCount, f.answerFields!);
    } else {
      out.set(e, pos);
      pos += e.length;
    }
  }
  return out;
}

function isThenable(v: unknown): v is Promise<unknown[] | null> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

function forwardedExtra(req: Request): Record<string, unknown> | null {
  if (req.durability === 'none' && req.op !== Op.INCR && req.op !== Op.DECR) return null;
  const extra: Record<string, unknown> = {};
  if (req.op === Op.INCR || req.op === Op.DECR) {
    extra.delta = req.delta <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(req.delta) : req.delta;
    if (req.initial !== undefined) extra.initial = req.initial <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(req.initial) : req.initial;
  }
  if (req.durability !== 'none') extra.durability = req.durability;
  return Object.keys(extra).length === 0 ? null : extra;
}
