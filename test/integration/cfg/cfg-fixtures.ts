import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cfg, CfgEvent, CfgLease, CfgLeadership, CfgSnapshot, CfgWatch } from '../../../cluster/manager/cfg/cfg.js';
import { openCfg } from '../../../cluster/manager/cfg/open-cfg.js';
import { withDeadline } from '../../helpers/deadline.js';
import { withEtcd } from '../../helpers/etcd.js';

/** Two handles on one fresh store: `peer` is a second client (the same object for the file store). */
export interface CfgContext {
  cfg: Cfg;
  peer: Cfg;
}

/** A backend the contract runs against. */
export interface Backend {
  name: 'file' | 'etcd';
  /** A short lease TTL the backend honours (etcd's minimum is 1 s). */
  leaseTtlMs: number;
  /** Run `fn` on a fresh, empty store and close everything afterwards. */
  run(fn: (ctx: CfgContext) => Promise<void>): Promise<void>;
}

/** Deadline of one contract test body. */
export const BODY_MS = 20_000;

/** Run `fn` with a file store in a temporary directory. */
export async function withFileCfg(fn: (cfg: Cfg, path: string) => Promise<void>, historyLength = 64): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-cfg-'));
  const path = join(dir, 'cfg.json');
  const cfg = await openCfg(`file:${path}`, { file: { historyLength } });
  try {
    await withDeadline(fn(cfg, path), BODY_MS, 'file store test body');
  } finally {
    await cfg.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export const FILE_BACKEND: Backend = {
  name: 'file',
  leaseTtlMs: 150,
  run: (fn) => withFileCfg((cfg) => fn({ cfg, peer: cfg })),
};

export const ETCD_BACKEND: Backend = {
  name: 'etcd',
  leaseTtlMs: 1000,
  run: (fn) => withEtcd(async (etcd) => {
    const cfg = await openCfg(etcd.url);
    let peer: Cfg | null = null;
    try {
      peer = await openCfg(etcd.url);
      await withDeadline(fn({ cfg, peer }), BODY_MS, 'etcd store test body');
    } finally {
      await peer?.close();
      await cfg.close();
    }
  }),
};

/** Text as bytes. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Bytes as text. */
export function text(value: Uint8Array): string {
  return new TextDecoder().decode(value);
}

/** An event as `put k=v@rev` / `delete k@rev`, for readable assertions. */
export function describe(event: CfgEvent): string {
  return event.type === 'put'
    ? `put ${event.entry.key}=${text(event.entry.value)}@${event.entry.modRev}`
    : `delete ${event.key}@${event.modRev}`;
}

/** Records what a watch emits and lets a test wait, under a deadline, for a condition on it. */
export class WatchRecorder {
  readonly events: CfgEvent[] = [];
  readonly resets: CfgSnapshot[] = [];
  readonly errors: Error[] = [];
  private waiters: Array<() => void> = [];

  constructor(readonly watch: CfgWatch) {
    watch.on('event', this.onEvent).on('reset', this.onReset).on('error', this.onError);
  }

  /** Resolve once `check()` holds, re-checking after every emission. */
  async until(check: () => boolean, ms: number, what: string): Promise<void> {
    const wait = async (): Promise<void> => {
      while (!check()) {
        if (this.errors.length > 0) throw this.errors[0]!;
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    };
    await withDeadline(wait(), ms, what);
  }

  /** Wait until at least `n` events were recorded. */
  untilEvents(n: number, ms: number): Promise<void> {
    return this.until(() => this.events.length >= n, ms, `${n} watch events (got ${this.events.map(describe).join(', ')})`);
  }

  close(): Promise<void> {
    return this.watch.close();
  }

  private readonly onEvent = (event: CfgEvent): void => {
    this.events.push(event);
    this.wake();
  };

  private readonly onReset = (snapshot: CfgSnapshot): void => {
    this.resets.push(snapshot);
    this.wake();
  };

  private readonly onError = (err: Error): void => {
    this.errors.push(err);
    this.wake();
  };

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** Resolve with the error of the next 'lost' of a lease or leadership, under a deadline. */
export function nextLost(emitter: CfgLease | CfgLeadership, ms: number, what: string): Promise<Error> {
  return withDeadline(new Promise<Error>((resolve) => { emitter.once('lost', resolve); }), ms, `"lost" of ${what}`);
}
