import type { KvError } from '../shared/errors.js';
import { answerResponse } from '../shared/protocol/raw-frames.js';
import type { Response } from '../shared/protocol/frames.js';
import type { LaneRequest } from './lane-contract.js';
import type { DispatchRequest, SendPlan } from './dispatch-request.js';

/*
 * The promise forms of the one request object, at the edge: a lane's request
 * (`Lane.request`) and a routed request (`Dispatcher.send`, the client's operations).
 * Callback and raw-bytes forms are request objects of their own (the proxy's).
 */

/** A lane request whose outcome settles a promise. */
export class LanePromise implements LaneRequest {
  id = 0;
  isSent = false;
  readonly raw = null;
  readonly epoch = 0;

  constructor(
    readonly frame: unknown[],
    readonly deadline: number,
    readonly valueBytes: number,
    private readonly resolve: (r: Response) => void,
    private readonly reject: (err: KvError) => void,
  ) {}

  onAnswer(response: Response): void {
    this.resolve(response);
  }

  onRawAnswer(status: number, fieldCount: number, fields: Uint8Array): void {
    this.resolve(answerResponse(status, fieldCount, fields));
  }

  onError(err: KvError): void {
    this.reject(err);
  }
}

/**
 * A routed request whose answer, passed through `settle` (which may throw to fail it),
 * settles a promise: one promise per operation, from the caller to the node and back.
 */
export class DispatchPromise<T> implements DispatchRequest {
  readonly key: string | Uint8Array | null;
  readonly address: string | undefined;
  readonly isReplicaRead: boolean | undefined;
  readonly isIdempotent: boolean;
  readonly valueBytes: number;
  readonly raw = null;

  constructor(
    readonly frame: unknown[],
    plan: SendPlan,
    readonly deadline: number,
    private readonly settle: (r: Response) => T,
    private readonly resolve: (value: T) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.key = plan.key;
    this.address = plan.address;
    this.isReplicaRead = plan.isReplicaRead;
    this.isIdempotent = plan.isIdempotent;
    this.valueBytes = plan.valueBytes;
  }

  onAnswer(response: Response): void {
    let value: T;
    try {
      value = this.settle(response);
    } catch (err) {
      this.reject(err);
      return;
    }
    this.resolve(value);
  }

  onRawAnswer(status: number, fieldCount: number, fields: Uint8Array): void {
    this.onAnswer(answerResponse(status, fieldCount, fields));
  }

  onError(err: unknown): void {
    this.reject(err);
  }
}
