import { createSocket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import HyperDHT from 'hyperdht';
import { KvError } from '../../shared/errors.js';
import { DHT_BOOTSTRAP_DEFAULTS, type DhtBootstrapOptions, type DhtNodeAddress } from './options.js';

/** What a DHT node has done so far (read from hyperdht's and its UDP sockets' own counters). */
export interface DhtStats {
  /** Nodes in its routing table now. */
  nodes: number;
  /** UDP packets and bytes its sockets received: what peers ask of it. */
  received: { packets: number; bytes: number };
  /** Requests it sent itself: in flight now, and in all, answered, timed out, retried. */
  requests: { active: number; total: number; responses: number; timeouts: number; retries: number };
}

/** A running DHT bootstrap node. */
export interface DhtBootstrap {
  /** Where peers find it: pass `[address]` as a PeerPlane's bootstrap list. */
  readonly address: DhtNodeAddress;
  /** `host:port`. */
  readonly hostPort: string;
  stats(): DhtStats;
  close(): Promise<void>;
}

// Port 0 is probed (bind, read, release) then bound for real; another process may take it
// in between, so a few fresh probes are tried.
const PORT_ATTEMPTS = 5;

/**
 * Start a DHT bootstrap node bound to `host` (IPv4, never 0.0.0.0): the entry point of
 * an offline hyperswarm network, e.g. on loopback. It knows no other node.
 *
 * hyperdht's `bootstrapper` needs the real port up front (it announces host:port as
 * its own address and rejects port 0), hence the probe when `port` is 0.
 * @throws KvError INVALID_ARGUMENT on a bad host or port
 */
export async function startDhtBootstrap(options: Partial<DhtBootstrapOptions> = {}): Promise<DhtBootstrap> {
  const { host, port } = { ...DHT_BOOTSTRAP_DEFAULTS, ...options };
  if (!isIPv4(host) || host === '0.0.0.0') throw KvError.invalidArgument(`DHT bootstrap host must be a specific IPv4 address, got "${host}"`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw KvError.invalidArgument(`DHT bootstrap port must be 0..65535, got ${port}`);
  let lastError: unknown = null;
  for (let attempt = 0; attempt < (port === 0 ? PORT_ATTEMPTS : 1); attempt++) {
    const candidate = port === 0 ? await freeUdpPort(host) : port;
    // `host` in the options is the bind address; the positional one is the announced address.
    const dht = HyperDHT.bootstrapper(candidate, host, { host });
    try {
      await dht.fullyBootstrapped();
    } catch (err) {
      lastError = err;
      await dht.destroy().catch(noop);
      continue;
    }
    const bound = dht.address().port;
    if (bound !== candidate) {
      lastError = new Error(`bound ${bound} instead of ${candidate}`);
      await dht.destroy().catch(noop);
      continue;
    }
    let closing: Promise<void> | null = null;
    return {
      address: { host, port: bound },
      hostPort: `${host}:${bound}`,
      stats: () => statsOf(dht),
      close: () => (closing ??= dht.destroy()),
    };
  }
  throw KvError.unavailable(`DHT bootstrap node could not bind ${host}:${port}`, {}, lastError);
}

/** The parts of a hyperdht node the figures are read from (dht-rpc's counters, udx-native's). */
interface RpcCounters {
  toArray(): unknown[];
  stats?: { requests?: Partial<DhtStats['requests']> };
  // udx-native counts what its sockets receive; its send and kernel-drop counters are not
  // kept for plain datagrams (0, and an unset value), so they are not read.
  udx?: { packetsReceived?: number; bytesReceived?: number };
}

function statsOf(dht: unknown): DhtStats {
  const rpc = dht as RpcCounters;
  const r = rpc.stats?.requests ?? {};
  const u = rpc.udx ?? {};
  return {
    nodes: rpc.toArray().length,
    received: { packets: u.packetsReceived ?? 0, bytes: u.bytesReceived ?? 0 },
    requests: { active: r.active ?? 0, total: r.total ?? 0, responses: r.responses ?? 0, timeouts: r.timeouts ?? 0, retries: r.retries ?? 0 },
  };
}

function freeUdpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, host, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

function noop(): void {}
