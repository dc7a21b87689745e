import { backoffDelay } from '../../shared/backoff.js';
import { KvError } from '../../shared/errors.js';
import type { Cfg, CfgLease } from './cfg/cfg.js';
import { managerKey } from './keys.js';
import { encodeManagerRecord, type ManagerRecord } from './manager-record.js';

/**
 * Keeps this manager's entry in the config store under a lease of its own, so the
 * leader lists it in the map and nodes, SDKs and proxies learn it. The entry goes when
 * the manager stops or dies (its lease runs out); a lost lease is re-granted.
 */
export class ManagerRegistry {
  private lease: CfgLease | null = null;
  private isClosed = false;
  private retry: NodeJS.Timeout | null = null;
  private attempt = 0;

  constructor(private readonly cfg: Cfg, readonly record: ManagerRecord, private readonly ttlMs: number, private readonly retryBackoffMs: readonly number[]) {}

  async start(): Promise<void> {
    await this.register();
  }

  private async register(): Promise<void> {
    const lease = await this.cfg.grantLease(this.ttlMs);
    lease.startKeepAlive(Math.max(10, Math.floor(this.ttlMs / 3)));
    await this.cfg.put(managerKey(this.record.id), encodeManagerRecord(this.record), { lease });
    this.lease = lease;
    this.attempt = 0;
    lease.once('lost', this.onLost);
  }

  private readonly onLost = (): void => {
    if (this.isClosed) return;
    const delay = backoffDelay(this.retryBackoffMs, this.attempt++);
    this.retry = setTimeout(() => {
      this.retry = null;
      if (!this.isClosed) this.register().catch(this.onLost);
    }, delay);
    this.retry.unref();
  };

  async close(): Promise<void> {
    this.isClosed = true;
    if (this.retry !== null) clearTimeout(this.retry);
    const lease = this.lease;
    this.lease = null;
    if (lease !== null) {
      lease.off('lost', this.onLost);
      await lease.revoke().catch((err: unknown) => {
        if (!(err instanceof KvError)) throw err;
      });
    }
  }
}
