import type { NodeState } from '../../shared/cluster-map.js';
import type { EventLog, EventValue } from '../../shared/event-log.js';
import type { ClusterState } from './cluster-state.js';
import type { NodeRecord } from './node-record.js';

/** One membership change, as the event it is logged as. */
export interface NodeTransition {
  name: 'node-join' | 'node-add' | 'node-remove' | 'node-fail';
  fields: Record<string, EventValue>;
}

type Known = ReadonlyMap<string, NodeState>;

/**
 * The events between two views of the node records, in a stable order (by id):
 * a new record or a failed node registering again is a `node-join`; becoming active
 * is a `node-add`; starting to drain (`leaving`) and being forgotten are `node-remove`
 * with `phase=drain` and `phase=done`; becoming failed is a `node-fail`.
 */
export function nodeTransitions(before: Known, after: ReadonlyMap<string, NodeRecord>): NodeTransition[] {
  const out: NodeTransition[] = [];
  const ids = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const id of ids) {
    const was = before.get(id);
    const record = after.get(id);
    if (record === undefined) {
      out.push({ name: 'node-remove', fields: { node: id, phase: 'done', from: was ?? null } });
      continue;
    }
    const now = record.state;
    if (was === now) continue;
    const where = { node: id, address: record.address, zone: record.zone, weight: record.weight };
    if (was === undefined || (was === 'failed' && (now === 'active' || now === 'joining'))) {
      out.push({ name: 'node-join', fields: { ...where, state: now, isReturning: was === 'failed' } });
    }
    if (now === 'active') out.push({ name: 'node-add', fields: { ...where, from: was ?? null } });
    else if (now === 'leaving') out.push({ name: 'node-remove', fields: { node: id, phase: 'drain', from: was ?? null } });
    else if (now === 'failed') out.push({ name: 'node-fail', fields: { node: id, address: record.address, from: was ?? null } });
  }
  return out;
}

/**
 * Logs membership changes on the leading manager. Every manager keeps the baseline
 * current (so a manager that is elected later does not report the whole cluster as
 * new), but only the leader records, once per change. `check()` may be called right
 * after a local change, before the config store's watch reports it.
 */
export class NodeEventRecorder {
  private known = new Map<string, NodeState>();

  constructor(
    private readonly state: ClusterState,
    private readonly log: EventLog,
    private readonly isLeader: () => boolean,
  ) {
    this.known = snapshot(state.records);
    state.on('nodes', this.check);
  }

  /** Compare the records with what was seen last and record the difference (when leading). */
  readonly check = (): void => {
    const records = this.state.records;
    const transitions = nodeTransitions(this.known, records);
    this.known = snapshot(records);
    if (!this.isLeader()) return;
    for (const t of transitions) this.log.record(t.name, t.fields);
  };

  close(): void {
    this.state.off('nodes', this.check);
  }
}

function snapshot(records: ReadonlyMap<string, NodeRecord>): Map<string, NodeState> {
  const out = new Map<string, NodeState>();
  for (const [id, r] of records) out.set(id, r.state);
  return out;
}
