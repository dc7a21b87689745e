import type { Credentials, KeyPair } from '../../shared/auth/index.js';
import type { TlsCa } from '../../shared/tls-ca.js';
import type { Response } from '../../shared/protocol/frames.js';
import { Lane } from '../lane.js';
import type { LaneAuth } from '../lane-contract.js';
import type { MapSource } from '../map-source.js';

/**
 * One lane per node for the backup's requests, opened on first use and replaced when it
 * closes. With credentials each lane runs the AUTH_NEEDED handshake (DESIGN §9) and makes
 * the node prove it holds the key the map lists for it, as the SDK's lanes do.
 */
export class NodeLanes {
  private readonly lanes = new Map<string, Lane>();
  private readonly auth: LaneAuth | null;

  constructor(source: MapSource, credentials: Credentials | null, private readonly options: { connectTimeoutMs: number; tlsCa: TlsCa | null }) {
    const derivedKeys = new Map<string, KeyPair>();
    this.auth = credentials === null ? null : {
      credentials,
      derivedKeys,
      serverKeyFor: (address) => source.current()?.nodes.find((n) => n.address === address)?.peerKey ?? null,
    };
  }

  /** Send `frame` to the node at `address`. */
  readonly request = (address: string, frame: unknown[], deadlineMs: number): Promise<Response> => this.lane(address).request(frame, deadlineMs);

  /** Close every lane. */
  async close(): Promise<void> {
    const lanes = [...this.lanes.values()];
    this.lanes.clear();
    await Promise.all(lanes.map((l) => l.close()));
  }

  private lane(address: string): Lane {
    let lane = this.lanes.get(address);
    if (lane === undefined || lane.isClosed) {
      lane = new Lane(address, {
        connectTimeoutMs: this.options.connectTimeoutMs,
        maxInFlight: 64,
        maxQueued: 1024,
        maxFramesPerMessage: 64,
        maxBatchBytes: 1024 * 1024,
        heartbeatMs: 5000,
        auth: this.auth,
        tlsCa: this.options.tlsCa,
      });
      // Failures reach the requests; the lane itself is replaced on the next use.
      lane.on('close', noop);
      this.lanes.set(address, lane);
    }
    return lane;
  }
}

function noop(): void {}
