import type { Response } from '../shared/protocol/frames.js';
import type { RawRequest } from './lane-contract.js';

/** How one request is sent: where to, whether a blind retry is safe. */
export interface SendPlan {
  /** Key that decides the node; null with `address` set for node-addressed requests. */
  key: string | Uint8Array | null;
  /** Explicit node, for scans and stats. */
  address?: string | undefined;
  /** Read from a replica instead of the active. */
  isReplicaRead?: boolean | undefined;
  /** Safe to send again even if the first attempt may have executed. */
  isIdempotent: boolean;
  /** Value bytes, for batch sizing. */
  valueBytes: number;
}

/**
 * The request object of `Dispatcher.dispatch`: what to send, how to route it, and where
 * its outcome goes. The dispatcher routes it, retries it by DESIGN §10 and calls exactly
 * one of `onAnswer`, `onRawAnswer` and `onError`, once, never from inside `dispatch`.
 * The promise form (`DispatchPromise`) and the proxy's forwarded frames are such objects.
 */
export interface DispatchRequest extends SendPlan {
  /** The frame as an array (the lane writes the id, the dispatcher the epoch); null when `raw` holds it encoded. */
  readonly frame: unknown[] | null;
  /** The frame still encoded (a forwarded one): routed by `key`, its bytes, and sent as they came. */
  readonly raw: RawRequest | null;
  /** `Date.now()` past which the request fails with `KV_ERR_TIMEOUT`. */
  readonly deadline: number;
  /** An answer the caller handles: OK, or a status other than NOT_MY_BUCKET and BUSY. */
  onAnswer(response: Response): void;
  /**
   * A raw request's answer as the owner encoded it (status and the still-encoded fields
   * after it), when the lane reads answers as bytes. Requests sent with a `frame` may ignore it.
   */
  onRawAnswer(status: number, fieldCount: number, fields: Uint8Array): void;
  onError(err: unknown): void;
}
