import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import { KvError } from '../shared/errors.js';
import { Status } from '../shared/status.js';
import { Op } from '../shared/protocol/ops.js';
import { errorFromAnswer, type Response } from '../shared/protocol/frames.js';
import { answerResponse, headBytes, writeHead } from '../shared/protocol/raw-frames.js';
import type { DispatchRequest } from '../sdk/dispatch-request.js';
import type { RawRequest } from '../sdk/lane-contract.js';
import type { McGetSink, McSetSink } from './memcached/callback-backend.js';
import type { McStoreStatus } from './memcached/backend.js';
import type { WireLayout } from '../shared/protocol/packed-layout.js';
import { rawItem, readItemFields } from './raw-item.js';

/** Told of each answered frame: its op, the node's status and the time it took, ms. */
export type RequestObserver = (op: number, status: number, ms: number) => void;

const EMPTY = new Uint8Array(0);
const MAJOR_UINT = 0;
const MAJOR_NEGATIVE = 1;
const MAJOR_BYTES = 2;

/*
 * A memcached `get` or `set` sent to its owner as a native frame, in the layout the
 * proxy's lanes write (`upstreamLayout`). For the packed layout it is a frame array the
 * lane packs, and the node's packed answer arrives decoded without CBOR (`onAnswer`, its
 * value a view into the node's message). For CBOR it is built as bytes (the lane writes
 * only the id and epoch in front of them) and its answer read as bytes (`onRawAnswer`),
 * so the value goes back to the client as a slice of the node's message, never decoded
 * into objects. Each is one request object of `Dispatcher.dispatch`, which routes it and
 * retries it by DESIGN §10; an answer that comes by the retrying path arrives decoded
 * (`onAnswer`) and is handled the same way.
 */

abstract class Forwarded implements DispatchRequest, RawRequest {
  readonly address = undefined;
  readonly isReplicaRead = undefined;
  /** The request as a raw CBOR tail (`tail`), or null when it goes as `frame`. */
  readonly raw: RawRequest | null;
  private readonly startedMs = performance.now();

  /**
   * @param frame the request as an array, for a lane that writes the packed layout; null
   *   to send `tail`, the CBOR fields from the key on, as bytes
   */
  constructor(
    readonly frame: unknown[] | null,
    readonly op: number,
    readonly fieldCount: number,
    readonly key: Uint8Array,
    readonly tail: Uint8Array,
    readonly valueBytes: number,
    readonly isIdempotent: boolean,
    readonly deadline: number,
    private readonly observe: RequestObserver | null,
  ) {
    this.raw = frame === null ? this : null;
  }

  onRawAnswer(status: number, fieldCount: number, fields: Uint8Array): void {
    this.observe?.(this.op, status, performance.now() - this.startedMs);
    this.answered(status, fieldCount, fields);
  }

  onAnswer(response: Response): void {
    this.observe?.(this.op, response.status, performance.now() - this.startedMs);
    this.decoded(response);
  }

  abstract onError(err: unknown): void;
  protected abstract answered(status: number, fieldCount: number, fields: Uint8Array): void;
  protected abstract decoded(r: Response): void;
}

/** A one-key `get`: `[id, GET, epoch, key]`. */
export class ForwardedGet extends Forwarded {
  constructor(key: Uint8Array, deadline: number, private readonly sink: McGetSink, observe: RequestObserver | null, layout: WireLayout = 'cbor') {
    const isPacked = layout === 'packed';
    super(isPacked ? [0, Op.GET, 0, key] : null, Op.GET, 4, key, isPacked ? EMPTY : bytesItem(key), 0, true, deadline, observe);
  }

  onError(err: unknown): void {
    this.sink.onError(err);
  }

  protected answered(status: number, fieldCount: number, fields: Uint8Array): void {
    if (status === Status.OK && readItemFields(fields, fieldCount)) {
      this.sink.onItem(fields.subarray(rawItem.valueStart, rawItem.valueEnd), rawItem.flags);
    } else if (status === Status.NOT_FOUND) {
      this.sink.onItem(null, 0);
    } else {
      this.decoded(answerResponse(status, fieldCount, fields));
    }
  }

  protected decoded(r: Response): void {
    if (r.status === Status.NOT_FOUND) this.sink.onItem(null, 0);
    else if (r.status !== Status.OK) this.sink.onError(errorFromAnswer(r));
    else if (!(r.value instanceof Uint8Array)) this.sink.onError(KvError.protocol('answer without a value'));
    else this.sink.onItem(r.value, r.flags);
  }
}

/** A plain `set`: `[id, SET, epoch, key, value, flags, exptime, 0]`. */
export class ForwardedSet extends Forwarded {
  constructor(
    key: Uint8Array, value: Uint8Array, flags: number, ttl: number, deadline: number, private readonly sink: McSetSink, observe: RequestObserver | null,
    layout: WireLayout = 'cbor',
  ) {
    const isPacked = layout === 'packed';
    super(isPacked ? [0, Op.SET, 0, key, value, flags, ttl, 0] : null, Op.SET, 8, key, isPacked ? EMPTY : setTail(key, value, flags, ttl), value.length, false, deadline, observe);
  }

  onError(err: unknown): void {
    this.sink.onError(err);
  }

  protected answered(status: number, fieldCount: number, fields: Uint8Array): void {
    const outcome = setOutcome(status);
    if (outcome !== null) this.sink.onStored(outcome);
    else this.decoded(answerResponse(status, fieldCount, fields));
  }

  protected decoded(r: Response): void {
    const outcome = setOutcome(r.status);
    if (outcome !== null) this.sink.onStored(outcome);
    else this.sink.onError(errorFromAnswer(r));
  }
}

/** What a `set` answers for a node's status (as `ClusterBackend.store` maps it); null for a failure. */
function setOutcome(status: number): McStoreStatus | null {
  switch (status) {
    case Status.OK: return 'STORED';
    case Status.NOT_STORED: return 'NOT_STORED';
    case Status.EXISTS: return 'EXISTS';
    case Status.NOT_FOUND: return 'NOT_STORED';
    default: return null;
  }
}

/** `bytes` as one CBOR byte string. */
function bytesItem(bytes: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(headBytes(bytes.length) + bytes.length);
  out.set(bytes, writeHead(out, 0, MAJOR_BYTES, bytes.length));
  return out;
}

/** The encoded fields of a set from the key on: key, value, flags, exptime, cas 0. */
function setTail(key: Uint8Array, value: Uint8Array, flags: number, ttl: number): Uint8Array {
  const ttlMajor = ttl < 0 ? MAJOR_NEGATIVE : MAJOR_UINT;
  const ttlArg = ttl < 0 ? -1 - ttl : ttl;
  const size = headBytes(key.length) + key.length + headBytes(value.length) + value.length + headBytes(flags) + headBytes(ttlArg) + 1;
  const out = Buffer.allocUnsafe(size);
  let pos = writeHead(out, 0, MAJOR_BYTES, key.length);
  out.set(key, pos);
  pos = writeHead(out, pos + key.length, MAJOR_BYTES, value.length);
  out.set(value, pos);
  pos = writeHead(out, pos + value.length, MAJOR_UINT, flags);
  pos = writeHead(out, pos, ttlMajor, ttlArg);
  out[pos] = 0; // cas 0: none
  return out;
}
