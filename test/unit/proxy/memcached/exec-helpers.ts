import { McParser } from '../../../../proxy/memcached/parser.js';
import { McExecutor } from '../../../../proxy/memcached/executor.js';
import { errorReply } from '../../../../proxy/memcached/responses.js';
import type {
  McCounterResult, McDumpEntry, McItem, McPrincipal, McRole, McStoreResult, MemcachedBackend,
} from '../../../../proxy/memcached/backend.js';

/**
 * Runs protocol text through the parser and executor one command at a time (no sockets)
 * and returns everything that would be written, as latin1 text.
 */
export class ExecSession {
  private readonly parser = new McParser();
  readonly executor: McExecutor;

  constructor(backend: MemcachedBackend, private readonly principal: McPrincipal | null = null, nowSec = (): number => Math.floor(Date.now() / 1000)) {
    this.executor = new McExecutor(backend, {
      version: '1.6.21',
      serverStats: () => ({ pid: 1, pandakv_proxy_memcached_commands_total: 0 }),
      nowSec,
      flush: async () => {
        await backend.flush();
      },
      maxDumpKeys: 1000,
    });
  }

  async send(text: string | Uint8Array): Promise<string> {
    this.parser.push(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
    let out = '';
    for (let r = this.parser.next(); r !== null; r = this.parser.next()) {
      const rep = r.kind === 'error' ? errorReply(r.line, r.isNoreply && !r.isFatal) : await this.executor.run(r, this.principal);
      for (const c of rep.chunks) out += Buffer.from(c).toString('latin1');
    }
    return out;
  }
}

export function principal(name: string, roles: McRole[]): McPrincipal {
  return { name, roles: new Set(roles) };
}

/** A backend whose every call rejects with `failure`. */
export class FailingBackend implements MemcachedBackend {
  constructor(public failure: unknown) {}
  private fail(): never {
    throw this.failure;
  }
  async get(): Promise<McItem | null> { return this.fail(); }
  async getAndTouch(): Promise<McItem | null> { return this.fail(); }
  async store(): Promise<McStoreResult> { return this.fail(); }
  async delete(): Promise<'DELETED' | 'NOT_FOUND' | 'EXISTS'> { return this.fail(); }
  async counter(): Promise<McCounterResult | null> { return this.fail(); }
  async touch(): Promise<boolean> { return this.fail(); }
  async authenticate(): Promise<McPrincipal | null> { return this.fail(); }
  async stats(): Promise<Record<string, string | number>> { return this.fail(); }
  async flush(): Promise<number> { return this.fail(); }
  async dump(): Promise<McDumpEntry[]> { return this.fail(); }
}
