import type { ClusterMap, MapManager } from '../../shared/cluster-map.js';
import { encodeMap } from '../../shared/map-codec.js';
import { KvError } from '../../shared/errors.js';
import type { EventLog } from '../../shared/event-log.js';
import type { Cfg, CfgFence, CfgLeadership } from './cfg/cfg.js';
import type { ClusterState } from './cluster-state.js';
import { CfgKeys, nodeKey } from './keys.js';
import { decodeRecord, encodeRecord, encodeSettings, type ClusterSettings, type NodeRecord } from './node-record.js';
import { mapManagers } from './manager-record.js';

/** What the writer needs of the leader it writes for. */
export interface MapWriterHost {
  readonly cfg: Cfg;
  readonly state: ClusterState;
  /** The current leadership, null when not leading. */
  readonly leadership: CfgLeadership | null;
  /** Where `epoch-change` is recorded. */
  readonly events: EventLog;
  /** Told after a node record changed, so membership events are logged in order. */
  readonly nodeEvents: { check(): void } | null;
  /** This manager's id in the map's manager list. */
  readonly selfId: string;
}

/** A node record as stored, with the revision a compare-and-set needs. */
export type StoredNodeRecord = NodeRecord & { modRev: number };

/** Times a state change reads a node's record again after a concurrent write, before giving up. */
const MAX_STATE_RETRIES = 8;

/**
 * Every write the leader makes to the config store — the map, node records, settings —
 * each a compare-and-set fenced by the leadership, so a deposed leader's late write can
 * never land.
 */
export class MapWriter {
  constructor(private readonly host: MapWriterHost) {}

  /** The fence of the current leadership. @throws KvError UNAVAILABLE when not leading */
  fence(): CfgFence {
    const l = this.host.leadership;
    if (l === null || !l.isLeader) throw KvError.unavailable('this manager is not the leader', { isSafeToRetry: true });
    return l.fence;
  }

  /** The managers as the map lists them: this one (the leader) first. */
  managerList(): MapManager[] {
    return mapManagers(this.host.state.managers.values(), this.host.selfId);
  }

  /** Store `planned` with the current manager list; records an epoch change. */
  async writeMap(planned: ClusterMap): Promise<void> {
    const state = this.host.state;
    const managers = this.managerList();
    const map: ClusterMap = managers.length === 0 ? planned : { ...planned, managers };
    // Taken before the write: the store's watch may hand the new map over before cas returns.
    const previous = state.map;
    const r = await this.host.cfg.cas(CfgKeys.map, encodeMap(map), state.mapModRev, { fence: this.fence() });
    if (!r.ok) {
      throw r.isFenceBroken
        ? KvError.unavailable('leadership lost; the map was not written', { isSafeToRetry: true })
        : KvError.unavailable('the map changed concurrently; try again', { isSafeToRetry: true });
    }
    state.noteMapWritten(map, r.rev);
    if (previous === null || previous.epoch !== map.epoch) {
      this.host.events.record('epoch-change', { oldEpoch: previous?.epoch ?? null, newEpoch: map.epoch, rev: map.rev });
    }
  }

  /**
   * Set node `r`'s state. A concurrent write to its record fails the change (KvError
   * UNAVAILABLE), unless `onConflict` is 'reread' (an operator's add or remove: the node
   * rewrites its own record when it registers again, and the operator's state then goes
   * onto the record as stored).
   */
  async setState(r: StoredNodeRecord, state: NodeRecord['state'], onConflict: 'fail' | 'reread' = 'fail'): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const next: NodeRecord = { id: r.id, address: r.address, zone: r.zone, weight: r.weight, peerKey: r.peerKey, state };
      const res = await this.host.cfg.cas(nodeKey(r.id), encodeRecord(next), r.modRev, { fence: this.fence() });
      if (res.ok) {
        this.host.state.records.set(r.id, { ...next, modRev: res.rev });
        this.host.nodeEvents?.check();
        return;
      }
      const stored = onConflict === 'reread' && attempt < MAX_STATE_RETRIES ? await this.host.cfg.get(nodeKey(r.id)) : null;
      if (stored === null) throw KvError.unavailable(`node ${r.id} changed concurrently; try again`, { isSafeToRetry: true });
      r = { ...decodeRecord(stored.value), modRev: stored.modRev };
    }
  }

  /** Forget node `id` (a drained node). */
  async deleteNode(id: string): Promise<void> {
    await this.host.cfg.cas(nodeKey(id), null, this.host.state.records.get(id)?.modRev ?? 0, { fence: this.fence() });
  }

  /** Store `settings`; false when they changed concurrently. */
  async writeSettings(settings: ClusterSettings, modRev = this.host.state.settingsModRev): Promise<boolean> {
    const r = await this.host.cfg.cas(CfgKeys.settings, encodeSettings(settings), modRev, { fence: this.fence() });
    if (!r.ok) return false;
    this.host.state.settings = settings;
    this.host.state.settingsModRev = r.rev;
    return true;
  }

  /** The current map. @throws KvError UNAVAILABLE when there is none yet */
  requireMap(): ClusterMap {
    const map = this.host.state.map;
    if (map === null) throw KvError.unavailable('there is no map yet: no node has joined');
    return map;
  }

  /** A node by id, id prefix or address. @throws KvError NOT_FOUND */
  find(ref: string): StoredNodeRecord {
    const records = [...this.host.state.records.values()];
    const hit = records.find((r) => r.id === ref || r.address === ref) ?? (() => {
      const prefixed = records.filter((r) => r.id.startsWith(ref));
      return prefixed.length === 1 ? prefixed[0] : undefined;
    })();
    if (hit === undefined) throw KvError.notFound(`no node matches "${ref}"`);
    return hit;
  }
}
