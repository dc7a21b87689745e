import { MemoryBackend } from './memory-backend.js';
import type { McItem } from '../../../../proxy/memcached/backend.js';

/** A parked `get`: the key asked for and the way to let it finish. */
export interface ParkedCall {
  key: string;
  release(): void;
}

/**
 * A `MemoryBackend` whose reads wait until the test releases them, in any order, so
 * answers can be made to complete out of order. Writes go straight through.
 */
export class DeferredBackend extends MemoryBackend {
  readonly parked: ParkedCall[] = [];
  /** Reads started, in order. */
  readonly started: string[] = [];
  /** Most reads waiting at the same time. */
  maxConcurrent = 0;
  private waiting = 0;
  /** When false, reads run at once (still counted). */
  isHolding = true;

  override get(key: Uint8Array): Promise<McItem | null> {
    const name = Buffer.from(key).toString('latin1');
    this.started.push(name);
    if (!this.isHolding) return super.get(key);
    this.waiting++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.waiting);
    return new Promise<McItem | null>((resolve, reject) => {
      this.parked.push({
        key: name,
        release: () => {
          this.waiting--;
          super.get(key).then(resolve, reject);
        },
      });
    });
  }

  /** Release the parked call for `key` (the oldest one, if several). */
  releaseKey(key: string): void {
    const i = this.parked.findIndex((p) => p.key === key);
    if (i < 0) throw new Error(`no parked call for ${key}`);
    const [call] = this.parked.splice(i, 1);
    call!.release();
  }
}
