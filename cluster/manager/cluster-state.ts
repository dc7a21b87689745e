import { EventEmitter } from 'eventemitter3';
import type { ClusterMap } from '../../shared/cluster-map.js';
import { decodeMap } from '../../shared/map-codec.js';
import type { Cfg, CfgEntry, CfgEvent, CfgSnapshot, CfgWatch } from './cfg/cfg.js';
import { CfgKeys } from './keys.js';
import { decodeRecord, decodeSettings, type ClusterSettings, type NodeRecord } from './node-record.js';
import { decodeManagerRecord, type ManagerRecord } from './manager-record.js';

export interface ClusterStateEvents {
  /** A newer map was stored. */
  map: (map: ClusterMap) => void;
  /** Node records or liveness changed. */
  nodes: () => void;
  /** A node's liveness key went away (its lease expired). */
  'live-lost': (id: string) => void;
  /** A manager registered or went away. */
  managers: () => void;
  /** A principal was added, changed or removed. */
  principals: () => void;
  error: (err: Error) => void;
}

/**
 * What every manager knows of the cluster, kept current by one watch over the config
 * store: the map, the node records, which nodes are live, and the settings. A watch that
 * hits a compacted revision re-lists (the 'reset' event) and never silently resumes.
 */
export class ClusterState extends EventEmitter<ClusterStateEvents> {
  map: ClusterMap | null = null;
  mapModRev = 0;
  readonly records = new Map<string, NodeRecord & { modRev: number }>();
  readonly live = new Set<string>();
  settings: ClusterSettings | null = null;
  /** Live managers by id, from their registry keys (each under its manager's lease). */
  readonly managers = new Map<string, ManagerRecord>();
  settingsModRev = 0;
  /** Principal records by name, as stored (validated by whoever uses them). */
  readonly principals = new Map<string, unknown>();
  private watch: CfgWatch | null = null;

  constructor(private readonly cfg: Cfg) {
    super();
  }

  async start(): Promise<void> {
    const snapshot = await this.cfg.list('pandakv/');
    this.load(snapshot);
    this.watch = this.cfg.watch('pandakv/', snapshot.rev);
    this.watch.on('event', this.onEvent);
    this.watch.on('reset', this.onReset);
    this.watch.on('error', (err) => this.emit('error', err));
  }

  async close(): Promise<void> {
    await this.watch?.close();
    this.watch = null;
  }

  /** Adopt a map this manager just wrote, before the watch reports it. */
  noteMapWritten(map: ClusterMap, modRev: number): void {
    if (modRev <= this.mapModRev) return;
    this.map = map;
    this.mapModRev = modRev;
    this.emit('map', map);
  }

  private load(snapshot: CfgSnapshot): void {
    this.records.clear();
    this.live.clear();
    this.principals.clear();
    this.managers.clear();
    for (const e of snapshot.entries) this.put(e, false);
    this.emit('nodes');
    this.emit('managers');
    this.emit('principals');
  }

  private readonly onReset = (snapshot: CfgSnapshot): void => {
    const before = new Set(this.live);
    this.load(snapshot);
    for (const id of before) if (!this.live.has(id)) this.emit('live-lost', id);
  };

  private readonly onEvent = (ev: CfgEvent): void => {
    if (ev.type === 'put') {
      this.put(ev.entry, true);
      return;
    }
    const key = ev.key;
    if (key.startsWith(CfgKeys.livePrefix)) {
      const id = key.slice(CfgKeys.livePrefix.length);
      if (this.live.delete(id)) {
        this.emit('live-lost', id);
        this.emit('nodes');
      }
    } else if (key.startsWith(CfgKeys.nodePrefix)) {
      if (this.records.delete(key.slice(CfgKeys.nodePrefix.length))) this.emit('nodes');
    } else if (key.startsWith(CfgKeys.principalPrefix)) {
      if (this.principals.delete(key.slice(CfgKeys.principalPrefix.length))) this.emit('principals');
    } else if (key.startsWith(CfgKeys.managerPrefix)) {
      if (this.managers.delete(key.slice(CfgKeys.managerPrefix.length))) this.emit('managers');
    }
  };

  private put(e: CfgEntry, isLive: boolean): void {
    try {
      if (e.key === CfgKeys.map) {
        if (e.modRev <= this.mapModRev) return;
        const map = decodeMap(e.value);
        this.map = map;
        this.mapModRev = e.modRev;
        this.emit('map', map);
      } else if (e.key === CfgKeys.settings) {
        this.settings = decodeSettings(e.value);
        this.settingsModRev = e.modRev;
      } else if (e.key.startsWith(CfgKeys.nodePrefix)) {
        const record = decodeRecord(e.value);
        this.records.set(record.id, { ...record, modRev: e.modRev });
        if (isLive) this.emit('nodes');
      } else if (e.key.startsWith(CfgKeys.principalPrefix)) {
        this.principals.set(e.key.slice(CfgKeys.principalPrefix.length), JSON.parse(Buffer.from(e.value).toString('utf8')));
        if (isLive) this.emit('principals');
      } else if (e.key.startsWith(CfgKeys.managerPrefix)) {
        const record = decodeManagerRecord(e.value);
        this.managers.set(record.id, record);
        if (isLive) this.emit('managers');
      } else if (e.key.startsWith(CfgKeys.livePrefix)) {
        const id = e.key.slice(CfgKeys.livePrefix.length);
        if (!this.live.has(id)) {
          this.live.add(id);
          if (isLive) this.emit('nodes');
        }
      }
    } catch (err) {
      this.emit('error', new Error(`ignoring malformed ${e.key}: ${err instanceof Error ? err.message : String(err)}`));
    }
  }
}
