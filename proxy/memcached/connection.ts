import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { KvError } from '../../shared/errors.js';
import type { McPrincipal, MemcachedBackend } from './backend.js';
import type { McGetCommand, McParseResult, McStoreCommand } from './commands.js';
import type { MemcachedServerOptions } from './options.js';
import type { McStats } from './stats.js';
import type { McExecutor } from './executor.js';
import { McParser } from './parser.js';
import { isAllowed, parseCredentials } from './auth.js';
import { errorLine } from './error-map.js';
import { NO_REPLY, errorReply, reply, type McReply } from './responses.js';
import type { McBinaryExecutor } from './binary-executor.js';
import { McBinarySession, type McWork } from './binary-session.js';
import { REQUEST_MAGIC } from './binary-protocol.js';
import { hasCallbacks, type McCallbackBackend } from './callback-backend.js';
import { McSlot, type McSlotOwner } from './slot.js';
import { ITEM_REPLY } from './item-reply.js';
import { writeAnswers } from './answer-writer.js';
import type { ConnGuard, GuardCloseReason, GuardEntry, GuardedConnection } from '../../shared/conn-guard.js';

/** Slots already answered are dropped from the front of the queue in batches of this size. */
const COMPACT_AFTER = 256;

const NOTHING = Buffer.alloc(0);

/** What a connection closed by the limits is told before it is closed. */
const GUARD_LINES: Readonly<Record<GuardCloseReason, Buffer>> = Object.freeze({
  'pre-auth-timeout': Buffer.from('SERVER_ERROR not authenticated in time\r\n', 'latin1'),
  'idle-timeout': Buffer.from('SERVER_ERROR idle timeout\r\n', 'latin1'),
  'read-timeout': Buffer.from('SERVER_ERROR command not completed in time\r\n', 'latin1'),
  evicted: Buffer.from('SERVER_ERROR evicted: too many unauthenticated connections\r\n', 'latin1'),
});

// A connection closed by the limits is destroyed this long after being told why, so a
// flood of peers that never read cannot keep descriptors once their slot is taken.
const GUARD_LINGER_MS = 1000;

/**
 * One client connection: feeds socket bytes to the parser, runs commands concurrently
 * (at most `maxPipelinedCommands` unanswered), writes answers strictly in request order,
 * and stops reading while the socket's write buffer is over `writeHighWaterBytes`.
 */
export class McConnection implements GuardedConnection, McSlotOwner {
  private readonly parser: McParser;
  /** Set when the first byte is the binary magic: the connection speaks binary for life. */
  private binary: McBinarySession | null = null;
  private isProtocolKnown = false;
  private readonly queue: McSlot[] = [];
  /** The answered slots one flush writes (kept to be reused). */
  private readonly ready: McSlot[] = [];
  private queueHead = 0;
  private principal: McPrincipal | null = null;
  private authSlot: McSlot | null = null;
  private authFailures = 0;
  /** No more commands are taken; the connection closes after the answers owed. */
  private isEnding = false;
  private isReadEnded = false;
  private isPaused = false;
  /** The socket's write buffer was over the high-water mark at the last check. */
  private isWriteFull = false;
  private isClosed = false;
  private isFlushScheduled = false;
  /** Commands are being taken from the parser: their answers wait for the turn's flush. */
  private isPumping = false;
  private timeoutTimer: NodeJS.Timeout | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;
  /** The backend's callback forms of `get` and `set`, when it has them. */
  private readonly callbacks: McCallbackBackend | null;
  /** This connection's place under the server's connection limits; set once admitted. */
  guardEntry: GuardEntry<McConnection> | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly backend: MemcachedBackend,
    private readonly executor: McExecutor,
    private readonly options: Readonly<MemcachedServerOptions>,
    private readonly stats: McStats,
    private readonly onClosed: (connection: McConnection) => void,
    private readonly binaryExecutor: McBinaryExecutor | null = null,
    private readonly guard: ConnGuard<McConnection> | null = null,
  ) {
    this.parser = new McParser(options);
    this.callbacks = hasCallbacks(backend) ? backend : null;
    if (options.isAuthRequired) this.parser.setValueLimit(options.maxAuthPayloadBytes);
    socket.setNoDelay(true);
    socket.on('data', this.onSocketData);
    socket.on('end', this.onSocketEnd);
    socket.on('drain', this.onSocketDrain);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
  }

  /** Commands taken and not yet written. */
  get inFlight(): number {
    return this.queue.length - this.queueHead;
  }

  /** Stop taking commands; close once the answers already owed are written. Idempotent. */
  shutdown(): void {
    if (this.isEnding || this.isClosed) return;
    this.isEnding = true;
    this.enqueueLast();
  }

  /** Half-read input, for the read deadline; 0 while we, not the peer, hold reading up. */
  partialBytes(): number {
    if (this.isEnding || this.isPaused || this.authSlot !== null) return 0;
    if (this.binary !== null) return this.binary.bufferedBytes;
    return this.parser.isMidCommand ? Math.max(1, this.parser.bufferedBytes) : 0;
  }

  /** Closed by the connection limits: say why in one line, then close. */
  closeFor(reason: GuardCloseReason): void {
    // A binary client would read a text line as a broken frame: it is just closed, as memcached does.
    this.refuse(this.binary !== null ? NOTHING : GUARD_LINES[reason]);
  }

  /** Answer `line` instead of any command and close (refused or closed by the limits). */
  refuse(line: Uint8Array): void {
    if (this.isClosed) return;
    this.isEnding = true;
    this.clearTimeoutTimer();
    if (!this.socket.writableEnded) this.socket.end(line);
    this.updateReading();
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.lingerTimer = setTimeout(this.onLingerTimeout, Math.min(GUARD_LINGER_MS, this.options.closeTimeoutMs));
    this.lingerTimer.unref();
  }

  /** Close at once. Idempotent. */
  destroy(): void {
    if (this.isClosed) return;
    this.socket.destroy();
    this.cleanup();
  }

  private readonly onSocketData = (chunk: Buffer): void => {
    // Once ending, input is read and dropped so the peer is not reset while it still sends.
    if (this.isEnding) return;
    if (this.guardEntry !== null) this.guardEntry.isActive = true;
    if (!this.isProtocolKnown) {
      this.isProtocolKnown = true;
      if (chunk[0] === REQUEST_MAGIC && this.binaryExecutor !== null) {
        this.binary = new McBinarySession(this.backend, this.binaryExecutor, this.options, this.stats);
      }
    }
    if (this.binary !== null) this.binary.push(chunk);
    else this.parser.push(chunk);
    this.pump();
  };

  private readonly onSocketEnd = (): void => {
    this.isReadEnded = true;
    this.pump();
  };

  private readonly onSocketDrain = (): void => this.pump();

  private readonly onWriteFlushed = (): void => this.pump();

  private readonly onSocketError = (): void => {
    // Resets and broken pipes are the peer's business; the 'close' that follows cleans up.
    this.destroy();
  };

  private readonly onSocketClose = (): void => {
    this.cleanup();
  };

  /** Take commands while there is room, then decide whether to keep reading. */
  private pump(): void {
    if (this.isClosed) return;
    this.isPumping = true;
    try {
      this.take();
    } finally {
      this.isPumping = false;
    }
    this.updateReading();
  }

  private take(): void {
    let isStarved = false;
    while (!this.isEnding && this.authSlot === null && this.inFlight < this.options.maxPipelinedCommands
      && this.socket.writableLength <= this.options.writeHighWaterBytes) {
      if (this.binary !== null) {
        const w = this.binary.next(this.isReadEnded);
        if (w === null) {
          isStarved = true;
          break;
        }
        this.dispatchWork(w);
        continue;
      }
      const r = this.parser.next();
      if (r === null) {
        isStarved = true;
        break;
      }
      this.dispatch(r);
    }
    if (isStarved && this.isReadEnded && !this.isEnding && this.authSlot === null) {
      // The peer sent everything it will; answer what came in full, then close.
      this.isEnding = true;
      this.enqueueLast();
    }
  }

  private updateReading(): void {
    const isWriteFull = this.socket.writableLength > this.options.writeHighWaterBytes;
    const shouldRead = this.isEnding || (this.authSlot === null && this.inFlight < this.options.maxPipelinedCommands && !isWriteFull);
    if (isWriteFull && !this.isWriteFull) this.stats.readPauses++;
    this.isWriteFull = isWriteFull;
    if (shouldRead && this.isPaused) {
      this.isPaused = false;
      this.socket.resume();
    } else if (!shouldRead && !this.isPaused) {
      this.isPaused = true;
      this.socket.pause();
    }
  }

  private dispatch(r: McParseResult): void {
    this.stats.commands++;
    if (this.guardEntry !== null) this.guardEntry.messages++;
    const slot = new McSlot(this, Date.now() + this.options.commandTimeoutMs);
    this.queue.push(slot);
    if (r.kind === 'error') {
      if (r.isFatal) this.endWith(slot);
      this.settle(slot, errorReply(r.line, r.isNoreply && !r.isFatal));
      return;
    }
    if (r.kind === 'quit') {
      this.endWith(slot);
      this.settle(slot, NO_REPLY);
      return;
    }
    if (this.options.isAuthRequired && this.principal === null && r.kind !== 'version') {
      if (r.kind === 'store' && r.mode === 'set') this.authenticate(slot, r);
      else this.settle(slot, errorReply('CLIENT_ERROR unauthenticated'));
      return;
    }
    if (this.callbacks !== null && (this.principal === null || isAllowed(this.principal, r)) && this.runByCallback(slot, r, this.callbacks)) return;
    // Commands behind a flush wait for it, so they see what it left (as behind an auth).
    if (r.kind === 'flush') this.authSlot = slot;
    let out: McReply | Promise<McReply>;
    try {
      out = this.executor.run(r, this.principal);
    } catch (err) {
      out = errorReply(errorLine(err));
    }
    if (out instanceof Promise) {
      out.then((rep) => this.settle(slot, rep), (err: unknown) => this.settle(slot, errorReply(errorLine(err))));
      this.armTimeout();
    } else {
      this.settle(slot, out);
    }
  }

  /** Schedule one binary request's work. */
  private dispatchWork(w: McWork): void {
    this.stats.commands++;
    if (this.guardEntry !== null) this.guardEntry.messages++;
    const slot = new McSlot(this, Date.now() + this.options.commandTimeoutMs, w.fail);
    this.queue.push(slot);
    if (w.isBarrier) this.authSlot = slot;
    let out: McReply | Promise<McReply>;
    try {
      out = w.run();
    } catch (err) {
      out = w.fail(err);
    }
    if (out instanceof Promise) {
      out.then((rep) => this.settle(slot, rep), (err: unknown) => this.settle(slot, w.fail(err)));
      this.armTimeout();
    } else {
      this.settle(slot, out);
    }
  }

  /**
   * A one-key `get` or a plain `set` through the backend's callback forms, answered into
   * `slot`; false for any other command. The caller has checked the principal's roles
   * (a refused command goes to the executor, which answers the refusal).
   */
  private runByCallback(slot: McSlot, r: McParseResult, backend: McCallbackBackend): boolean {
    if (r.kind === 'get') {
      if (r.op !== 'get' || r.keys.length !== 1) return false;
      slot.key = (r as McGetCommand).keys[0]!;
      backend.getCb(slot.key, slot);
    } else if (r.kind === 'store') {
      if (r.mode !== 'set') return false;
      slot.isNoreply = r.isNoreply;
      backend.setCb(r.key, r.value, r.flags, r.ttl, slot);
    } else {
      return false;
    }
    this.armTimeout();
    return true;
  }

  /** The `set` that carries `user password`. Commands wait until it is answered. */
  private authenticate(slot: McSlot, cmd: McStoreCommand): void {
    const credentials = parseCredentials(cmd.value);
    if (credentials === null) {
      this.failAuth(slot, 'CLIENT_ERROR bad authentication token format');
      return;
    }
    this.authSlot = slot;
    this.armTimeout();
    // A backend that throws instead of rejecting must not take the socket's handler down.
    let pending: Promise<McPrincipal | null>;
    try {
      pending = Promise.resolve(this.backend.authenticate(credentials.user, credentials.password));
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then((principal) => {
      // A late answer after the timeout answered for it must not log the connection in.
      if (slot.reply !== null) return;
      if (principal === null) {
        this.failAuth(slot, 'CLIENT_ERROR authentication failure');
        return;
      }
      this.principal = principal;
      this.parser.setValueLimit(this.options.maxValueBytes);
      // As memcached: a noreply login that succeeds answers nothing (a failure always answers).
      this.settle(slot, cmd.isNoreply ? NO_REPLY : reply('STORED'));
    }, (err: unknown) => {
      this.settle(slot, errorReply(errorLine(err)));
    });
  }

  private failAuth(slot: McSlot, line: string): void {
    this.stats.authFailures++;
    this.authFailures++;
    if (this.authFailures >= this.options.maxAuthFailures) this.endWith(slot);
    this.settle(slot, errorReply(line));
  }

  /** @internal McSlotOwner: `slot` is answered with `rep` (a second answer is ignored). */
  settle(slot: McSlot, rep: McReply): void {
    if (slot.reply !== null) return;
    slot.reply = rep;
    if (rep.isError) this.stats.errors++;
    if (rep.isFinal === true) this.endWith(slot);
    // Commands behind an authentication resume once it is answered (flush pumps).
    if (slot === this.authSlot) {
      this.authSlot = null;
      this.noteAuthenticated();
    }
    // The last command answered (outside the parser): nothing to wait for, write now.
    if (!this.isPumping && !this.isFlushScheduled && slot === this.queue[this.queue.length - 1]) this.flush();
    else this.scheduleFlush();
  }

  /** Tell the connection limits once the connection has proved a principal (text or SASL). */
  private noteAuthenticated(): void {
    const entry = this.guardEntry;
    if (entry === null || entry.isAuthenticated || this.guard === null) return;
    if (this.principal !== null || this.binary?.isAuthenticated === true) this.guard.authenticated(entry);
  }

  private endWith(slot: McSlot): void {
    this.isEnding = true;
    slot.isLast = true;
  }

  private enqueueLast(): void {
    const slot = new McSlot(this, Infinity);
    slot.isLast = true;
    this.queue.push(slot);
    this.settle(slot, NO_REPLY);
  }

  private scheduleFlush(): void {
    if (this.isFlushScheduled || this.isClosed) return;
    this.isFlushScheduled = true;
    // Once per event-loop turn, not per microtask checkpoint: the answers that one message
    // from a node settles reach here over promise chains of different lengths, and a
    // microtask flush would write each of them on its own (a syscall per answer).
    setImmediate(this.flush);
  }

  /** Write every answer at the front of the queue that is ready, in one corked batch. */
  private readonly flush = (): void => {
    this.isFlushScheduled = false;
    // Closed by the limits: its line is written and the socket ended.
    if (this.isClosed || this.socket.writableEnded) return;
    const ready = this.ready;
    let bytes = 0;
    let isLast = false;
    while (this.queueHead < this.queue.length) {
      const slot = this.queue[this.queueHead]!;
      const rep = slot.reply;
      if (rep === null) break;
      if (rep === ITEM_REPLY) {
        bytes += slot.itemBytes();
        ready.push(slot);
      } else if (rep.chunks.length > 0) {
        for (const c of rep.chunks) bytes += c.length;
        ready.push(slot);
      }
      // Answered: the queue lets go of it now, not at its next compaction, so a slot
      // and its reply die young instead of outliving the young generation.
      this.queue[this.queueHead++] = undefined as unknown as McSlot;
      if (slot.isLast) {
        isLast = true;
        break;
      }
    }
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    } else if (this.queueHead >= COMPACT_AFTER) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    if (ready.length > 0) {
      // A callback on the last write wakes the reader even when our high-water mark is
      // below the socket's own, where no 'drain' would come.
      const isOverMark = this.socket.writableLength + bytes > this.options.writeHighWaterBytes;
      const done = isOverMark ? this.onWriteFlushed : undefined;
      writeAnswers(this.socket, ready, bytes, done);
      ready.length = 0;
    }
    if (isLast) {
      this.finish();
      return;
    }
    this.armTimeout();
    this.pump();
  };

  /** Our side is done: send FIN, keep draining input for a while, then close. */
  private finish(): void {
    this.isEnding = true;
    this.clearTimeoutTimer();
    this.socket.end();
    this.updateReading();
    if (this.lingerTimer === null && !this.isClosed) {
      this.lingerTimer = setTimeout(this.onLingerTimeout, this.options.closeTimeoutMs);
      this.lingerTimer.unref();
    }
  }

  private readonly onLingerTimeout = (): void => {
    this.lingerTimer = null;
    this.destroy();
  };

  /** Arm the timer for the oldest unanswered command, if any and not armed. */
  private armTimeout(): void {
    if (this.timeoutTimer !== null || this.isClosed) return;
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const slot = this.queue[i]!;
      if (slot.reply !== null || slot.deadline === Infinity) continue;
      this.timeoutTimer = setTimeout(this.onTimeout, Math.max(0, slot.deadline - Date.now()));
      this.timeoutTimer.unref();
      return;
    }
  }

  private readonly onTimeout = (): void => {
    this.timeoutTimer = null;
    const now = Date.now();
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const slot = this.queue[i]!;
      if (slot.reply !== null) continue;
      if (slot.deadline > now) break;
      this.stats.timeouts++;
      const err = KvError.timeout('backend call timed out');
      this.settle(slot, slot.fail !== null ? slot.fail(err) : errorReply(errorLine(err)));
    }
    this.armTimeout();
  };

  private clearTimeoutTimer(): void {
    if (this.timeoutTimer !== null) {
      clearTimeout(this.timeoutTimer);
      this.timeoutTimer = null;
    }
  }

  private cleanup(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.clearTimeoutTimer();
    if (this.lingerTimer !== null) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
    }
    this.queue.length = 0;
    this.queueHead = 0;
    if (this.guardEntry !== null) this.guard?.release(this.guardEntry);
    this.onClosed(this);
  }
}
