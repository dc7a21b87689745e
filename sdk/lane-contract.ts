import type { TlsCa } from '../shared/tls-ca.js';
import type { KvError } from '../shared/errors.js';
import type { Response } from '../shared/protocol/frames.js';
import type { WireLayout } from '../shared/protocol/packed-layout.js';
import type { Credentials, KeyPair, PasswordLimits } from '../shared/auth/index.js';

/*
 * What a lane takes and gives: its options, how it authenticates, the request object it
 * carries and the hook a forwarder reads answers with. Kept apart from the lane itself
 * so that the batch encoder, the dispatcher, the client and the proxy depend on the
 * contract, not on the connection.
 */

/** How a lane proves who it is (DESIGN §9) and checks the server it reached. */
export interface LaneAuth {
  credentials: Credentials;
  /**
   * The public key (hex) the server at `address` must prove it holds: a node's key from
   * the map. `null` trusts the key the server presents (a proxy, a static node list).
   */
  serverKeyFor: (address: string) => string | null;
  /** Derived password keys, shared by every lane of a client. */
  derivedKeys: Map<string, KeyPair>;
  passwordLimits?: Partial<PasswordLimits>;
}

/** A request forwarded as bytes: the lane writes its id and epoch, the rest leaves as it came. */
export interface RawRequest {
  readonly op: number;
  /** Fields of the frame, id and epoch included. */
  readonly fieldCount: number;
  /** The encoded fields from the key on. */
  readonly tail: Uint8Array;
}

/**
 * One request on a lane, and where its outcome goes: exactly one of `onAnswer`,
 * `onRawAnswer` and `onError` is called, once; `onError` may be called from inside
 * `Lane.enqueue` (a closed lane, a full queue), the others never are.
 */
export interface LaneRequest {
  /** Written by the lane: the id the frame leaves with. */
  id: number;
  /** Written by the lane once the request is in a message. */
  isSent: boolean;
  /** The frame as an array (`frame[0]` is overwritten with the id), or null when `raw` holds it encoded. */
  readonly frame: unknown[] | null;
  readonly raw: RawRequest | null;
  /** Epoch written in front of a raw request (an array frame carries its own). */
  readonly epoch: number;
  /** `Date.now()` past which the request fails with `KV_ERR_TIMEOUT`. */
  readonly deadline: number;
  /** Value bytes, for batch sizing. */
  readonly valueBytes: number;
  onAnswer(response: Response): void;
  /**
   * A raw request's answer read as bytes by an `AnswerReader`: the status and the
   * `fieldCount` still-encoded fields after it.
   */
  onRawAnswer(status: number, fieldCount: number, fields: Uint8Array): void;
  onError(err: KvError): void;
}

/** What an `AnswerReader` reads into: the lane's unanswered requests by id. */
export interface AnswerSink {
  readonly address: string;
  /** The request waiting for `id`, removed from the lane; undefined when none does (timed out). */
  take(id: number): LaneRequest | undefined;
  /** The stream is unusable: fail everything and close the lane. */
  fail(err: KvError): void;
}

/**
 * Reads one message from the node before the lane's own decoder does; false leaves the
 * message to the lane. A forwarder (the proxy) reads answers as bytes this way.
 */
export type AnswerReader = (data: Uint8Array, sink: AnswerSink) => boolean;

export interface LaneOptions {
  connectTimeoutMs: number;
  maxInFlight: number;
  maxQueued: number;
  maxFramesPerMessage: number;
  maxBatchBytes: number;
  heartbeatMs: number;
  /** How often deadlines are checked. @default 10 */
  sweepMs?: number;
  /** Largest response message accepted. @default 268435456 */
  maxResponseBytes?: number;
  /** Authenticate before the lane carries requests; null for an `--insecure` cluster. @default null */
  auth?: LaneAuth | null;
  /**
   * Runs the lane's flush of its outbox: by default once per event-loop turn (after the
   * I/O phase), so the requests that answers from every node read in one turn set off
   * leave in one message per lane, not one per answer message. @default setImmediate
   */
  scheduleFlush?: (flush: () => void) => void;
  /**
   * Messages the lane may send before the node's next message arrives (Nagle's rule for
   * a forwarder): requests admitted beyond that are held and leave together, with the
   * flush that the node's next message sets off, or after `maxHoldMs` if that message is
   * late. A lane with nothing unanswered sends at once, so a request alone is never
   * held. 0 = no limit. @default 0
   */
  sendWindow?: number;
  /**
   * A request admitted to a lane with nothing else in flight leaves at the end of the
   * current task (with the rest of that task's requests) instead of the end of the turn:
   * lower latency at one request in flight, for a forwarder whose requests come one
   * client message per task. The SDK leaves it off: its callers' next requests come in
   * the same turn as the answers, and batch per turn. @default false
   */
  sendWhenIdle?: boolean;
  /** Longest a request is held by `sendWindow`, ms (timer granularity: 1 ms). @default 1 */
  maxHoldMs?: number;
  /** Reads each message from the node before the lane's decoder. @default null */
  answerReader?: AnswerReader | null;
  /** Authorities trusted for `wss://` nodes' certificates; null = the system's. @default null */
  tlsCa?: TlsCa | null;
  /**
   * How requests are written: `packed` sends GET and SET in the packed layout (docs/protocol.md
   * §16, nodes answer them in it too) when the server offers it in its upgrade answer, and
   * CBOR to one that does not; `cbor` every frame as CBOR. Answers in either layout are
   * read whatever this says. @default 'cbor'
   */
  wireLayout?: WireLayout;
}
