/**
 * A small pipelined memcached text-protocol client for the proxy bench: `get` and `set`
 * only, commands written in one batch per microtask, answers parsed incrementally and
 * matched to commands in order (memcached answers each connection in order).
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { OpExecutor } from './workload.js';

interface Pending {
  resolve(hit: boolean): void;
  reject(err: Error): void;
}

const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

/**
 * Incremental parser of `get`/`set` answers. `feed` returns one outcome per completed
 * answer, in order: `true`/`false` (hit or miss of a `get`, `STORED`/`NOT_STORED` of a
 * `set`) or an error line.
 */
export class McAnswerParser {
  private buffer: Buffer = EMPTY;
  private isHit = false;

  feed(chunk: Buffer): Array<boolean | Error> {
    const buf = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: Array<boolean | Error> = [];
    let pos = 0;
    for (;;) {
      const eol = buf.indexOf(CRLF, pos);
      if (eol < 0) break;
      const line = buf.toString('latin1', pos, eol);
      if (line.startsWith('VALUE ')) {
        const bytes = Number(line.split(' ')[3]);
        if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`bad VALUE line "${line}"`);
        const end = eol + 2 + bytes + 2;
        if (end > buf.length) break; // the data block is not complete yet: keep the line
        this.isHit = true;
        pos = end;
        continue;
      }
      pos = eol + 2;
      if (line === 'END') {
        out.push(this.isHit);
        this.isHit = false;
      } else if (line === 'STORED') out.push(true);
      else if (line === 'NOT_STORED') out.push(false);
      else out.push(new Error(`memcached: ${line}`));
    }
    this.buffer = pos >= buf.length ? EMPTY : buf.subarray(pos);
    return out;
  }
}

/** One pipelined connection. */
export class McConnection {
  private readonly pending: Pending[] = [];
  private readonly parser = new McAnswerParser();
  private chunks: Buffer[] = [];
  private isFlushQueued = false;
  private failure: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      let outcomes: Array<boolean | Error>;
      try {
        outcomes = this.parser.feed(chunk);
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      for (const o of outcomes) {
        const p = this.pending.shift();
        if (p === undefined) return this.fail(new Error('memcached: answer without a command'));
        if (o instanceof Error) p.reject(o);
        else p.resolve(o);
      }
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('memcached: connection closed')));
    socket.on('timeout', () => {
      if (this.pending.length > 0) this.fail(new Error('memcached: no answer within the deadline'));
    });
  }

  /** Connect to `host:port`, rejecting at the deadline; later, a stall of `opTimeoutMs` fails every pending command. */
  static open(address: string, connectTimeoutMs: number, opTimeoutMs: number): Promise<McConnection> {
    const [host, port] = address.split(':');
    const socket = netConnect(Number(port), host);
    return new Promise<McConnection>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`memcached ${address}: not connected within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.setTimeout(opTimeoutMs);
        resolve(new McConnection(socket));
      });
    });
  }

  get(key: string): Promise<boolean> {
    return this.send(Buffer.from(`get ${key}\r\n`, 'latin1'));
  }

  set(key: string, value: Uint8Array): Promise<boolean> {
    return this.send(Buffer.from(`set ${key} 0 0 ${value.length}\r\n`, 'latin1'), value, CRLF);
  }

  close(): void {
    this.socket.destroy();
  }

  private send(...parts: Uint8Array[]): Promise<boolean> {
    if (this.failure !== null) return Promise.reject(this.failure);
    for (const p of parts) this.chunks.push(Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.length));
    if (!this.isFlushQueued) {
      this.isFlushQueued = true;
      queueMicrotask(() => this.flush());
    }
    return new Promise<boolean>((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  private flush(): void {
    this.isFlushQueued = false;
    if (this.failure !== null || this.chunks.length === 0) return;
    this.socket.write(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks));
    this.chunks = [];
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.socket.destroy();
    for (const p of this.pending.splice(0)) p.reject(err);
  }
}

/** `connections` pipelined connections to `address`, used round-robin by one executor. */
export async function openMemcachedLoad(address: string, connections: number, connectTimeoutMs: number, opTimeoutMs: number): Promise<{ exec: OpExecutor; close(): void }> {
  const conns: McConnection[] = [];
  try {
    for (let i = 0; i < connections; i++) conns.push(await McConnection.open(address, connectTimeoutMs, opTimeoutMs));
  } catch (err) {
    for (const c of conns) c.close();
    throw err;
  }
  let next = 0;
  const exec: OpExecutor = (op, key, value) => {
    const c = conns[next]!;
    next = (next + 1) % conns.length;
    switch (op) {
      case 'get': return c.get(key);
      case 'set': return c.set(key, value);
      case 'delete': return Promise.reject(new Error('memcached load: delete is not part of this bench'));
    }
  };
  return { exec, close: () => { for (const c of conns) c.close(); } };
}
