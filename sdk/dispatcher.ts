import { KvError, errorFromStatus } from '../shared/errors.js';
import { Status } from '../shared/status.js';
import type { Response } from '../shared/protocol/frames.js';
import type { MapSource } from './map-source.js';
import type { LanePool } from './lane-pool.js';
import type { Lane } from './lane.js';
import type { RawRequest, RawSettle } from './lane-contract.js';
import { answerResponse, requestFrameArray } from '../shared/protocol/raw-frames.js';
import { Router } from './router.js';
import { backoffDelay, delay } from './backoff.js';

/** How one request is sent: where to, whether a blind retry is safe. */
export interface SendPlan {
  /** Key that decides the node; null with `address` set for node-addressed requests. */
  key: string | Uint8Array | null;
  /** Explicit node, for scans and stats. */
  address?: string;
  /** Read from a replica instead of the active. */
  isReplicaRead?: boolean;
  /** Safe to send again even if the first attempt may have executed. */
  isIdempotent: boolean;
  /** Value bytes, for batch sizing. */
  valueBytes: number;
}

/** Callback form of `send`'s outcome: exactly one of `err` and `response` is set. */
export type SendCallback = (err: unknown, response: Response | null) => void;

/**
 * A request forwarded as bytes (`Lane.requestRaw`), with what routing and retrying need.
 * The key is the frame's key bytes.
 */
export interface RawSend extends RawRequest, SendPlan {
  key: Uint8Array;
  deadline: number;
  /** The owner's answer as it came: status and the still-encoded fields after it. */
  onRawAnswer(status: number, fieldCount: number, fields: Uint8Array): void;
  /** The outcome when the request went through the retrying path: exactly one of `err` and `response` is set. */
  onAnswer(err: unknown, response: Response | null): void;
}

/** Why a request went through the proxy instead of straight to its node. */
export type FallbackReason = 'no-map' | 'owner-unreachable';

export interface DispatcherOptions {
  backoffMs: readonly number[];
  /** Fail at once when the owner is down instead of retrying until the deadline. @default false */
  isFailFast?: boolean;
  /** Send here (a proxy) when the map is unavailable or the owner unreachable. @default null */
  fallback?: { pool: LanePool; address: string; onFallback: (reason: FallbackReason) => void } | null;
}

/** Retries in a row that a newer map sends at once, before the backoff schedule applies to them too. */
const MAX_MAP_RETRIES = 4;

/**
 * Sends frames to the right node and applies the retry rules of DESIGN §10:
 * NOT_MY_BUCKET waits for a newer map and retries by it at once; failures known not to have executed retry with
 * backoff; a request that may have executed is re-sent only when idempotent. With a
 * fallback, a request that cannot go direct goes through the proxy.
 */
export class Dispatcher {
  private router: Router | null = null;
  private readonly backoffMs: readonly number[];
  /**
   * The lane each address's requests go to while it is open and has room: with several
   * lanes per node, spreading requests round-robin splits what would be one message into
   * one per lane, and the node answers each lane separately, so every request would pay
   * for more socket writes and reads on both sides. The next lane is used only when this
   * one is full or gone.
   */
  private readonly stickyLanes = new Map<string, Lane>();

  constructor(private readonly source: MapSource, private readonly pool: LanePool, private readonly options: DispatcherOptions) {
    this.backoffMs = options.backoffMs;
  }

  /** The router for the current map. @throws KvError UNAVAILABLE when no map is known. */
  currentRouter(): Router {
    const map = this.source.current();
    if (map === null) throw KvError.unavailable('no cluster map yet', { isSafeToRetry: true });
    if (this.router === null || this.router.map !== map) this.router = new Router(map);
    return this.router;
  }

  /** Send `frame` per `plan` and resolve with an OK-or-expected answer before `deadline`. */
  send(frame: unknown[], plan: SendPlan, deadline: number): Promise<Response> {
    // Fast path, no async frame of its own: route, send, and hand anything unusual
    // (no map, owner down, NOT_MY_BUCKET, BUSY, a failure) to the retrying path.
    const map = this.source.current();
    if (map === null) return this.sendWithRetries(frame, plan, deadline);
    let lane;
    try {
      const router = this.currentRouter();
      frame[2] = map.epoch;
      lane = this.laneFor(plan.address ?? this.pick(router, plan));
    } catch {
      return this.sendWithRetries(frame, plan, deadline);
    }
    return lane.request(frame, deadline, plan.valueBytes).then(
      (r) => (r.status === Status.NOT_MY_BUCKET || r.status === Status.BUSY ? this.sendWithRetries(frame, plan, deadline, r) : r),
      (e: unknown) => this.sendWithRetries(frame, plan, deadline, undefined, e),
    );
  }

  /**
   * `send` with a callback instead of a promise: same routing, retries and errors, but the
   * common case (owner up, answer OK) costs no promise. `done` is never called
   * synchronously from inside this call.
   */
  sendCb(frame: unknown[], plan: SendPlan, deadline: number, done: SendCallback): void {
    const map = this.source.current();
    let lane: Lane | null = null;
    if (map !== null) {
      try {
        const router = this.currentRouter();
        frame[2] = map.epoch;
        lane = this.laneFor(plan.address ?? this.pick(router, plan));
      } catch {
        lane = null;
      }
    }
    if (lane === null) {
      this.sendWithRetries(frame, plan, deadline).then((r) => done(null, r), (e: unknown) => done(e, null));
      return;
    }
    let isRefusedNow = true;
    lane.requestCb(frame, deadline, plan.valueBytes, (err, r) => {
      if (isRefusedNow) {
        // Refused inside requestCb (lane closed, queue full): keep `done` asynchronous.
        queueMicrotask(() => this.settleCb(frame, plan, deadline, done, err, r));
        return;
      }
      this.settleCb(frame, plan, deadline, done, err, r);
    });
    isRefusedNow = false;
  }

  /**
   * `sendCb` for a request already encoded: routed by its key bytes, sent with the
   * current epoch, and answered with the owner's bytes (`onRawAnswer`). NOT_MY_BUCKET,
   * BUSY, failures and a missing route go through the same retrying path as `send`, the
   * frame decoded for it, and end in `onAnswer`. Never answers synchronously.
   */
  sendRaw(req: RawSend): void {
    const map = this.source.current();
    if (map !== null) {
      let lane: Lane | null = null;
      try {
        lane = this.laneFor(req.address ?? this.pick(this.currentRouter(), req));
      } catch {
        lane = null;
      }
      if (lane !== null) {
        lane.requestRaw(req, map.epoch, req.deadline, req.valueBytes, this.settleRaw);
        return;
      }
    }
    this.retryRaw(req, undefined, undefined);
  }

  // Only sendRaw hands this to a lane, always with a RawSend.
  private readonly settleRaw: RawSettle = (raw, err, status, fieldCount, fields, response) => {
    const req = raw as RawSend;
    if (err !== null) {
      this.retryRaw(req, undefined, err);
    } else if (status === Status.NOT_MY_BUCKET || status === Status.BUSY) {
      this.retryRaw(req, response ?? answerResponse(status, fieldCount, fields!), undefined);
    } else if (fields !== null) {
      req.onRawAnswer(status, fieldCount, fields);
    } else {
      req.onAnswer(null, response);
    }
  };

  private retryRaw(req: RawSend, firstResponse: Response | undefined, firstError: unknown): void {
    const frame = requestFrameArray(req.fieldCount, req.op, req.tail);
    this.sendWithRetries(frame, req, req.deadline, firstResponse, firstError).then((r) => req.onAnswer(null, r), (e: unknown) => req.onAnswer(e, null));
  }

  private settleCb(frame: unknown[], plan: SendPlan, deadline: number, done: SendCallback, err: KvError | null, r: Response | null): void {
    if (err === null && r!.status !== Status.NOT_MY_BUCKET && r!.status !== Status.BUSY) {
      done(null, r);
      return;
    }
    const retried = err === null ? this.sendWithRetries(frame, plan, deadline, r!) : this.sendWithRetries(frame, plan, deadline, undefined, err);
    retried.then((x) => done(null, x), (e: unknown) => done(e, null));
  }

  private laneFor(address: string): Lane {
    const lane = this.stickyLanes.get(address);
    if (lane !== undefined && lane.isOpen && lane.hasRoom) return lane;
    const picked = this.pool.get(address);
    this.stickyLanes.set(address, picked);
    return picked;
  }

  private async sendWithRetries(frame: unknown[], plan: SendPlan, deadline: number, firstResponse?: Response, firstError?: unknown): Promise<Response> {
    // Retries that follow a newer map go at once; the backoff schedule counts only the others.
    let backoffs = 0;
    let mapRetries = 0;
    for (let attempt = 0; ; attempt++) {
      let err: KvError;
      let address: string | undefined;
      try {
        const router = this.routerOrFallback(plan);
        if (router === null) return await this.viaFallback(frame, plan, deadline, 'no-map');
        frame[2] = router.map.epoch;
        address = plan.address ?? this.pick(router, plan);
        if (attempt === 0 && firstError !== undefined) throw firstError;
        const response = attempt === 0 && firstResponse !== undefined
          ? firstResponse
          : await this.pool.get(address).request(frame, deadline, plan.valueBytes);
        if (response.status === Status.NOT_MY_BUCKET) {
          const epoch = typeof response.extra?.epoch === 'number' ? response.extra.epoch : router.map.epoch + 1;
          err = errorFromStatus(Status.NOT_MY_BUCKET, undefined, { epoch, node: address });
          const sentEpoch = router.map.epoch;
          const next = await this.source.refresh(epoch, deadline).catch(() => null);
          // Waiting for the map was the pause: a newer one routes the retry at once.
          if (next !== null && next.epoch > sentEpoch && mapRetries++ < MAX_MAP_RETRIES) continue;
        } else if (response.status === Status.BUSY) {
          err = errorFromStatus(Status.BUSY, undefined, { node: address });
        } else {
          return response;
        }
      } catch (e) {
        if (!(e instanceof KvError)) throw e;
        err = e;
        if (err.code === 'KV_ERR_UNAVAILABLE' && err.details.isSafeToRetry === true && this.options.fallback && plan.address === undefined) {
          return this.viaFallback(frame, plan, deadline, 'owner-unreachable');
        }
        const retryable = err.details.isSafeToRetry === true || (plan.isIdempotent && err.code === 'KV_ERR_CONNECTION_CLOSED');
        if (!retryable || err.code === 'KV_ERR_TIMEOUT') throw err;
        if (this.options.isFailFast && err.code === 'KV_ERR_UNAVAILABLE') throw err;
      }
      const wait = backoffDelay(this.backoffMs, backoffs++);
      if (Date.now() + wait >= deadline) throw err;
      await delay(wait);
    }
  }

  /** The router, or null when there is no map but a proxy to fall back on. */
  private routerOrFallback(plan: SendPlan): Router | null {
    try {
      return this.currentRouter();
    } catch (err) {
      if (this.options.fallback && plan.address === undefined) return null;
      throw err;
    }
  }

  private async viaFallback(frame: unknown[], plan: SendPlan, deadline: number, reason: FallbackReason): Promise<Response> {
    const fb = this.options.fallback!;
    fb.onFallback(reason);
    // The proxy routes with its own map; the epoch the client knows means nothing there.
    frame[2] = 0;
    const response = await fb.pool.get(fb.address).request(frame, deadline, plan.valueBytes);
    return response;
  }

  private pick(router: Router, plan: SendPlan): string {
    const key = plan.key!;
    if (plan.isReplicaRead) {
      const replicas = router.replicaAddresses(key);
      if (replicas.length > 0) return replicas[Math.floor(Math.random() * replicas.length)]!;
    }
    const address = router.activeAddress(key);
    if (address === null) throw KvError.unavailable('the owner of this key is down', { isSafeToRetry: true });
    return address;
  }
}
