import type { McItem, McPrincipal, McStoreStatus, MemcachedBackend } from './backend.js';
import type {
  McCommand, McCounterCommand, McGetCommand, McMetaArithmeticCommand, McMetaDeleteCommand, McMetaFlags,
  McMetaGetCommand, McMetaSetCommand, McStatsCommand, McStoreCommand,
} from './commands.js';
import { isAllowed } from './auth.js';
import { errorCodeOf, errorLine } from './error-map.js';
import { metaStoreMode } from './line-parser.js';
import { ErrorCode } from '../../shared/errors.js';
import {
  CRLF, NO_REPLY, errorReply, line, metaLine, metaValueChunks, reply, valueChunks, type McReply, type MetaEcho,
} from './responses.js';

const EMPTY = new Uint8Array(0);
const NON_NUMERIC = 'CLIENT_ERROR cannot increment or decrement non-numeric value';
const MAX_RELATIVE_TTL = 60 * 60 * 24 * 30;
const META_STORE_CODES: Readonly<Record<McStoreStatus, string>> = Object.freeze({ STORED: 'HD', NOT_STORED: 'NS', EXISTS: 'EX', NOT_FOUND: 'NF' });

/** What the executor needs besides the backend. */
export interface McExecutorContext {
  /** What `version` answers. */
  version: string;
  /** The server's own lines for `stats`. */
  serverStats(): Record<string, string | number>;
  /** Current unix time in seconds (injectable for tests). */
  nowSec(): number;
  /** `flush_all`: flush now (resolves when done) or schedule one after `delaySec`. */
  flush(delaySec: number): Promise<void>;
  /** Most keys one `stats cachedump` lists. */
  maxDumpKeys: number;
}

/** The one slab class `stats cachedump` reports: the cluster has no slabs of its own. */
const DUMP_SLAB = 1;

/** The refusal of `flush_all` / binary flush to a principal without the admin role. */
export const FLUSH_REFUSAL = 'flush_all needs a principal with the admin role';

/** Whether a command's answers are all left out when it succeeds (classic noreply). */
function isNoreply(cmd: McCommand): boolean {
  return 'isNoreply' in cmd && cmd.isNoreply;
}

function isMeta(cmd: McCommand): boolean {
  return cmd.kind === 'mg' || cmd.kind === 'ms' || cmd.kind === 'md' || cmd.kind === 'ma';
}

/**
 * Runs parsed commands against a backend and renders memcached's answers. Knows nothing
 * of sockets; the connection decides order, flow control and authentication.
 */
export class McExecutor {
  constructor(private readonly backend: MemcachedBackend, private readonly context: McExecutorContext) {}

  /**
   * Answer `cmd` for `principal` (null when authentication is off). Never rejects: backend
   * failures become error answers. `quit` is the connection's business and answers nothing.
   */
  run(cmd: McCommand, principal: McPrincipal | null): McReply | Promise<McReply> {
    if (principal !== null && !isAllowed(principal, cmd)) {
      return errorReply(cmd.kind === 'flush' ? `CLIENT_ERROR ${FLUSH_REFUSAL}` : 'CLIENT_ERROR unauthorized', isNoreply(cmd));
    }
    switch (cmd.kind) {
      case 'version': return reply(`VERSION ${this.context.version}`);
      case 'mn': return reply('MN');
      case 'quit': return NO_REPLY;
      case 'verbosity': return cmd.isNoreply ? NO_REPLY : reply('OK');
      default: return this.runAsync(cmd);
    }
  }

  private async runAsync(cmd: McCommand): Promise<McReply> {
    try {
      switch (cmd.kind) {
        case 'get': return await this.get(cmd);
        case 'store': return await this.store(cmd);
        case 'delete': {
          const r = await this.backend.delete(cmd.key);
          return cmd.isNoreply ? NO_REPLY : reply(r);
        }
        case 'counter': return await this.counter(cmd);
        case 'touch': {
          const isTouched = await this.backend.touch(cmd.key, cmd.ttl);
          return cmd.isNoreply ? NO_REPLY : reply(isTouched ? 'TOUCHED' : 'NOT_FOUND');
        }
        case 'stats': return await this.stats(cmd);
        case 'flush':
          await this.context.flush(cmd.delaySec);
          return cmd.isNoreply ? NO_REPLY : reply('OK');
        case 'mg': return await this.metaGet(cmd);
        case 'ms': return await this.metaSet(cmd);
        case 'md': return await this.metaDelete(cmd);
        case 'ma': return await this.metaArithmetic(cmd);
        default: return errorReply('ERROR');
      }
    } catch (err) {
      const isCounter = cmd.kind === 'counter' || cmd.kind === 'ma';
      const text = isCounter && errorCodeOf(err) === ErrorCode.BAD_REQUEST ? NON_NUMERIC : errorLine(err);
      // Classic noreply leaves out errors too (as memcached does); meta never hides them.
      return errorReply(text, !isMeta(cmd) && isNoreply(cmd));
    }
  }

  private async get(cmd: McGetCommand): Promise<McReply> {
    const isTouch = cmd.op === 'gat' || cmd.op === 'gats';
    const withCas = cmd.op === 'gets' || cmd.op === 'gats';
    const items = await Promise.all(cmd.keys.map((k) => (isTouch ? this.backend.getAndTouch(k, cmd.ttl) : this.backend.get(k))));
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (item) valueChunks(cmd.keys[i]!, item, withCas, chunks);
    }
    chunks.push(line('END'));
    return { chunks, isError: false };
  }

  private async store(cmd: McStoreCommand): Promise<McReply> {
    const cas = cmd.mode === 'cas' ? cmd.cas : undefined;
    const r = await this.backend.store(cmd.mode, cmd.key, cmd.value, cmd.flags, cmd.ttl, cas);
    return cmd.isNoreply ? NO_REPLY : reply(r.status);
  }

  private async counter(cmd: McCounterCommand): Promise<McReply> {
    const r = await this.backend.counter(cmd.op, cmd.key, cmd.delta);
    if (cmd.isNoreply) return NO_REPLY;
    return reply(r === null ? 'NOT_FOUND' : r.value.toString());
  }

  private async stats(cmd: McStatsCommand): Promise<McReply> {
    if (cmd.args[0] === 'cachedump') return this.cachedump(cmd.args);
    if (cmd.args.length > 0) return errorReply('ERROR');
    const extra = await this.backend.stats();
    const all: Record<string, string | number> = { ...this.context.serverStats(), ...extra };
    const chunks: Uint8Array[] = [];
    for (const [name, value] of Object.entries(all)) {
      chunks.push(line(`STAT ${name.replace(/[^\x21-\x7e]/g, '_')} ${String(value).replace(/[\x00-\x1f\x7f]/g, ' ')}`));
    }
    chunks.push(line('END'));
    return { chunks, isError: false };
  }

  /**
   * `stats cachedump <slab> <limit>`: every key (up to `limit`, 0 = up to maxDumpKeys) as
   * `ITEM <key> [<bytes> b; 0 s]` in slab class 1; other classes are empty.
   */
  private async cachedump(args: string[]): Promise<McReply> {
    const slab = args.length === 3 && /^\d{1,10}$/.test(args[1]!) ? Number(args[1]) : NaN;
    const limit = args.length === 3 && /^\d{1,10}$/.test(args[2]!) ? Number(args[2]) : NaN;
    if (Number.isNaN(slab) || Number.isNaN(limit)) return errorReply('CLIENT_ERROR bad command line format');
    const chunks: Uint8Array[] = [];
    if (slab === DUMP_SLAB) {
      const max = limit === 0 ? this.context.maxDumpKeys : Math.min(limit, this.context.maxDumpKeys);
      for (const e of await this.backend.dump(max)) {
        chunks.push(Buffer.from('ITEM ', 'latin1'), e.key, Buffer.from(` [${e.size} b; 0 s]\r\n`, 'latin1'));
      }
    }
    chunks.push(line('END'));
    return { chunks, isError: false };
  }

  private async metaGet(cmd: McMetaGetCommand): Promise<McReply> {
    const f = cmd.flags;
    let item = f.ttl !== null ? await this.backend.getAndTouch(cmd.key, f.ttl) : await this.backend.get(cmd.key);
    let hasWon = false;
    if (item === null && f.vivifyTtl !== null) {
      const r = await this.backend.store('add', cmd.key, EMPTY, 0, f.vivifyTtl);
      if (r.status === 'STORED') {
        item = { value: EMPTY, flags: 0, cas: r.cas, ttlSec: this.reportedTtl(f.vivifyTtl) };
        hasWon = true;
      } else {
        item = await this.backend.get(cmd.key);
      }
    }
    if (item === null) return f.isQuiet ? NO_REPLY : { chunks: [metaLine('EN', f, { key: cmd.key })], isError: false };
    const echo = this.echo(cmd.key, item, f);
    const extra = hasWon ? 'W' : '';
    const chunks = f.hasValue ? metaValueChunks(f, echo, item.value, extra) : [metaLine('HD', f, echo, extra)];
    return { chunks, isError: false };
  }

  private async metaSet(cmd: McMetaSetCommand): Promise<McReply> {
    const f = cmd.flags;
    const mode = metaStoreMode(f.mode, f.compareCas !== null);
    const cas = mode === 'add' || f.compareCas === null ? undefined : f.compareCas;
    const r = await this.backend.store(mode, cmd.key, cmd.value, f.clientFlags, f.ttl ?? 0, cas);
    if (r.status === 'STORED' && f.isQuiet) return NO_REPLY;
    const echo: MetaEcho = r.status === 'STORED' ? { key: cmd.key, cas: r.cas } : { key: cmd.key };
    return { chunks: [metaLine(META_STORE_CODES[r.status], f, echo)], isError: false };
  }

  private async metaDelete(cmd: McMetaDeleteCommand): Promise<McReply> {
    const f = cmd.flags;
    // I (invalidate) is served as a delete: there is no stale-item state to mark.
    const r = await this.backend.delete(cmd.key, f.compareCas ?? undefined);
    if (r === 'DELETED' && f.isQuiet) return NO_REPLY;
    const code = r === 'DELETED' ? 'HD' : r === 'NOT_FOUND' ? 'NF' : 'EX';
    return { chunks: [metaLine(code, f, { key: cmd.key })], isError: false };
  }

  private async metaArithmetic(cmd: McMetaArithmeticCommand): Promise<McReply> {
    const f = cmd.flags;
    const op = f.mode === 'D' || f.mode === '-' ? 'decr' : 'incr';
    const opts = f.vivifyTtl !== null ? { initial: f.initial, ttl: f.vivifyTtl } : undefined;
    const r = await this.backend.counter(op, cmd.key, f.delta, opts);
    if (r === null) return { chunks: [metaLine('NF', f, { key: cmd.key })], isError: false };
    if (f.ttl !== null) await this.backend.touch(cmd.key, f.ttl);
    if (f.isQuiet) return NO_REPLY;
    const echo: MetaEcho = { key: cmd.key, cas: r.cas, ttlSec: f.ttl !== null ? this.reportedTtl(f.ttl) : -1 };
    if (!f.hasValue) return { chunks: [metaLine('HD', f, echo)], isError: false };
    const digits = Buffer.from(r.value.toString(), 'latin1');
    return { chunks: [metaLine(`VA ${digits.length}`, f, echo), digits, CRLF], isError: false };
  }

  private echo(key: Uint8Array, item: McItem, f: McMetaFlags): MetaEcho {
    const ttlSec = item.ttlSec ?? (f.ttl !== null ? this.reportedTtl(f.ttl) : -1);
    return { key, cas: item.cas, clientFlags: item.flags, size: item.value.length, ttlSec };
  }

  /** Seconds left for a memcached expiration time that was just set; -1 for never. */
  private reportedTtl(ttl: number): number {
    if (ttl === 0) return -1;
    if (ttl < 0) return 0;
    if (ttl <= MAX_RELATIVE_TTL) return ttl;
    return Math.max(0, ttl - this.context.nowSec());
  }
}
