import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

/**
 * The least a forwarding process can do, as yardsticks for the proxy's extra hop:
 *
 * - a **TCP relay** copies bytes both ways between each client and one target, with no
 *   parsing at all: what a hop through any extra process costs on the machine;
 * - a **WebSocket relay** reads each message from the client and sends it on to the
 *   target as it is, and each answer back, over `ws` on both sides like the proxy: the
 *   same hop with the WebSocket framing the proxy cannot avoid, and nothing else.
 *
 * Run as a process: `node dist/bench/relays.js tcp|ws 127.0.0.1:PORT` prints
 * `relay listening on ws://127.0.0.1:PORT` once ready, and exits on SIGTERM/SIGINT.
 */
export interface Relay {
  readonly port: number;
  close(): Promise<void>;
}

export type RelayKind = 'tcp' | 'ws';

/** Parse `host:port` (or `ws://host:port`); only loopback targets are accepted. */
export function parseRelayTarget(text: string): { host: string; port: number } {
  const m = /^(?:ws:\/\/)?(127\.\d{1,3}\.\d{1,3}\.\d{1,3}):(\d{1,5})\/?$/.exec(text.trim());
  const port = m === null ? Number.NaN : Number(m[2]);
  if (m === null || !(port >= 1 && port <= 65535) || m[1]!.split('.').some((o) => Number(o) > 255)) {
    throw new RangeError(`relay target must be a loopback 127.x.y.z:port, got "${text}"`);
  }
  return { host: m[1]!, port };
}

/** Listen on 127.0.0.1, port 0, and relay every connection to `target`. */
export function startRelay(kind: RelayKind, target: string): Promise<Relay> {
  const { host, port } = parseRelayTarget(target);
  return kind === 'tcp' ? startTcpRelay(host, port) : startWsRelay(host, port);
}

async function startTcpRelay(host: string, port: number): Promise<Relay> {
  const pairs = new Set<Socket>();
  const server: Server = createServer((client) => {
    client.setNoDelay(true);
    const upstream = connect(port, host);
    upstream.setNoDelay(true);
    pairs.add(client).add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      pairs.delete(client);
      pairs.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const s of pairs) s.destroy();
      server.close(() => resolve());
    }),
  };
}

const SEND_OPTIONS = Object.freeze({ binary: true, compress: false, fin: true });

async function startWsRelay(host: string, port: number): Promise<Relay> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('connection', (client) => {
    const upstream = new WebSocket(`ws://${host}:${port}`, { perMessageDeflate: false });
    // Messages that arrive before the upstream connection is open wait in order.
    const early: RawData[] = [];
    upstream.on('open', () => {
      for (const m of early) upstream.send(m, SEND_OPTIONS);
      early.length = 0;
    });
    client.on('message', (m) => {
      if (upstream.readyState === WebSocket.OPEN) upstream.send(m, SEND_OPTIONS);
      else early.push(m);
    });
    upstream.on('message', (m) => client.send(m, SEND_OPTIONS));
    const end = (): void => {
      client.terminate();
      upstream.terminate();
    };
    for (const ws of [client, upstream]) {
      ws.on('error', end);
      ws.on('close', end);
    }
  });
  await new Promise<void>((resolve, reject) => {
    wss.once('error', reject);
    wss.once('listening', () => {
      wss.off('error', reject);
      resolve();
    });
  });
  return {
    port: (wss.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const ws of wss.clients) ws.terminate();
      wss.close(() => resolve());
    }),
  };
}

async function main(): Promise<void> {
  const kind = process.argv[2];
  if (kind !== 'tcp' && kind !== 'ws') throw new RangeError(`usage: relays.js tcp|ws 127.0.0.1:PORT (got "${String(kind)}")`);
  const relay = await startRelay(kind, process.argv[3] ?? '');
  process.stdout.write(`relay listening on ws://127.0.0.1:${relay.port}\n`);
  const stop = (): void => {
    void relay.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`relays: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
}
