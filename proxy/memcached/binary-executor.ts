import type { McPrincipal, McStoreMode, McStoreResult, MemcachedBackend } from './backend.js';
import type {
  BinCommand, BinCounterCommand, BinDeleteCommand, BinGetCommand, BinStatCommand, BinStoreCommand, BinTouchCommand,
} from './binary-commands.js';
import type { McExecutorContext } from './executor.js';
import type { McReply } from './responses.js';
import { NO_REPLY } from './responses.js';
import { binaryRequiredRoles, hasRoles } from './auth.js';
import { binaryError, errorCodeOf } from './error-map.js';
import { FLUSH_REFUSAL } from './executor.js';
import { BinStatus, type BinHeader } from './binary-protocol.js';
import { counterValue, flagsExtras, packet, packetChunks, statusReply } from './binary-responses.js';
import { ErrorCode } from '../../shared/errors.js';

const NON_NUMERIC = 'Non-numeric server-side value for incr or decr';

/** How a store outcome is answered, by mode: memcached reports a refused add as "exists" and a refused replace as "not found". */
function storeStatus(mode: McStoreMode, r: McStoreResult): number {
  switch (r.status) {
    case 'STORED': return BinStatus.SUCCESS;
    case 'EXISTS': return BinStatus.KEY_EEXISTS;
    case 'NOT_FOUND': return BinStatus.KEY_ENOENT;
    case 'NOT_STORED':
      if (mode === 'add') return BinStatus.KEY_EEXISTS;
      if (mode === 'replace') return BinStatus.KEY_ENOENT;
      return BinStatus.NOT_STORED;
  }
}

const STORE_MESSAGES: Readonly<Record<number, string>> = Object.freeze({
  [BinStatus.KEY_EEXISTS]: 'Data exists for key.',
  [BinStatus.KEY_ENOENT]: 'Not found',
  [BinStatus.NOT_STORED]: 'Not stored.',
});

/**
 * Runs binary-protocol commands against a backend and renders the response packets.
 * Authentication, quit and SASL are the session's business; this sees data commands and
 * the informational ones. Never rejects: failures become error statuses, which quiet
 * commands report too.
 */
export class McBinaryExecutor {
  constructor(private readonly backend: MemcachedBackend, private readonly context: McExecutorContext) {}

  /** Answer `cmd` for `principal` (null when authentication is off). */
  run(cmd: BinCommand, principal: McPrincipal | null): McReply | Promise<McReply> {
    if (principal !== null && !hasRoles(principal, binaryRequiredRoles(cmd))) {
      const needs = binaryRequiredRoles(cmd).filter((r) => !principal.roles.has(r)).join(', ');
      return statusReply(cmd, BinStatus.EACCESS, cmd.kind === 'flush' ? FLUSH_REFUSAL : `No access: the principal lacks the ${needs} role`);
    }
    switch (cmd.kind) {
      case 'noop':
      case 'verbosity':
        return packet(cmd, {});
      case 'version':
        return packet(cmd, { value: Buffer.from(this.context.version, 'latin1') });
      case 'quit':
      case 'sasl-list':
      case 'sasl-auth':
      case 'sasl-step':
        // The session answers these; reaching here is a wiring mistake, answered safely.
        return statusReply(cmd, BinStatus.EINTERNAL, 'Internal error: command not handled');
      default:
        return this.runAsync(cmd);
    }
  }

  private async runAsync(cmd: BinCommand): Promise<McReply> {
    try {
      switch (cmd.kind) {
        case 'get': return await this.get(cmd);
        case 'touch': return await this.touch(cmd);
        case 'store': return await this.store(cmd);
        case 'delete': return await this.delete(cmd);
        case 'counter': return await this.counter(cmd);
        case 'stat': return await this.stat(cmd);
        case 'flush':
          await this.context.flush(cmd.delaySec);
          return cmd.isQuiet ? NO_REPLY : packet(cmd, {});
        default: return statusReply(cmd, BinStatus.UNKNOWN_COMMAND, 'Unknown command');
      }
    } catch (err) {
      if (cmd.kind === 'counter' && errorCodeOf(err) === ErrorCode.BAD_REQUEST) return statusReply(cmd, BinStatus.DELTA_BADVAL, NON_NUMERIC);
      const e = binaryError(err);
      return statusReply(cmd, e.status, e.message);
    }
  }

  private async get(cmd: BinGetCommand): Promise<McReply> {
    const item = cmd.ttl === null ? await this.backend.get(cmd.key) : await this.backend.getAndTouch(cmd.key, cmd.ttl);
    if (item === null) {
      if (cmd.isQuiet) return NO_REPLY;
      // As memcached: the keyed forms echo the key on a miss, the others say "Not found".
      return cmd.withKey ? packet(cmd, { status: BinStatus.KEY_ENOENT, key: cmd.key }) : statusReply(cmd, BinStatus.KEY_ENOENT, 'Not found');
    }
    return packet(cmd, { cas: item.cas, extras: flagsExtras(item.flags), key: cmd.withKey ? cmd.key : undefined, value: item.value });
  }

  private async touch(cmd: BinTouchCommand): Promise<McReply> {
    const item = await this.backend.getAndTouch(cmd.key, cmd.ttl);
    if (item === null) return statusReply(cmd, BinStatus.KEY_ENOENT, 'Not found');
    return packet(cmd, { cas: item.cas, extras: flagsExtras(item.flags) });
  }

  private async store(cmd: BinStoreCommand): Promise<McReply> {
    const hasCas = cmd.cas !== 0n;
    // memcached turns any set/add/replace with a cas into a compare-and-swap.
    const mode: McStoreMode = hasCas && (cmd.mode === 'set' || cmd.mode === 'add' || cmd.mode === 'replace') ? 'cas' : cmd.mode;
    const r = await this.backend.store(mode, cmd.key, cmd.value, cmd.flags, cmd.ttl, hasCas ? cmd.cas : undefined);
    const status = storeStatus(mode, r);
    if (status === BinStatus.SUCCESS) return cmd.isQuiet ? NO_REPLY : packet(cmd, { cas: r.cas });
    return statusReply(cmd, status, STORE_MESSAGES[status]!);
  }

  private async delete(cmd: BinDeleteCommand): Promise<McReply> {
    const r = await this.backend.delete(cmd.key, cmd.cas !== 0n ? cmd.cas : undefined);
    if (r === 'DELETED') return cmd.isQuiet ? NO_REPLY : packet(cmd, {});
    return r === 'NOT_FOUND' ? statusReply(cmd, BinStatus.KEY_ENOENT, 'Not found') : statusReply(cmd, BinStatus.KEY_EEXISTS, 'Data exists for key.');
  }

  private async counter(cmd: BinCounterCommand): Promise<McReply> {
    // The backend's counters have no compare step; refusing beats a silent unchecked update.
    if (cmd.cas !== 0n) return statusReply(cmd, BinStatus.EINVAL, 'Invalid arguments: incr/decr with a cas is not supported');
    const opts = cmd.ttl === null ? undefined : { initial: cmd.initial, ttl: cmd.ttl };
    const r = await this.backend.counter(cmd.op, cmd.key, cmd.delta, opts);
    if (r === null) return statusReply(cmd, BinStatus.KEY_ENOENT, 'Not found');
    return cmd.isQuiet ? NO_REPLY : packet(cmd, { cas: r.cas, value: counterValue(r.value) });
  }

  /** The general stats, one packet per stat, closed by an empty packet. */
  private async stat(cmd: BinStatCommand): Promise<McReply> {
    if (cmd.group !== '') return statusReply(cmd, BinStatus.KEY_ENOENT, `Not found: no stats group ${JSON.stringify(cmd.group.slice(0, 32))}`);
    const all = { ...this.context.serverStats(), ...(await this.backend.stats()) };
    const chunks: Uint8Array[] = [];
    const header: BinHeader = { opcode: cmd.opcode, opaque: cmd.opaque };
    for (const [name, value] of Object.entries(all)) {
      packetChunks(header, { key: Buffer.from(name, 'utf8'), value: Buffer.from(String(value), 'utf8') }, chunks);
    }
    packetChunks(header, {}, chunks);
    return { chunks, isError: false };
  }
}
