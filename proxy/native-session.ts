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
 * the SDK's router to its owner over a pre-opened lane, answers are batched back per
 * microtask with the client's ids. In-flight work per client is bounded.
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
    for (const req of decoded.requests) {
      if (this.inFlight >= this.options.maxInFlightPerClient) {
        this.reply([req.id, Status.BUSY, null, 0, 0, { message: 'too many requests in flight', retryAfterMs: 1 }]);
        continue;
      }
      this.inFlight++;
      void this.handle(req).then((frame) => {
        this.inFlight--;
        this.reply(frame);
      });
    }
  };

  private async handle(req: Request): Promise<unknown[]> {
    const started = performance.now();
    let frame: unknown[];
    try {
      frame = await this.execute(req);
    } catch (err) {
      const kv = err instanceof KvError ? err : KvError.internal(err instanceof Error ? err.message : String(err));
      frame = [req.id, statusFromError(kv), null, 0, 0, { message: kv.message, code: kv.code }];
    }
    this.metrics.observe(req.op, frame[1] as number, performance.now() - started);
    return frame;
  }

  private async execute(req: Request): Promise<unknown[]> {
    if (this.gate !== null) {
      const refused = await this.gate(req, undefined);
      if (refused !== null) return refused;
    }
    if (req.op === Op.AUTH) return insecureAuthAnswer(req, 'proxy');
    if (req.op === Op.PING) return [req.id, Status.OK, null, 0, 0, { epoch: this.upstream.current()?.epoch ?? 0 }];
    if (req.op === Op.SCAN) return this.scans.scan(req, req.cursor);
    if (req.op === Op.STATS) return [req.id, Status.OK, this.metrics.snapshot()];
    const key = binaryToWire(req.key);
    const frame: unknown[] = [0, req.op, 0, key, req.value, req.flags, req.exptime, req.cas, forwardedExtra(req)];
    const r = await this.upstream.dispatcher.send(frame, {
      key, isIdempotent: isIdempotent(req.op), valueBytes: req.value?.length ?? 0,
    }, Date.now() + this.options.timeoutMs);
    return [req.id, r.status, r.value ?? null, r.cas, r.flags, r.extra ?? null];
  }

  private reply(frame: unknown[]): void {
    if (this.isClosed) return;
    this.outbox.push(frame);
    if (!this.isFlushScheduled) {
      this.isFlushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.isFlushScheduled = false;
    if (this.isClosed || this.outbox.length === 0) return;
    const frames = this.outbox;
    this.outbox = [];
    this.ws.send(encodeMessage(frames));
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

function forwardedExtra(req: Request): Record<string, unknown> | null {
  const extra: Record<string, unknown> = {};
  if (req.op === Op.INCR || req.op === Op.DECR) {
    extra.delta = req.delta <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(req.delta) : req.delta;
    if (req.initial !== undefined) extra.initial = req.initial <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(req.initial) : req.initial;
  }
  if (req.durability !== 'none') extra.durability = req.durability;
  return Object.keys(extra).length === 0 ? null : extra;
}
