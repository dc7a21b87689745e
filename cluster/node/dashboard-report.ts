/**
 * What a node adds to its heartbeats for the manager's dashboard, besides the load report:
 * the value size of each key the manager probes (the page's "follow a key": sizes only,
 * never values), and the node's timeline events (fence, unfence, rollback, hint-replay),
 * resent with every heartbeat until the manager acknowledges one that carried them.
 */
import type { EventLog } from '../../shared/event-log.js';
import type { ClusterEvent } from '../../shared/event-format.js';
import {
  MAX_EVENT_FIELDS, MAX_REPORTED_EVENTS, type KeySizeReport, type NodeEventReport,
} from '../../shared/map-protocol.js';
import { bytesToBinary } from '../../shared/protocol/binary-key.js';
import type { KvEngine } from './engine/types.js';

/** Node events the manager's timeline shows. */
export const RELAYED_EVENTS: ReadonlySet<string> = new Set(['fence', 'unfence', 'rollback', 'hint-replay']);

/** Events kept for the manager while none acknowledges them; the oldest go first. */
export const MAX_PENDING_EVENTS = 256;

/** What the heartbeat link asks of the reporter (see manager-link.ts). */
export interface HeartbeatExtras {
  /** The fields to add to heartbeat `seq`. */
  forHeartbeat(seq: number): { sizes?: KeySizeReport[]; events?: NodeEventReport[] };
  /** The manager acknowledged heartbeat `seq`; `probe` are the keys it asks sizes of from now on. */
  onAck(seq: number, probe: Uint8Array[] | undefined): void;
}

interface Pending {
  report: NodeEventReport;
  /** The first heartbeat that carried it (0: none yet). */
  sentSeq: number;
}

export class DashboardReporter implements HeartbeatExtras {
  private probe: Uint8Array[] = [];
  private pending: Pending[] = [];
  private count = 0;

  constructor(private readonly engine: KvEngine, private readonly events: EventLog | null) {
    events?.on('event', this.onEvent);
  }

  close(): void {
    this.events?.off('event', this.onEvent);
  }

  forHeartbeat(seq: number): { sizes?: KeySizeReport[]; events?: NodeEventReport[] } {
    const out: { sizes?: KeySizeReport[]; events?: NodeEventReport[] } = {};
    if (this.probe.length > 0) out.sizes = this.probe.map((key) => ({ key, bytes: this.valueBytes(key) }));
    if (this.pending.length > 0) {
      const batch = this.pending.slice(0, MAX_REPORTED_EVENTS);
      for (const p of batch) if (p.sentSeq === 0) p.sentSeq = seq;
      out.events = batch.map((p) => p.report);
    }
    return out;
  }

  onAck(seq: number, probe: Uint8Array[] | undefined): void {
    this.probe = probe ?? [];
    this.pending = this.pending.filter((p) => p.sentSeq === 0 || p.sentSeq > seq);
  }

  /**
   * pandakv_node_key_value_bytes: the size of `key`'s value in this node's copy, read
   * without touching its recency or hit counters; null when the node holds none (or it expired).
   */
  private valueBytes(key: Uint8Array): number | null {
    const item = this.engine.peek(bytesToBinary(key));
    if (item === null) return null;
    if (item.expAt !== 0 && item.expAt * 1000 <= Date.now()) return null;
    return item.value.length;
  }

  private readonly onEvent = (e: ClusterEvent): void => {
    if (!RELAYED_EVENTS.has(e.name)) return;
    const fields: NodeEventReport['fields'] = {};
    for (const k of Object.keys(e.fields).slice(0, MAX_EVENT_FIELDS)) {
      const v = e.fields[k];
      fields[k] = typeof v === 'string' ? v.slice(0, 256) : (v ?? null);
    }
    this.pending.push({ report: { n: ++this.count, at: e.at, name: e.name, fields }, sentSeq: 0 });
    if (this.pending.length > MAX_PENDING_EVENTS) this.pending.shift();
  };
}
