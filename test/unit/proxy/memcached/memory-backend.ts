import { KvError } from '../../../../shared/errors.js';
import type {
  McCounterOptions, McCounterResult, McDumpEntry, McItem, McPrincipal, McRole, McStoreMode, McStoreResult, MemcachedBackend,
} from '../../../../proxy/memcached/backend.js';

const MAX_RELATIVE_TTL = 60 * 60 * 24 * 30;
const U64 = 1n << 64n;

interface Entry {
  value: Uint8Array;
  flags: number;
  cas: bigint;
  /** Expiry in ms since the epoch; 0 = never. */
  expiresAtMs: number;
}

export interface MemoryBackendOptions {
  /** Clock in ms (tests move it instead of sleeping). */
  nowMs?: () => number;
  /** user → password and roles. */
  users?: Record<string, { password: string; roles: McRole[] }>;
}

/** A Map-backed `MemcachedBackend` with memcached's semantics, for tests. */
export class MemoryBackend implements MemcachedBackend {
  readonly items = new Map<string, Entry>();
  private nextCas = 1n;
  private readonly nowMs: () => number;
  private readonly users: Record<string, { password: string; roles: McRole[] }>;
  /** Credentials each `authenticate` call received, to check nothing leaks elsewhere. */
  readonly authCalls: Array<{ user: string; password: string }> = [];

  constructor(options: MemoryBackendOptions = {}) {
    this.nowMs = options.nowMs ?? Date.now;
    this.users = options.users ?? {};
  }

  private id(key: Uint8Array): string {
    return Buffer.from(key).toString('latin1');
  }

  private live(key: Uint8Array): Entry | null {
    const id = this.id(key);
    const e = this.items.get(id);
    if (e === undefined) return null;
    if (e.expiresAtMs !== 0 && e.expiresAtMs <= this.nowMs()) {
      this.items.delete(id);
      return null;
    }
    return e;
  }

  /** Expiry for a memcached TTL; -1 means "already expired". */
  private expiry(ttl: number): number {
    if (ttl === 0) return 0;
    if (ttl < 0) return -1;
    return ttl <= MAX_RELATIVE_TTL ? this.nowMs() + ttl * 1000 : ttl * 1000;
  }

  private put(key: Uint8Array, value: Uint8Array, flags: number, ttl: number): bigint {
    const expiresAtMs = this.expiry(ttl);
    const cas = this.nextCas++;
    if (expiresAtMs === -1) this.items.delete(this.id(key));
    else this.items.set(this.id(key), { value: Uint8Array.from(value), flags, cas, expiresAtMs });
    return cas;
  }

  private item(e: Entry): McItem {
    const ttlSec = e.expiresAtMs === 0 ? -1 : Math.max(0, Math.ceil((e.expiresAtMs - this.nowMs()) / 1000));
    return { value: e.value, flags: e.flags, cas: e.cas, ttlSec };
  }

  async get(key: Uint8Array): Promise<McItem | null> {
    const e = this.live(key);
    return e === null ? null : this.item(e);
  }

  async getAndTouch(key: Uint8Array, ttl: number): Promise<McItem | null> {
    const e = this.live(key);
    if (e === null) return null;
    const expiresAtMs = this.expiry(ttl);
    if (expiresAtMs === -1) {
      this.items.delete(this.id(key));
      return { ...this.item(e), ttlSec: 0 };
    }
    e.expiresAtMs = expiresAtMs;
    return this.item(e);
  }

  async store(mode: McStoreMode, key: Uint8Array, value: Uint8Array, flags: number, ttl: number, cas?: bigint): Promise<McStoreResult> {
    const e = this.live(key);
    switch (mode) {
      case 'set':
        return { status: 'STORED', cas: this.put(key, value, flags, ttl) };
      case 'add':
        return e !== null ? { status: 'NOT_STORED', cas: 0n } : { status: 'STORED', cas: this.put(key, value, flags, ttl) };
      case 'replace':
        return e === null ? { status: 'NOT_STORED', cas: 0n } : { status: 'STORED', cas: this.put(key, value, flags, ttl) };
      case 'cas':
        if (e === null) return { status: 'NOT_FOUND', cas: 0n };
        if (e.cas !== cas) return { status: 'EXISTS', cas: 0n };
        return { status: 'STORED', cas: this.put(key, value, flags, ttl) };
      case 'append':
      case 'prepend': {
        if (e === null) return { status: 'NOT_STORED', cas: 0n };
        if (cas !== undefined && e.cas !== cas) return { status: 'EXISTS', cas: 0n };
        const joined = mode === 'append' ? Buffer.concat([e.value, value]) : Buffer.concat([value, e.value]);
        e.value = joined;
        e.cas = this.nextCas++;
        return { status: 'STORED', cas: e.cas };
      }
    }
  }

  async delete(key: Uint8Array, cas?: bigint): Promise<'DELETED' | 'NOT_FOUND' | 'EXISTS'> {
    const e = this.live(key);
    if (e === null) return 'NOT_FOUND';
    if (cas !== undefined && e.cas !== cas) return 'EXISTS';
    this.items.delete(this.id(key));
    return 'DELETED';
  }

  async counter(op: 'incr' | 'decr', key: Uint8Array, delta: bigint, opts?: McCounterOptions): Promise<McCounterResult | null> {
    const e = this.live(key);
    if (e === null) {
      if (opts?.initial === undefined) return null;
      const cas = this.put(key, Buffer.from(opts.initial.toString(), 'latin1'), 0, opts.ttl ?? 0);
      return { value: opts.initial, cas };
    }
    const text = Buffer.from(e.value).toString('latin1').trimEnd();
    if (!/^\d{1,20}$/.test(text) || BigInt(text) >= U64) throw KvError.badRequest('value is not a decimal number');
    const current = BigInt(text);
    const next = op === 'incr' ? (current + delta) % U64 : (current > delta ? current - delta : 0n);
    e.value = Buffer.from(next.toString(), 'latin1');
    e.cas = this.nextCas++;
    return { value: next, cas: e.cas };
  }

  async touch(key: Uint8Array, ttl: number): Promise<boolean> {
    const e = this.live(key);
    if (e === null) return false;
    const expiresAtMs = this.expiry(ttl);
    if (expiresAtMs === -1) this.items.delete(this.id(key));
    else e.expiresAtMs = expiresAtMs;
    return true;
  }

  async authenticate(user: string, password: string): Promise<McPrincipal | null> {
    this.authCalls.push({ user, password });
    const u = this.users[user];
    if (u === undefined || u.password !== password) return null;
    return { name: user, roles: new Set(u.roles) };
  }

  async stats(): Promise<Record<string, string | number>> {
    return { curr_items: this.items.size };
  }

  /** Calls of `flush`, to check who was allowed to flush. */
  flushes = 0;

  async dump(limit: number): Promise<McDumpEntry[]> {
    const keys = [...this.items.keys()].sort().filter((k) => this.live(Buffer.from(k, 'latin1')) !== null).slice(0, limit);
    return keys.map((k) => ({ key: Buffer.from(k, 'latin1'), size: this.items.get(k)!.value.length }));
  }

  async flush(): Promise<number> {
    this.flushes++;
    const n = this.items.size;
    this.items.clear();
    return n;
  }
}
