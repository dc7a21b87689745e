import type { KvError } from '../../../shared/errors.js';

interface Waiter {
  gen: number;
  resolve: () => void;
  reject: (err: KvError) => void;
}

/** Callers of `whenDurable`, each waiting for the commit that covers write generation `gen`. */
export class DurableWaiters {
  private waiters: Waiter[] = [];

  get size(): number {
    return this.waiters.length;
  }

  /** Resolves once generation `gen` is on disk; rejects when a commit fails or the engine closes first. */
  add(gen: number): Promise<void> {
    return new Promise<void>((resolve, reject) => this.waiters.push({ gen, resolve, reject }));
  }

  /** Generations up to `durableGen` are on disk: their waiters go. */
  settle(durableGen: number): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.gen <= durableGen) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  rejectAll(err: KvError): void {
    const all = this.waiters;
    this.waiters = [];
    for (const w of all) w.reject(err);
  }
}
