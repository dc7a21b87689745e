import { EventEmitter } from 'eventemitter3';
import HyperDHT, { type NoiseSecretStream } from 'hyperdht';
import Hyperswarm from 'hyperswarm';
import { KvError } from '../../shared/errors.js';
import { PEER_PLANE_DEFAULTS, type DhtNodeAddress, type PeerPlaneOptions } from './options.js';
import { PeerLink, short, type PeerReply } from './peer-link.js';

export type { PeerReply } from './peer-link.js';

/** An Ed25519 key pair as sodium's `crypto_sign_keypair` makes it (32 + 64 bytes). */
export interface PeerKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export interface PeerPlaneEvents {
  /** A connection to `peer` completed its HELLO exchange; `send`/`request` work now. */
  'peer-up': (peer: string) => void;
  /** The connection to `peer` is gone (dropped, removed from the set, or plane closed). */
  'peer-down': (peer: string, reason: KvError) => void;
  /**
   * A message from `peer`. `reply` is set for a request and must be called once with the
   * answer (or an Error to fail it); it is undefined for a one-way `send`.
   */
  message: (peer: string, message: unknown, reply: PeerReply | undefined) => void;
  /** `peer` sent a malformed or oversized frame (or no HELLO); its connection was dropped. */
  'link-error': (peer: string, err: KvError) => void;
  /** A key outside the allowed set tried to connect (or was about to be dialed) and was refused. */
  refused: (peer: string) => void;
  /** `peer`'s write queue emptied after being over the socket's high-water mark. */
  drain: (peer: string) => void;
}

/** Counters of one plane; names follow `pandakv_peer_<what>_<unit>`. */
export interface PeerPlaneStats {
  pandakv_peer_connections_total: number;
  pandakv_peer_refused_total: number;
  pandakv_peer_link_errors_total: number;
  pandakv_peer_up_count: number;
  /** Connections from keys not (yet) in the set, held until a map lists them or the grace ends. */
  pandakv_peer_held_count: number;
}

const KEY_HEX = /^[0-9a-f]{64}$/;

/**
 * The node-to-node peer plane of one node, over hyperswarm: dials the peers of the
 * cluster map by public key (`joinPeer`), accepts only keys in that set (Noise-mutual
 * authentication), keeps at most one live connection per peer, and carries CBOR
 * messages and request/reply over it. See docs/peer-plane.md.
 *
 * Each plane runs its own DHT node bound to `options.host` (loopback by default) and
 * only ever talks to the bootstrap nodes given: there is no public-network default.
 */
export class PeerPlane extends EventEmitter<PeerPlaneEvents> {
  /** This node's public key, hex. */
  readonly publicKey: string;
  private readonly options: Readonly<PeerPlaneOptions>;
  private readonly swarm: Hyperswarm;
  private allowed = new Set<string>();
  /** Every key ever in the set: one dropped from it is refused at once, never held. */
  private readonly known = new Set<string>();
  /** Connections from keys not (yet) in the set, held unread until a map lists them. */
  private readonly held = new Map<string, { socket: NoiseSecretStream; timer: NodeJS.Timeout }>();
  /** The current connection per peer, up or still exchanging HELLO. */
  private readonly links = new Map<string, PeerLink>();
  private state: 'new' | 'started' | 'closing' | 'closed' = 'new';
  private closing: Promise<void> | null = null;
  private readonly counters: PeerPlaneStats = {
    pandakv_peer_connections_total: 0,
    pandakv_peer_refused_total: 0,
    pandakv_peer_link_errors_total: 0,
    pandakv_peer_up_count: 0,
    pandakv_peer_held_count: 0,
  };

  /**
   * @param keyPair this node's Ed25519 key pair (its identity in the map)
   * @param bootstrap DHT bootstrap nodes; required and non-empty (e.g. `pandakv dht`)
   * @throws KvError INVALID_ARGUMENT on a bad key pair or an empty bootstrap list
   */
  constructor(keyPair: PeerKeyPair, bootstrap: readonly DhtNodeAddress[], options: Partial<PeerPlaneOptions> = {}) {
    super();
    if (!(keyPair.publicKey instanceof Uint8Array) || keyPair.publicKey.length !== 32 || !(keyPair.secretKey instanceof Uint8Array) || keyPair.secretKey.length !== 64) {
      throw KvError.invalidArgument('peer plane key pair must be a 32-byte public key and a 64-byte secret key');
    }
    if (!Array.isArray(bootstrap) || bootstrap.length === 0) {
      // hyperdht falls back to the public network without a list: never let that happen.
      throw KvError.invalidArgument('peer plane needs an explicit, non-empty DHT bootstrap list');
    }
    for (const b of bootstrap) {
      if (typeof b?.host !== 'string' || b.host === '' || !Number.isInteger(b.port) || b.port < 1 || b.port > 65535) {
        throw KvError.invalidArgument(`bad DHT bootstrap address ${JSON.stringify(b)}`);
      }
    }
    this.options = Object.freeze({ ...PEER_PLANE_DEFAULTS, ...options });
    const pair = { publicKey: toBuffer(keyPair.publicKey), secretKey: toBuffer(keyPair.secretKey) };
    this.publicKey = pair.publicKey.toString('hex');
    const dht = new HyperDHT({
      bootstrap: bootstrap.map((b) => ({ host: b.host, port: b.port })),
      host: this.options.host,
      // hyperdht turns port 0 into its default 49737; a [0, 0] range binds a free port.
      port: this.options.port === 0 ? [0, 0] : this.options.port,
      keyPair: pair,
      connectionKeepAlive: this.options.keepAliveMs > 0 ? this.options.keepAliveMs : false,
      // The plane binds the address it is given (loopback or a cluster network) and that
      // address is reachable by its peers: no hole punching. Left firewalled, a new node
      // answers its first dials with a punch round that, on one host, often never
      // completes: the dialer sees the socket open, the accepting side never does.
      firewalled: false,
    });
    this.swarm = new Hyperswarm({
      dht,
      keyPair: pair,
      firewall: this.isFirewalled,
      maxPeers: Number.MAX_SAFE_INTEGER,
      maxParallel: this.options.maxParallelDials,
      backoffs: [...this.options.backoffsMs],
      jitter: this.options.backoffJitterMs,
    });
    this.swarm.on('connection', this.onConnection);
  }

  /** Start accepting: join the DHT and announce this key. Resolves once announced. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw KvError.invalidArgument(`peer plane cannot start: it is ${this.state}`);
    this.state = 'started';
    await this.swarm.dht.fullyBootstrapped();
    await this.swarm.listen();
  }

  /**
   * Replace the set of peers (hex public keys) this node talks to: dial each new one,
   * forget and disconnect each one no longer listed. Own key is ignored.
   * @throws KvError INVALID_ARGUMENT on a malformed key
   */
  setPeers(publicKeysHex: Iterable<string>): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const next = new Set<string>();
    for (const raw of publicKeysHex) {
      const key = String(raw).toLowerCase();
      if (!KEY_HEX.test(key)) throw KvError.invalidArgument(`peer key must be 64 hex digits, got "${String(raw)}"`);
      if (key !== this.publicKey) next.add(key);
    }
    const removed = [...this.allowed].filter((k) => !next.has(k));
    const added = [...next].filter((k) => !this.allowed.has(k));
    // The firewall reads `allowed`, and joinPeer may dial at once: update it first.
    this.allowed = next;
    for (const key of next) this.known.add(key);
    for (const key of removed) {
      this.swarm.leavePeer(Buffer.from(key, 'hex'));
      this.links.get(key)?.destroy(KvError.connectionClosed(`peer ${short(key)} removed from the peer set`, { node: key }));
    }
    for (const key of added) {
      // hyperswarm bans a key for good once its firewall refused it; the key is allowed now.
      this.swarm.peers.get(key)?.ban(false);
      const waiting = this.held.get(key);
      if (waiting !== undefined) {
        // It dialed before this node's map listed it: its connection is already here.
        this.held.delete(key);
        clearTimeout(waiting.timer);
        this.adopt(waiting.socket, key);
      }
      // Both sides dial: whichever notices a dead link first brings it back (a node
      // resumed after a stall may hold a dead connection until its idle timeout).
      this.swarm.joinPeer(Buffer.from(key, 'hex'));
    }
  }

  /** Keys of the allowed set. */
  get peerSet(): string[] {
    return [...this.allowed];
  }

  /** Keys of the peers whose connection is up. */
  upPeers(): string[] {
    return [...this.links.values()].filter((l) => l.isUp).map((l) => l.peer);
  }

  isUp(peer: string): boolean {
    return this.links.get(peer)?.isUp === true;
  }

  /** `peer`'s socket is over its high-water mark; wait for `drain` before sending more. */
  isBusy(peer: string): boolean {
    return this.links.get(peer)?.isBusy === true;
  }

  /**
   * Queue a one-way message. False when `peer` is not up or its write queue is full
   * (`maxQueuedBytesPerPeer`; see `isBusy` and `drain`).
   * @throws KvError TOO_LARGE when the encoded message exceeds `maxFrameBytes`
   */
  send(peer: string, message: unknown): boolean {
    const link = this.links.get(peer);
    return link !== undefined && link.send(message);
  }

  /**
   * Send a request and resolve with the peer's reply. Rejects with UNAVAILABLE (not up),
   * BUSY (queue or in-flight limit), TOO_LARGE, TIMEOUT (no reply within `deadlineMs`),
   * CONNECTION_CLOSED (the link dropped first), CLIENT_CLOSED (this plane closed), or the
   * code the peer failed it with.
   */
  request(peer: string, message: unknown, deadlineMs = this.options.requestTimeoutMs): Promise<unknown> {
    const timeoutError = KvError.timeout(`peer ${short(peer)} did not answer within ${deadlineMs} ms`, { node: peer });
    const link = this.links.get(peer);
    if (link === undefined || !link.isUp) {
      return Promise.reject(KvError.unavailable(`peer ${short(peer)} is not connected`, { node: peer, isSafeToRetry: true }));
    }
    return link.request(message, deadlineMs, timeoutError);
  }

  stats(): PeerPlaneStats {
    return { ...this.counters, pandakv_peer_up_count: this.upPeers().length, pandakv_peer_held_count: this.held.size };
  }

  /** Drop every connection, leave the DHT and free its sockets. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.state = 'closing';
    this.allowed = new Set();
    for (const [key, h] of this.held) {
      clearTimeout(h.timer);
      h.socket.destroy();
      this.held.delete(key);
    }
    const reason = KvError.clientClosed('peer plane closed');
    for (const link of [...this.links.values()]) link.destroy(reason);
    try {
      await this.swarm.destroy();
    } finally {
      this.state = 'closed';
    }
  }

  // hyperswarm asks before dialing and while accepting (during the Noise handshake, so
  // a refused key never gets a connection). A key never in the set may be one the next
  // map lists: it is let through to be held (see onConnection), within bounds.
  private readonly isFirewalled = (remotePublicKey: Buffer): boolean => {
    const peer = remotePublicKey.toString('hex');
    if (this.allowed.has(peer)) return false;
    if (this.mayHold(peer)) return false;
    this.refuse(peer);
    return true;
  };

  private mayHold(peer: string): boolean {
    return this.state === 'started' && this.options.unknownPeerGraceMs > 0 && !this.known.has(peer)
      && !this.held.has(peer) && this.held.size < this.options.maxHeldUnknownPeers;
  }

  private refuse(peer: string): void {
    this.counters.pandakv_peer_refused_total++;
    this.emitLater('refused', peer);
  }

  private readonly onConnection = (socket: NoiseSecretStream): void => {
    // First thing: a socket without an error listener would crash the process.
    socket.on('error', noop);
    const peer = socket.remotePublicKey.toString('hex');
    if (this.state === 'closing' || this.state === 'closed') {
      socket.destroy();
      this.refuse(peer);
      return;
    }
    if (!this.allowed.has(peer)) {
      if (!this.mayHold(peer)) {
        socket.destroy();
        this.refuse(peer);
        return;
      }
      // Nothing is read from it (no listener: the stream stays paused) until the key is
      // listed; unlisted when the grace ends, it is refused like any stranger.
      const timer = setTimeout(() => {
        if (this.held.get(peer)?.socket !== socket) return;
        this.held.delete(peer);
        socket.destroy();
        this.refuse(peer);
      }, this.options.unknownPeerGraceMs);
      timer.unref();
      socket.once('close', () => {
        if (this.held.get(peer)?.socket !== socket) return;
        clearTimeout(timer);
        this.held.delete(peer);
      });
      this.held.set(peer, { socket, timer });
      return;
    }
    this.adopt(socket, peer);
  };

  private adopt(socket: NoiseSecretStream, peer: string): void {
    this.counters.pandakv_peer_connections_total++;
    // hyperswarm already settles duplicates (the connection dialed by the larger key
    // wins, or the newer one when the older was established); it hands over the
    // winner only after the loser closed. A second live one here would be a newer
    // connection replacing an older: keep the newer, as hyperswarm does.
    this.links.get(peer)?.destroy(KvError.connectionClosed(`replaced by a newer connection from peer ${short(peer)}`, { node: peer }));
    const link = new PeerLink(socket, peer, this.options);
    this.links.set(peer, link);
    link.on('up', this.onLinkUp, this);
    link.on('close', this.onLinkClose, this);
    link.on('message', this.onLinkMessage, this);
    link.on('link-error', this.onLinkError, this);
    link.on('drain', this.onLinkDrain, this);
  }

  private onLinkUp(link: PeerLink): void {
    if (this.links.get(link.peer) !== link) return;
    this.emit('peer-up', link.peer);
  }

  private onLinkClose(link: PeerLink, reason: KvError): void {
    const wasCurrent = this.links.get(link.peer) === link;
    if (wasCurrent) this.links.delete(link.peer);
    // `isUp` is already false; a link that never finished HELLO was never announced.
    if (link.hasBeenUp) this.emitLater('peer-down', link.peer, reason);
  }

  private onLinkMessage(link: PeerLink, message: unknown, reply: PeerReply | undefined): void {
    if (reply !== undefined && this.listenerCount('message') === 0) {
      reply(KvError.unavailable('no handler for peer requests on this node'));
      return;
    }
    this.emit('message', link.peer, message, reply);
  }

  private onLinkError(link: PeerLink, err: KvError): void {
    this.counters.pandakv_peer_link_errors_total++;
    this.emit('link-error', link.peer, err);
  }

  private onLinkDrain(link: PeerLink): void {
    this.emit('drain', link.peer);
  }

  // Events caused by a caller's own call (setPeers, close) must not re-enter it.
  private emitLater<E extends 'peer-down' | 'refused'>(event: E, ...args: Parameters<PeerPlaneEvents[E]>): void {
    process.nextTick(() => (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args));
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes);
}

function noop(): void {}
