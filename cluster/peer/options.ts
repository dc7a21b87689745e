/** A DHT node address, e.g. the local bootstrap node `{ host: '127.0.0.1', port }`. */
export interface DhtNodeAddress {
  host: string;
  port: number;
}

/** Options of a {@link PeerPlane}. Every limit and delay is here so tests can shrink them. */
export interface PeerPlaneOptions {
  /** Address the plane's own DHT node binds its UDP sockets to. @default '127.0.0.1' */
  host: string;
  /** UDP port of the plane's DHT node; 0 picks a free one. @default 0 */
  port: number;
  /** Largest frame (CBOR body, without the 4-byte length) sent or accepted. @default 8388608 */
  maxFrameBytes: number;
  /**
   * Bytes that may wait per peer while its socket is over its high-water mark; beyond
   * that `send` returns false and `request` fails with BUSY. @default 33554432
   */
  maxQueuedBytesPerPeer: number;
  /** Requests awaiting a reply per peer; beyond that `request` fails with BUSY. @default 4096 */
  maxInFlightPerPeer: number;
  /** Deadline of `request` when the caller gives none, ms. @default 5000 */
  requestTimeoutMs: number;
  /**
   * How long a new connection may take to exchange HELLO before it is dropped, ms. HELLO
   * is the first frame each way, so it needs one round trip; a dial that opened on the
   * dialer's side but never reached the accepting side is ended only by this timeout
   * (the redial follows). @default 5000
   */
  helloTimeoutMs: number;
  /** Keep-alive interval on every peer connection, ms. @default 5000 */
  keepAliveMs: number;
  /** Drop a connection that received nothing (keep-alives included) for this long, ms; 0 = never. @default 20000 */
  idleTimeoutMs: number;
  /**
   * hyperswarm's redial delays after a failed or dropped connection, ms: first, second,
   * third retry, then every later one. hyperswarm's own steps are 1 s, 5 s, 15 s, 10 min;
   * a peer the map lists is meant to be up (a refused dial usually means its map is a
   * moment behind), and a backfill or a replica stream waits on it. @default [250, 1000, 2000, 5000]
   */
  backoffsMs: [number, number, number, number];
  /** Random extra delay added to each backoff step, ms. @default 250 */
  backoffJitterMs: number;
  /** Dials in progress at once. @default 8 */
  maxParallelDials: number;
  /**
   * How long an authenticated connection from a key this node has never had in its set
   * is held, unread, waiting for a map that lists it, ms; then it is refused. Maps reach
   * nodes a moment apart, and a dial refused outright stalls the dialer for seconds
   * (hyperdht's connect timeout, then redial backoff). 0 = refuse at once. @default 3000
   */
  unknownPeerGraceMs: number;
  /** Such connections held at once; more are refused at once. @default 16 */
  maxHeldUnknownPeers: number;
}

export const PEER_PLANE_DEFAULTS: Readonly<PeerPlaneOptions> = Object.freeze({
  host: '127.0.0.1',
  port: 0,
  maxFrameBytes: 8 * 1024 * 1024,
  maxQueuedBytesPerPeer: 32 * 1024 * 1024,
  maxInFlightPerPeer: 4096,
  requestTimeoutMs: 5000,
  helloTimeoutMs: 5000,
  keepAliveMs: 5000,
  idleTimeoutMs: 20_000,
  backoffsMs: Object.freeze([250, 1000, 2000, 5000]) as unknown as [number, number, number, number],
  backoffJitterMs: 250,
  maxParallelDials: 8,
  unknownPeerGraceMs: 3000,
  maxHeldUnknownPeers: 16,
});

/** Options of a DHT bootstrap node. */
export interface DhtBootstrapOptions {
  /** IPv4 address to bind and announce; never 0.0.0.0. @default '127.0.0.1' */
  host: string;
  /** UDP port; 0 picks a free one. @default 0 */
  port: number;
}

export const DHT_BOOTSTRAP_DEFAULTS: Readonly<DhtBootstrapOptions> = Object.freeze({
  host: '127.0.0.1',
  port: 0,
});

/** Shortest idle timeout a node takes for its peer links, ms. */
export const MIN_PEER_IDLE_TIMEOUT_MS = 1000;

/**
 * The idle timeout of a node's peer links and the keep-alive interval that goes with it:
 * keep-alives every quarter of the timeout, at most every 5 s (the default), so a quiet
 * but healthy link sends three or more within any timeout.
 */
export function peerTimeouts(idleTimeoutMs: number): Pick<PeerPlaneOptions, 'idleTimeoutMs' | 'keepAliveMs'> {
  return { idleTimeoutMs, keepAliveMs: Math.min(PEER_PLANE_DEFAULTS.keepAliveMs, Math.floor(idleTimeoutMs / 4)) };
}
