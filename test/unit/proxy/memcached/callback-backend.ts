import { MemoryBackend, type MemoryBackendOptions } from './memory-backend.js';
import type { McCallbackBackend, McGetSink, McSetSink } from '../../../../proxy/memcached/callback-backend.js';

/** A parked callback call: its key and the way to let it finish. */
export interface ParkedCallback {
  key: string;
  release(): void;
}

/**
 * A `MemoryBackend` that also offers the callback forms of `get` and `set`, counting
 * them. While `isHolding`, calls wait until the test releases them; `isSync` answers
 * from inside the call; `failure` makes every callback call fail with it.
 */
export class CallbackMemoryBackend extends MemoryBackend implements McCallbackBackend {
  readonly parked: ParkedCallback[] = [];
  getCalls = 0;
  setCalls = 0;
  isHolding = false;
  isSync = false;
  failure: Error | null = null;

  constructor(options: MemoryBackendOptions = {}) {
    super(options);
  }

  getCb(key: Uint8Array, sink: McGetSink): void {
    this.getCalls++;
    this.run(key, sink, () => this.get(key).then((item) => sink.onItem(item?.value ?? null, item?.flags ?? 0), (err: unknown) => sink.onError(err)));
  }

  setCb(key: Uint8Array, value: Uint8Array, flags: number, ttl: number, sink: McSetSink): void {
    this.setCalls++;
    this.run(key, sink, () => this.store('set', key, value, flags, ttl).then((r) => sink.onStored(r.status), (err: unknown) => sink.onError(err)));
  }

  private run(key: Uint8Array, sink: { onError(err: unknown): void }, go: () => void): void {
    const fail = this.failure;
    const finish = fail === null ? go : (): void => sink.onError(fail);
    if (this.isSync && fail !== null) {
      finish();
      return;
    }
    // Not held: the operation runs now (as the cluster's, which sends at once) and reports later.
    if (this.isHolding) this.parked.push({ key: Buffer.from(key).toString('latin1'), release: finish });
    else if (fail === null) finish();
    else queueMicrotask(finish);
  }
}
