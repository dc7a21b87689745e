import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';

/**
 * The least a forwarding process can do: a TCP relay that copies bytes both ways between
 * each client and one target, with no parsing, routing or framing. The proxy bench puts
 * one in front of a node to measure what a hop through any extra process costs on this
 * machine — the floor under the proxy's own added latency.
 *
 * Run as a process: `node dist/bench/tcp-relay.js 127.0.0.1:PORT` prints
 * `relay listening on ws://127.0.0.1:PORT` once ready, and exits on SIGTERM/SIGINT.
 */
export interface Relay {
  readonly port: number;
  close(): Promise<void>;
}

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
export async function startRelay(target: string): Promise<Relay> {
  const { host, port } = parseRelayTarget(target);
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

async function main(): Promise<void> {
  const relay = await startRelay(process.argv[2] ?? '');
  process.stdout.write(`relay listening on ws://127.0.0.1:${relay.port}\n`);
  const stop = (): void => {
    void relay.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`tcp-relay: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
}
