import type { MemcachedBackend, McStoreStatus } from './backend.js';

/*
 * Callback forms of the two commands that make up almost all memcached traffic: a
 * classic `get` of one key and a plain `set`. A backend that offers them lets the
 * connection run those commands without an async function or a promise of its own:
 * the outcome goes straight to the command's place in the answer order.
 */

/** Where the outcome of `getCb` goes: exactly one of the two, once, never from inside `getCb`. */
export interface McGetSink {
  /** The item's value and client flags; `value` null when the key does not exist. */
  onItem(value: Uint8Array | null, flags: number): void;
  onError(err: unknown): void;
}

/** Where the outcome of `setCb` goes: exactly one of the two, once, never from inside `setCb`. */
export interface McSetSink {
  onStored(status: McStoreStatus): void;
  onError(err: unknown): void;
}

/** The callback forms; same meaning as `MemcachedBackend.get` and `store('set', …)`. */
export interface McCallbackBackend {
  getCb(key: Uint8Array, sink: McGetSink): void;
  setCb(key: Uint8Array, value: Uint8Array, flags: number, ttl: number, sink: McSetSink): void;
}

/** Whether `backend` offers the callback forms. */
export function hasCallbacks(backend: MemcachedBackend): backend is MemcachedBackend & McCallbackBackend {
  const b = backend as Partial<McCallbackBackend>;
  return typeof b.getCb === 'function' && typeof b.setCb === 'function';
}
