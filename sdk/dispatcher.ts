import { KvError, errorFromStatus, ErrorCode } from '../shared/errors.js';
import { Status } from '../shared/status.js';
import { rethrowAtCaller } from '../shared/caller-stack.js';
import type { Response } from '../shared/protocol/frames.js';
import type { MapSource } from './map-source.js';
import type { LanePool } from './lane-pool.js';
import type { Lane } from './lane.js';
import type { LaneRequest, RawRequest } from './lane-contract.js';
import type { DispatchRequest, SendPlan } from './dispatch-request.js';
import { DispatchPromise } from './request-forms.js';
import { answerResponse, requestFrameArray } from '../shared/protocol/raw-frames.js';
import { Router } from './router.js';
import { backoffDelay, delay } from './backoff.js';

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

  /**
   * The one way in: route `req` to its node (or the proxy), send it with the map's epoch,
   * retry it by the rules above and report its outcome to it, never from inside this
   * call. The common case (owner up, answer OK) costs one `Attempt` and no promise.
   */
  dispatch(req: DispatchRequest): void {
    const map = this.source.current();
    if (map !== null) {
      let lane: Lane | null = null;
      try {
        lane = this.laneFor(req.address ?? this.pick(this.currentRouter(), req));
      } catch {
        lane = null;
      }
      if (lane !== null) {
        lane.enqueue(new Attempt(this, req, map.epoch));
        return;
      }
    }
    this.retry(req, undefined, undefined);
  }

  /** `dispatch` as a promise of the answer; a timeout names the caller (`rethrowAtCaller`). */
  send(frame: unknown[], plan: SendPlan, deadline: number): Promise<Response> {
    return new Promise<Response>((resolve, reject) => this.dispatch(new DispatchPromise(frame, plan, deadline, sameResponse, resolve, reject))).then(undefined, rethrowAtCaller);
  }

  /**
   * The retrying path, for whatever the first attempt could not finish: no map, no lane,
   * NOT_MY_BUCKET, BUSY or a failure. A raw request goes on as its decoded frame.
   * @internal
   */
  retry(req: DispatchRequest, firstResponse: Response | undefined, firstError: unknown): void {
    const frame = req.frame ?? rawFrame(req.raw!);
    this.sendWithRetries(frame, req, req.deadline, firstResponse, firstError).then(
      (r) => req.onAnswer(r),
      (e: unknown) => req.onError(e),
    );
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
    // A replica whose copy is not whole yet sends a replica read on to the active.
    let isActiveOnly = false;
    for (let attempt = 0; ; attempt++) {
      let err: KvError;
      let address: string | undefined;
      try {
        const router = this.routerOrFallback(plan);
        if (router === null) return await this.viaFallback(frame, plan, deadline, 'no-map');
        frame[2] = router.map.epoch;
        address = plan.address ?? this.pick(router, plan, isActiveOnly);
        if (attempt === 0 && firstError !== undefined) throw firstError;
        const response = attempt === 0 && firstResponse !== undefined
          ? firstResponse
          : await this.pool.get(address).request(frame, deadline, plan.valueBytes);
        if (response.status === Status.NOT_MY_BUCKET) {
          const epoch = typeof response.extra?.epoch === 'number' ? response.extra.epoch : router.map.epoch + 1;
          err = errorFromStatus(Status.NOT_MY_BUCKET, undefined, { epoch, node: address });
          const sentEpoch = router.map.epoch;
          if (plan.isReplicaRead && !isActiveOnly && response.extra?.copy === 'incomplete' && epoch === sentEpoch) {
            isActiveOnly = true;
            continue;
          }
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
        if (err.code === ErrorCode.UNAVAILABLE && err.details.isSafeToRetry === true && this.options.fallback && plan.address === undefined) {
          return this.viaFallback(frame, plan, deadline, 'owner-unreachable');
        }
        const retryable = err.details.isSafeToRetry === true || (plan.isIdempotent && err.code === ErrorCode.CONNECTION_CLOSED);
        if (!retryable || err.code === ErrorCode.TIMEOUT) throw err;
        if (this.options.isFailFast && err.code === ErrorCode.UNAVAILABLE) throw err;
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

  private pick(router: Router, plan: SendPlan, isActiveOnly = false): string {
    const key = plan.key!;
    if (plan.isReplicaRead && !isActiveOnly) {
      const replicas = router.replicaAddresses(key);
      if (replicas.length > 0) return replicas[Math.floor(Math.random() * replicas.length)]!;
    }
    const address = router.activeAddress(key);
    if (address === null) throw KvError.unavailable('the owner of this key is down', { isSafeToRetry: true });
    return address;
  }
}

/**
 * One try of a dispatched request on one lane, with the map epoch it was routed by: an
 * answer the caller handles goes straight to it, anything else to the retrying path.
 */
class Attempt implements LaneRequest {
  id = 0;
  isSent = false;
  readonly frame: unknown[] | null;
  readonly raw: RawRequest | null;
  readonly deadline: number;
  readonly valueBytes: number;

  constructor(private readonly dispatcher: Dispatcher, private readonly req: DispatchRequest, readonly epoch: number) {
    this.frame = req.frame;
    if (req.frame !== null) req.frame[2] = epoch;
    this.raw = req.raw;
    this.deadline = req.deadline;
    this.valueBytes = req.valueBytes;
  }

  onAnswer(response: Response): void {
    if (response.status === Status.NOT_MY_BUCKET || response.status === Status.BUSY) this.dispatcher.retry(this.req, response, undefined);
    else this.req.onAnswer(response);
  }

  onRawAnswer(status: number, fieldCount: number, fields: Uint8Array): void {
    if (status === Status.NOT_MY_BUCKET || status === Status.BUSY) this.dispatcher.retry(this.req, answerResponse(status, fieldCount, fields), undefined);
    else this.req.onRawAnswer(status, fieldCount, fields);
  }

  onError(err: KvError): void {
    this.dispatcher.retry(this.req, undefined, err);
  }
}

function sameResponse(r: Response): Response {
  return r;
}

function rawFrame(raw: RawRequest): unknown[] {
  return requestFrameArray(raw.fieldCount, raw.op, raw.tail);
}
