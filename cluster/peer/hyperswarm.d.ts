/**
 * Minimal typings for the parts of `hyperswarm` and `hyperdht` the peer plane uses. The
 * packages ship no types. Only what is called is declared; anything else is absent on
 * purpose so a new use has to be checked against the source first.
 */

declare module 'hyperdht' {
  import type { EventEmitter } from 'node:events';

  /** `@hyperswarm/secret-stream`: a Noise-encrypted streamx Duplex. */
  export interface NoiseSecretStream extends EventEmitter {
    readonly publicKey: Buffer;
    readonly remotePublicKey: Buffer;
    readonly isInitiator: boolean;
    readonly destroyed: boolean;
    readonly rawBytesRead: number;
    readonly rawBytesWritten: number;
    write(data: Uint8Array): boolean;
    end(): void;
    destroy(err?: Error): void;
    setTimeout(ms: number): void;
    setKeepAlive(ms: number): void;
  }

  export interface DhtKeyPair {
    publicKey: Buffer;
    secretKey: Buffer;
  }

  export interface DhtAddress {
    host: string;
    port: number;
  }

  export interface HyperDhtOptions {
    /** Bootstrap nodes. Never left out: the default is the public network. */
    bootstrap: Array<DhtAddress | string>;
    /** A number, or a range `[from, to)`; `[0, 0]` binds an ephemeral port. */
    port?: number | [number, number];
    /** Address the UDP sockets bind to. */
    host?: string;
    anyPort?: boolean;
    ephemeral?: boolean;
    /**
     * Whether this node is behind a firewall (dht-rpc; default true until it proves
     * otherwise). A server that knows itself reachable answers a dial with its address and
     * the dialer connects directly, with no hole-punching round.
     */
    firewalled?: boolean;
    keyPair?: DhtKeyPair;
    /** Keep-alive of the connections this node makes or accepts, ms; `false` turns it off. */
    connectionKeepAlive?: number | false;
  }

  export default class HyperDHT extends EventEmitter {
    constructor(opts: HyperDhtOptions);
    static bootstrapper(port: number, host: string, opts?: Partial<HyperDhtOptions>): HyperDHT;
    static keyPair(seed?: Uint8Array): DhtKeyPair;
    readonly destroyed: boolean;
    fullyBootstrapped(): Promise<void>;
    address(): { host: string; family: number; port: number };
    connect(remotePublicKey: Uint8Array, opts?: { keyPair?: DhtKeyPair }): NoiseSecretStream;
    destroy(opts?: { force?: boolean }): Promise<void>;
  }
}

declare module 'hyperswarm' {
  import type { EventEmitter } from 'node:events';
  import type HyperDHT from 'hyperdht';
  import type { DhtKeyPair, NoiseSecretStream } from 'hyperdht';

  export interface PeerInfo {
    readonly publicKey: Buffer;
    readonly banned: boolean;
    readonly client: boolean;
    ban(value: boolean): void;
  }

  export interface HyperswarmOptions {
    keyPair: DhtKeyPair;
    dht: HyperDHT;
    /** Return true to refuse the remote key. Asked on both dial and accept. */
    firewall?: (remotePublicKey: Buffer, payload: unknown) => boolean;
    maxPeers?: number;
    maxParallel?: number;
    /** Retry delays, ms: [short, medium, long, after more than three failures]. */
    backoffs?: [number, number, number, number];
    jitter?: number;
  }

  export default class Hyperswarm extends EventEmitter {
    constructor(opts: HyperswarmOptions);
    readonly keyPair: DhtKeyPair;
    readonly dht: HyperDHT;
    readonly destroyed: boolean;
    readonly connections: Set<NoiseSecretStream>;
    readonly peers: Map<string, PeerInfo>;
    listen(): Promise<void>;
    joinPeer(publicKey: Buffer): void;
    leavePeer(publicKey: Buffer): void;
    destroy(opts?: { force?: boolean }): Promise<void>;
  }
}
