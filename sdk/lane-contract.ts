import type { TlsCa } from '../shared/tls-ca.js';
import type { KvError } from '../shared/errors.js';
import type { Response } from '../shared/protocol/frames.js';
import type { Credentials, KeyPair, PasswordLimits } from '../shared/auth/index.js';

/*
 * What a lane takes and gives: its options, how it authenticates, and the two forms a
 * request's outcome comes in (a callback with the decoded answer, or the answer's bytes
 * for a request forwarded as bytes). Kept apart from the lane itself so that the batch
 * encoder, the dispatcher and the client depend on the contract, not on the connection.
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
   * Flush the outbox once per event-loop turn (setImmediate) instead of once per
   * microtask checkpoint, so requests from several incoming messages handled in the same
   * I/O phase (a proxy serving many clients) leave in one message. @default false
   */
  isFlushPerTurn?: boolean;
  /**
   * Read answers without decoding their values: raw requests get the answer's bytes,
   * other requests decode their own frame. For a forwarder (the proxy). @default false
   */
  isRawAnswers?: boolean;
  /** Called as each message from the node arrives, before it is read (the proxy's idle poller). @default null */
  onActivity?: (() => void) | null;
  /** Authorities trusted for `wss://` nodes' certificates; null = the system's. @default null */
  tlsCa?: TlsCa | null;
}

/** Callback form of an answer: exactly one of `err` and `response` is set. */
export type LaneCallback = (err: KvError | null, response: Response | null) => void;

/** A request forwarded as bytes: the lane writes its id and epoch, the rest leaves as it came. */
export interface RawRequest {
  readonly op: number;
  /** Fields of the frame, id and epoch included. */
  readonly fieldCount: number;
  /** The encoded fields from the key on. */
  readonly tail: Uint8Array;
}

/**
 * Outcome of a raw request: an error; or the answer's status with its `fieldCount`
 * encoded fields after the status (`fields`); or, when the answer could not be read as
 * bytes, the decoded `response`.
 */
export type RawSettle = (req: RawRequest, err: KvError | null, status: number, fieldCount: number, fields: Uint8Array | null, response: Response | null) => void;
