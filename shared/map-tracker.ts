import { isNewer, type ClusterMap } from './cluster-map.js';
import { applyDelta, decodeDelta, decodeMap } from './map-codec.js';
import type { MapServerMessage } from './map-protocol.js';

/** What a tracker did with one message. */
export type TrackResult =
  | { kind: 'map'; map: ClusterMap; previous: ClusterMap | null }
  | { kind: 'stale' }
  | { kind: 'resync'; reason: string }
  | { kind: 'other' };

/**
 * The subscriber side of the map service, without sockets: accepts full maps and
 * deltas, keeps only strictly newer `(epoch, rev)`, and asks for a full map when a
 * delta does not fit. Shared by the SDK, the proxy and data nodes.
 */
export class MapTracker {
  current: ClusterMap | null = null;

  /** The subscribe message for (re)connecting: only what changed since our rev is sent. */
  subscribeMessage(): { t: 'sub'; rev: number; epoch: number } {
    return { t: 'sub', rev: this.current?.rev ?? 0, epoch: this.current?.epoch ?? 0 };
  }

  accept(msg: MapServerMessage): TrackResult {
    if (msg.t === 'full') {
      let map: ClusterMap;
      try {
        map = decodeMap(msg.map);
      } catch (err) {
        return { kind: 'resync', reason: err instanceof Error ? err.message : 'bad map' };
      }
      return this.adopt(map);
    }
    if (msg.t === 'delta') {
      if (this.current === null) return { kind: 'resync', reason: 'delta without a base map' };
      try {
        const delta = decodeDelta(msg.delta);
        if (delta.fromRev !== this.current.rev || delta.fromEpoch !== this.current.epoch) {
          return isNewer(this.current, delta.map) || (this.current.rev === delta.map.rev && this.current.epoch === delta.map.epoch)
            ? { kind: 'stale' }
            : { kind: 'resync', reason: `delta from rev ${delta.fromRev}, have ${this.current.rev}` };
        }
        return this.adopt(applyDelta(this.current, delta));
      } catch (err) {
        return { kind: 'resync', reason: err instanceof Error ? err.message : 'bad delta' };
      }
    }
    return { kind: 'other' };
  }

  private adopt(map: ClusterMap): TrackResult {
    const previous = this.current;
    if (previous !== null && !isNewer(map, previous)) return { kind: 'stale' };
    this.current = map;
    return { kind: 'map', map, previous };
  }
}

/** A summary of what changed between two maps, for `map` events. */
export interface MapDiff {
  epochChanged: boolean;
  addedNodes: string[];
  removedNodes: string[];
  changedNodes: string[];
  /** Buckets whose active node changed. */
  movedBuckets: number;
}

export function diffSummary(previous: ClusterMap | null, next: ClusterMap): MapDiff {
  const before = new Map((previous?.nodes ?? []).map((n) => [n.id, n]));
  const after = new Map(next.nodes.map((n) => [n.id, n]));
  const addedNodes = [...after.keys()].filter((id) => !before.has(id));
  const removedNodes = [...before.keys()].filter((id) => !after.has(id));
  const changedNodes = [...after.values()].filter((n) => {
    const b = before.get(n.id);
    return b !== undefined && (b.state !== n.state || b.address !== n.address || b.weight !== n.weight);
  }).map((n) => n.id);
  let movedBuckets = 0;
  if (previous !== null && previous.bits === next.bits) {
    movedBuckets = countMoved(previous, next);
  } else if (previous !== null) {
    movedBuckets = -1;
  }
  return { epochChanged: previous === null || previous.epoch !== next.epoch, addedNodes, removedNodes, changedNodes, movedBuckets };
}

function activeIdAt(map: ClusterMap, run: number): string {
  return map.nodes[map.chains[map.runChains[run]!]![0]!]!.id;
}

// Walk both run lists together and count buckets whose active node differs.
function countMoved(a: ClusterMap, b: ClusterMap): number {
  const total = 2 ** a.bits;
  let i = 0;
  let j = 0;
  let at = 0;
  let moved = 0;
  while (at < total) {
    const endA = i + 1 < a.runStarts.length ? a.runStarts[i + 1]! : total;
    const endB = j + 1 < b.runStarts.length ? b.runStarts[j + 1]! : total;
    const end = Math.min(endA, endB);
    if (activeIdAt(a, i) !== activeIdAt(b, j)) moved += end - at;
    at = end;
    if (end === endA) i++;
    if (end === endB) j++;
  }
  return moved;
}
