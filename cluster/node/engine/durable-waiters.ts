import type { KvError } from '../../../shared/errors.js';

interface Waiter {
  gen: number;
  /** Someone waits on it now (a persist write), not only on the usual schedule. */
  isUrgent: boolean;
  resolve: () => void;
  reject: (err: KvError) => void;
}

/** Callers of `whenDurable`, each waiting for the commit that covers write generation `gen`. */
export class DurableWaiters {
  private waiters: Waiter[] = [];
  private urgent = 0;

  /** True while an urgent waiter waits. */
  get hasUrgent(): boolean {
    return this.urgent > 0;
  }

  /** Resolves once generation `gen` is on disk; rejects when a commit fails or the engine closes first. */
  add(gen: number, isUrgent = true): Promise<void> {
    if (isUrgent) this.urgent++;
    return new Promise<void>((resolve, reject) => this.waiters.push({ gen, isUrgent, resolve, reject }));
  }

  /** Generations up to `durableGen` are on disk: their waiters go. */
  settle(durableGen: number): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.gen > durableGen) {
        still.push(w);
        continue;
      }
      if (w.isUrgent) this.urgent--;
      w.resolve();
    }
    this.waiters = still;
  }

  rejectAll(err: KvError): void {
    const all = this.waiters;
    this.waiters = [];
    this.urgent = 0;
    for (const w of all) w.reject(err);
  }
}
