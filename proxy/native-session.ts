import type { WebSocket, RawData } from 'ws';
import type { Socket } from 'node:net';
import { KvError, statusFromError } from '../shared/errors.js';
import { Status } from '../shared/status.js';
import { Op, isIdempotent } from '../shared/protocol/ops.js';
import { decodeRequests, encodeMessage } from '../shared/protocol/codec.js';
import type { Request } from '../shared/protocol/frames.js';
import { binaryToWire } from '../shared/protocol/binary-key.js';
import type { Upstream } from './upstream.js';
import type { ScanService } from './scan-service.js';
import type { ProxyOptions } from './options.js';
import type { ProxyMetrics } from './metrics.js';
import { insecureAuthAnswer } from '../shared/auth/index.js';

/** Per-connection gate run before each request (auth and roles); null lets it through. */
export type RequestGate = (req: Request, extra: Record<string, unknown> | undefined) => Promise<unknown[] | null> | unknown[] | null;

/**
 * One thin client speaking the native protocol to the proxy: each frame is routed with
 * the SDK's router to its owner over a pre-opened lane, answers are batched back with
 * the client's ids, one message per event-loop turn. In-flight work per client is bounded.
 *
 * The hot path is callbacks, not promises: a GET or SET costs no async function, no
 * promise and no microtask hop of its own between the client's message and the lane,
 * and the frames of one client message share one lane per owner.
 */
export class NativeSession {
  private inFlight = 0;
  private outbox: unknown[][] = [];
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
    const decoded = decodeRequests(data, this.options);
    if (decoded.fatal !== null) {
      this.fatal(decoded.fatal.status, decoded.fatal.message, decoded.fatal.status === Status.TOO_LARGE ? 1009 : 1007);
      return;
    }
    for (const e of decoded.errors) this.reply([e.id, e.status, null, 0, 0, { message: e.message }]);
    const requests = decoded.requests;
    if (requests.length === 0) return;
    // The frames of one message arrive together: one clock read for all of them.
    const started = performance.now();
    const deadline = Date.now() + this.options.timeoutMs;
    const max = this.options.maxInFlightPerClient;
    for (const req of requests) {
      if (this.inFlight >= max) {
        this.reply([req.id, Status.BUSY, null, 0, 0, { message: 'too many requests in flight', retryAfterMs: 1 }]);
        continue;
      }
      this.inFlight++;
      this.start(req, started, deadline);
    }
  };

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
      this.fail(req, started, err);
      return;
    }
    if (verdict === null) {
      this.execute(req, started, deadline);
    } else if (isThenable(verdict)) {
      verdict.then(
        (refused) => (refused !== null ? this.finish(req, started, refused) : this.execute(req, started, Date.now() + this.options.timeoutMs)),
        (err: unknown) => this.fail(req, started, err),
      );
    } else {
      this.finish(req, started, verdict);
    }
  }

  private execute(req: Request, started: number, deadline: number): void {
    try {
      if (req.op === Op.AUTH) {
        this.finish(req, started, insecureAuthAnswer(req, 'proxy'));
      } else if (req.op === Op.PING) {
        this.finish(req, started, [req.id, Status.OK, null, 0, 0, { epoch: this.upstream.current()?.epoch ?? 0 }]);
      } else if (req.op === Op.SCAN) {
        this.scans.scan(req, req.cursor).then((frame) => this.finish(req, started, frame), (err: unknown) => this.fail(req, started, err));
      } else if (req.op === Op.STATS) {
        this.finish(req, started, [req.id, Status.OK, this.metrics.snapshot()]);
      } else {
        this.forward(req, started, deadline);
      }
    } catch (err) {
      this.fail(req, started, err);
    }
  }

  private forward(req: Request, started: number, deadline: number): void {
    const key = binaryToWire(req.key);
    const frame: unknown[] = [0, req.op, 0, key, req.value, req.flags, req.exptime, req.cas, forwardedExtra(req)];
    this.upstream.dispatcher.sendCb(frame, {
      key, isIdempotent: isIdempotent(req.op), valueBytes: req.value?.length ?? 0,
    }, deadline, (err, r) => {
      if (r !== null) this.finish(req, started, [req.id, r.status, r.value ?? null, r.cas, r.flags, r.extra ?? null]);
      else this.fail(req, started, err);
    });
  }

  private fail(req: Request, started: number, err: unknown): void {
    const kv = err instanceof KvError ? err : KvError.internal(err instanceof Error ? err.message : String(err));
    this.finish(req, started, [req.id, statusFromError(kv), null, 0, 0, { message: kv.message, code: kv.code }]);
  }

  private finish(req: Request, started: number, frame: unknown[]): void {
    this.metrics.observe(req.op, frame[1] as number, performance.now() - started);
    this.inFlight--;
    this.reply(frame);
  }

  private reply(frame: unknown[]): void {
    if (this.isClosed) return;
    this.outbox.push(frame);
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
    const frames = this.outbox;
    this.outbox = [];
    this.ws.send(encodeMessage(frames), SEND_OPTIONS);
    // Backpressure: stop reading a client that does not read its answers.
    if (this.ws.bufferedAmount > this.options.highWaterMarkBytes && !this.ws.isPaused) {
      this.ws.pause();
      this.socket.once('drain', () => this.ws.resume());
    }
  };

  private fatal(status: number, message: string, code: number): void {
    this.ws.send(encodeMessage([[0, status, null, 0, 0, { message }]]));
    this.ws.close(code, message.slice(0, 100));
  }
}

// Binary, uncompressed (the proxy never negotiates per-message deflate), one final frame.
const SEND_OPTIONS = Object.freeze({ binary: true, compress: false, fin: true });

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
