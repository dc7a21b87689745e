import type { McPrincipal, MemcachedBackend } from './backend.js';
import type { BinCommand, BinSaslAuthCommand } from './binary-commands.js';
import type { McBinaryExecutor } from './binary-executor.js';
import type { MemcachedServerOptions } from './options.js';
import type { McReply } from './responses.js';
import type { McStats } from './stats.js';
import { McBinaryParser } from './binary-parser.js';
import { BinStatus, type BinHeader } from './binary-protocol.js';
import { packet, statusReply } from './binary-responses.js';
import { binaryError } from './error-map.js';
import { SASL_MECHANISMS, parseSaslPlain } from './sasl.js';

/** One request's work, as the connection schedules it. */
export interface McWork {
  /** Runs the request; called by the connection once it has taken the request in. */
  run(): McReply | Promise<McReply>;
  /** Later requests wait until this one is answered (authentication, flush). */
  isBarrier: boolean;
  /** The answer when the work fails or outlives the command timeout. */
  fail(err: unknown): McReply;
}

/** Requests served before a connection has authenticated. */
const OPEN_KINDS: ReadonlySet<BinCommand['kind']> = new Set(['noop', 'version', 'quit', 'sasl-list', 'sasl-auth', 'sasl-step']);

/**
 * The binary protocol on one connection: parses requests, enforces SASL authentication
 * when the server requires it, and hands data commands to the executor. No I/O: the
 * connection feeds bytes in and writes the replies in request order.
 */
export class McBinarySession {
  private readonly parser: McBinaryParser;
  private principal: McPrincipal | null = null;
  private authFailures = 0;
  /** Bumped when an authentication is given up on, so its late answer logs nobody in. */
  private authEpoch = 0;

  constructor(
    private readonly backend: MemcachedBackend,
    private readonly executor: McBinaryExecutor,
    private readonly options: Readonly<MemcachedServerOptions>,
    private readonly stats: McStats,
  ) {
    this.parser = new McBinaryParser(options);
    if (options.isAuthRequired) this.parser.setValueLimit(options.maxAuthPayloadBytes);
  }

  /** True once a SASL authentication succeeded. */
  get isAuthenticated(): boolean {
    return this.principal !== null;
  }

  /** Bytes of a request that has started arriving and is not complete. */
  get bufferedBytes(): number {
    return this.parser.bufferedBytes;
  }

  push(chunk: Buffer): void {
    this.parser.push(chunk);
  }

  /** The next request's work, or null when more bytes are needed. */
  next(isEnded: boolean): McWork | null {
    const r = this.parser.next(isEnded);
    if (r === null) return null;
    const fail = (err: unknown): McReply => {
      const e = binaryError(err);
      return statusReply(r, e.status, e.message);
    };
    const work = (run: () => McReply | Promise<McReply>, isBarrier = false): McWork => ({ run, isBarrier, fail });
    if (r.kind === 'error') return work(() => statusReply(r, r.status, r.message, r.isFatal));
    if (r.kind === 'quit') return work(() => ({ chunks: r.isQuiet ? [] : packet(r, {}).chunks, isError: false, isFinal: true }));
    if (this.options.isAuthRequired && this.principal === null && !OPEN_KINDS.has(r.kind)) {
      return work(() => statusReply(r, BinStatus.AUTH_ERROR, 'Authentication required: SASL PLAIN with a password principal'));
    }
    switch (r.kind) {
      case 'sasl-list':
        if (!this.options.isAuthRequired) return work(() => this.saslOff(r));
        return work(() => packet(r, { value: Buffer.from(SASL_MECHANISMS, 'latin1') }));
      case 'sasl-step':
        if (!this.options.isAuthRequired) return work(() => this.saslOff(r));
        return work(() => statusReply(r, BinStatus.AUTH_ERROR, 'Auth failure: PLAIN completes in one AUTH, no STEP is expected'));
      case 'sasl-auth':
        if (!this.options.isAuthRequired) return work(() => this.saslOff(r));
        return this.authWork(r, fail);
      case 'flush':
        // Requests behind a flush wait for it, so they see what it left.
        return work(() => this.executor.run(r, this.principal), true);
      default:
        return work(() => this.executor.run(r, this.principal));
    }
  }

  /** An AUTH's work: given up on (failed or timed out), its late answer logs nobody in. */
  private authWork(cmd: BinSaslAuthCommand, fail: (err: unknown) => McReply): McWork {
    const epoch = ++this.authEpoch;
    const failAuth = (err: unknown): McReply => {
      if (this.authEpoch === epoch) this.authEpoch++;
      return fail(err);
    };
    return { run: () => this.authenticate(cmd, epoch), isBarrier: true, fail: failAuth };
  }

  private saslOff(req: BinHeader): McReply {
    return statusReply(req, BinStatus.UNKNOWN_COMMAND, 'Unknown command: authentication is off on this server');
  }

  private async authenticate(cmd: BinSaslAuthCommand, epoch: number): Promise<McReply> {
    if (cmd.mechanism !== 'PLAIN') {
      return statusReply(cmd, BinStatus.AUTH_ERROR, `Auth failure: unsupported SASL mechanism, this server offers ${SASL_MECHANISMS}`);
    }
    const plain = parseSaslPlain(cmd.data);
    let principal: McPrincipal | null = null;
    if (plain !== null) {
      try {
        principal = await this.backend.authenticate(plain.user, plain.password);
      } catch (err) {
        const e = binaryError(err);
        return statusReply(cmd, e.status, e.message);
      }
    }
    // Given up on (timed out): the answer already went out; log nobody in.
    if (epoch !== this.authEpoch) return statusReply(cmd, BinStatus.AUTH_ERROR, 'Auth failure.');
    if (principal === null) {
      this.stats.authFailures++;
      this.authFailures++;
      return statusReply(cmd, BinStatus.AUTH_ERROR, 'Auth failure.', this.authFailures >= this.options.maxAuthFailures);
    }
    this.principal = principal;
    this.parser.setValueLimit(this.options.maxValueBytes);
    return packet(cmd, { value: Buffer.from('Authenticated', 'latin1') });
  }
}
