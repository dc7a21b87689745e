/** The node-to-node peer plane (hyperswarm) and its offline DHT bootstrap node. */
export { PeerPlane } from './peer-plane.js';
export type { PeerKeyPair, PeerPlaneEvents, PeerPlaneStats, PeerReply } from './peer-plane.js';
export { PEER_PLANE_DEFAULTS, DHT_BOOTSTRAP_DEFAULTS, MIN_PEER_IDLE_TIMEOUT_MS, peerTimeouts } from './options.js';
export type { PeerPlaneOptions, DhtBootstrapOptions, DhtNodeAddress } from './options.js';
export { startDhtBootstrap } from './dht-bootstrap.js';
export type { DhtBootstrap } from './dht-bootstrap.js';
export { encodeFrame, FrameDecoder, FRAME_HEADER_BYTES } from './frame-codec.js';
