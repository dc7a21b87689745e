import { EventEmitter } from 'eventemitter3';
import { ErrorCode, KvError } from '../../shared/errors.js';
import type { PandaClient } from '../client.js';
import { backupUnits, type LoadedBackup } from './backup-files.js';
import { RESTORE_DEFAULTS, type RestoreOptions } from './options.js';

export interface RestoreProgress {
  /** Items written, and skipped because their expiry passed since the backup. */
  written: number;
  expired: number;
  /** Units whose items were all sent. */
  unitsDone: number;
  unitsTotal: number;
  itemsTotal: number;
}

/**
 * Write a verified backup into a cluster through the SDK (docs/backup.md): every item
 * with SET, its flags and its absolute expiry (so it expires when it would have; items
 * already expired are skipped). Keys are routed by the target's own map, so its node
 * count and bucket bits may differ from the backed-up cluster's. Keys the cluster has
 * and the backup does not are left as they are.
 */
export class ClusterRestore extends EventEmitter<{ progress: (p: RestoreProgress) => void }> {
  private readonly options: RestoreOptions;

  constructor(private readonly client: PandaClient<Uint8Array, Uint8Array>, private readonly backup: LoadedBackup, options: Partial<RestoreOptions> = {}) {
    super();
    this.options = { ...RESTORE_DEFAULTS, ...options };
  }

  /** @throws KvError when an item cannot be written after `maxAttempts` */
  async run(): Promise<RestoreProgress> {
    const m = this.backup.manifest;
    const p: RestoreProgress = { written: 0, expired: 0, unitsDone: 0, unitsTotal: m.units.length, itemsTotal: m.items };
    const inFlight = new Set<Promise<void>>();
    let failure: unknown = null;
    for await (const { items } of backupUnits(this.backup)) {
      for (const it of items) {
        if (it.expAt !== 0 && it.expAt <= Math.floor(Date.now() / 1000)) {
          p.expired++;
          continue;
        }
        if (failure !== null) throw failure;
        const w = this.write(it.key, it.value, it.flags, it.expAt).then(() => { p.written++; }, (err: unknown) => { failure ??= err; });
        inFlight.add(w);
        void w.finally(() => inFlight.delete(w));
        if (inFlight.size >= this.options.concurrency) await Promise.race(inFlight);
      }
      p.unitsDone++;
      this.emit('progress', { ...p });
    }
    await Promise.all(inFlight);
    if (failure !== null) throw failure;
    this.emit('progress', { ...p });
    return p;
  }

  private async write(key: Uint8Array, value: Uint8Array, flags: number, expAt: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.set(key, value, { flags, ttl: expAt, durability: this.options.durability, timeoutMs: this.options.timeoutMs });
        return;
      } catch (err) {
        // SET of the same state twice leaves the same item: a write that may have run is retried.
        const code = err instanceof KvError ? err.code : null;
        const isRetryable = code === ErrorCode.TIMEOUT || code === ErrorCode.CONNECTION_CLOSED || code === ErrorCode.UNAVAILABLE || code === ErrorCode.BUSY || code === ErrorCode.NOT_MY_BUCKET;
        if (!isRetryable || attempt >= this.options.maxAttempts) throw err;
      }
    }
  }
}
