import { connect as netConnect, type Socket } from 'node:net';
import { withDeadline } from '../../../helpers/deadline.js';
import { MemcachedServer } from '../../../../proxy/memcached/server.js';
import type { MemcachedBackend } from '../../../../proxy/memcached/backend.js';
import type { MemcachedServerOptions } from '../../../../proxy/memcached/options.js';

interface Waiter {
  check: () => boolean;
  resolve: () => void;
}

/** A raw TCP client that collects every byte the server sends. */
export class RawClient {
  private readonly socket: Socket;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private readonly waiters = new Set<Waiter>();
  /** The server ended or closed the connection. */
  isClosed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
  }

  static async connect(port: number, ms = 5000): Promise<RawClient> {
    const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const client = new RawClient(socket);
    await withDeadline(new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }), ms, 'connect');
    socket.setNoDelay(true);
    return client;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    this.wake();
  };

  private readonly onEnd = (): void => {
    // The server is done: finish our side too, as a real client would.
    this.isClosed = true;
    this.socket.end();
    this.wake();
  };

  private readonly onClose = (): void => {
    this.isClosed = true;
    this.wake();
  };

  private readonly onError = (): void => {
    // A reset shows up as 'close'; tests assert on what was received.
  };

  private wake(): void {
    for (const w of [...this.waiters]) {
      if (w.check()) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  /** Bytes received and not yet taken. */
  get available(): number {
    return this.bufferedBytes;
  }

  send(data: string | Uint8Array): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Half-close: no more requests, answers still arrive. */
  end(): void {
    this.socket.end();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Wait until `check` holds, re-checked on every received chunk and on close. */
  async waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
    if (check()) return;
    let waiter: Waiter | undefined;
    const p = new Promise<void>((resolve) => {
      waiter = { check, resolve };
      this.waiters.add(waiter);
    });
    try {
      await withDeadline(p, ms, what);
    } finally {
      this.waiters.delete(waiter!);
    }
  }

  /** Take exactly `n` bytes once they have arrived. */
  async readBytes(n: number, ms = 5000): Promise<Buffer> {
    await this.waitFor(() => this.bufferedBytes >= n || this.isClosed, `${n} bytes`, ms);
    if (this.bufferedBytes < n) throw new Error(`connection closed after ${this.bufferedBytes} of ${n} bytes: ${JSON.stringify(this.peek())}`);
    const all = Buffer.concat(this.buffered);
    this.buffered = [all.subarray(n)];
    this.bufferedBytes = all.length - n;
    return all.subarray(0, n);
  }

  /** Take as many bytes as `expected` has and return them as latin1 text. */
  async read(expected: string, ms = 5000): Promise<string> {
    return (await this.readBytes(Buffer.byteLength(expected, 'latin1'), ms)).toString('latin1');
  }

  /** Take one line (through `\r\n`). */
  async readLine(ms = 5000): Promise<string> {
    await this.waitFor(() => this.peek().includes('\r\n') || this.isClosed, 'a line', ms);
    const text = this.peek();
    const end = text.indexOf('\r\n');
    if (end < 0) throw new Error(`connection closed before a full line: ${JSON.stringify(text)}`);
    return (await this.readBytes(end + 2)).toString('latin1');
  }

  /** Everything received and not yet taken, as latin1 text. */
  peek(): string {
    return Buffer.concat(this.buffered).toString('latin1');
  }

  /** Wait for the server to close the connection. */
  async closed(ms = 5000): Promise<void> {
    await this.waitFor(() => this.isClosed, 'server closes the connection', ms);
  }
}

/**
 * Run `body` against a `MemcachedServer` on 127.0.0.1 port 0, under a deadline; the
 * server is always torn down.
 */
export async function withServer(
  backend: MemcachedBackend,
  options: Partial<MemcachedServerOptions>,
  body: (server: MemcachedServer, port: number) => Promise<void>,
  ms = 20_000,
): Promise<void> {
  const server = new MemcachedServer(backend, { ...options, host: '127.0.0.1', port: 0 });
  try {
    const address = await withDeadline(server.listen(), 5000, 'listen');
    await withDeadline(body(server, address.port), ms, 'test body');
  } finally {
    server.destroy();
  }
}
