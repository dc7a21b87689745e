/**
 * The dashboard's side of the heartbeat path (the way nodes already report seqnos): the
 * keys pages follow go to every node with each heartbeat acknowledgement, and the value
 * sizes the nodes answer with in their next heartbeats are kept here; the node events
 * relayed with heartbeats (fence, unfence, rollback, hint-replay) go into the manager's
 * event log, so the timeline shows them, once each.
 */
import { MAX_PROBED_KEYS, type KeySizeReport, type NodeEventReport } from '../../../shared/map-protocol.js';
import type { EventValue } from '../../../shared/event-format.js';

/** What the map service tells the reports (see map-service.ts). */
export interface NodeReportSink {
  /** Keys to probe in the acknowledgement of a node's heartbeat; undefined: none. */
  probe(): Uint8Array[] | undefined;
  /** A node's heartbeat was accepted, with these extra fields. */
  onHeartbeat(nodeId: string, sizes: KeySizeReport[] | undefined, events: NodeEventReport[] | undefined): void;
  /** A node registered (again): its relayed events count from 1 once more if it restarted. */
  onRegister(nodeId: string): void;
}

/** The event log, as far as relayed events are written to it. */
export interface RelayedEventLog {
  record(name: string, fields: Record<string, EventValue>): void;
}

/** A copy's value size of a followed key: `bytes` null when the node holds no value for it. */
export interface ValueSize {
  bytes: number | null;
  /** When the heartbeat that reported it arrived (ms since the epoch). */
  at: number;
}

export class NodeReports implements NodeReportSink {
  /** Followed key (hex of its bytes) → its bytes, by watcher. */
  private readonly watchers = new Map<object, { hex: string; key: Uint8Array }>();
  private probeList: Uint8Array[] | undefined;
  /** Key hex → node id → size. */
  private readonly sizes = new Map<string, Map<string, ValueSize>>();
  /** Last relayed event number per node. */
  private readonly lastEvent = new Map<string, number>();

  constructor(private readonly log: RelayedEventLog | null, private readonly now: () => number = Date.now) {}

  /** `watcher` (a page) follows `key` (UTF-8 bytes); null stops. At most MAX_PROBED_KEYS distinct keys are probed. */
  watch(watcher: object, key: Uint8Array | null): void {
    if (key === null) this.watchers.delete(watcher);
    else this.watchers.set(watcher, { hex: Buffer.from(key).toString('hex'), key });
    const keys = new Map<string, Uint8Array>();
    for (const w of this.watchers.values()) if (keys.size < MAX_PROBED_KEYS) keys.set(w.hex, w.key);
    for (const hex of this.sizes.keys()) if (!keys.has(hex)) this.sizes.delete(hex);
    this.probeList = keys.size === 0 ? undefined : [...keys.values()];
  }

  /** What each node last reported for `key`. */
  sizesOf(key: Uint8Array): ReadonlyMap<string, ValueSize> | undefined {
    return this.sizes.get(Buffer.from(key).toString('hex'));
  }

  probe(): Uint8Array[] | undefined {
    return this.probeList;
  }

  onHeartbeat(nodeId: string, sizes: KeySizeReport[] | undefined, events: NodeEventReport[] | undefined): void {
    if (sizes !== undefined) {
      const at = this.now();
      for (const s of sizes) {
        // Only keys still followed: a late answer must not bring back a forgotten key.
        const byNode = this.sizes.get(Buffer.from(s.key).toString('hex')) ?? this.newEntry(s.key);
        byNode?.set(nodeId, { bytes: s.bytes, at });
      }
    }
    if (events !== undefined && events.length > 0) this.relay(nodeId, events);
  }

  onRegister(nodeId: string): void {
    this.lastEvent.delete(nodeId);
  }

  private newEntry(key: Uint8Array): Map<string, ValueSize> | undefined {
    const hex = Buffer.from(key).toString('hex');
    if (this.probeList === undefined || !this.probeList.some((k) => Buffer.from(k).toString('hex') === hex)) return undefined;
    const byNode = new Map<string, ValueSize>();
    this.sizes.set(hex, byNode);
    return byNode;
  }

  private relay(nodeId: string, events: NodeEventReport[]): void {
    let last = this.lastEvent.get(nodeId) ?? 0;
    for (const e of events) {
      // Resent until acknowledged: each is written once.
      if (e.n <= last) continue;
      last = e.n;
      // The node's own fields; `node` and `node_at` say whose and when it happened there.
      const fields: Record<string, EventValue> = { node: nodeId, node_at: new Date(e.at).toISOString(), ...e.fields };
      fields.node = nodeId;
      fields.node_at = new Date(e.at).toISOString();
      this.log?.record(e.name, fields);
    }
    this.lastEvent.set(nodeId, last);
  }
}
