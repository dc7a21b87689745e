import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { METRICS_CONTENT_TYPE, metricsText, readCounter, readGauge } from '../../shared/prom.js';
import type { DhtStats } from './dht-bootstrap.js';

/**
 * `/metrics` of a DHT bootstrap node (`pandakv_dht_*`): how many nodes it knows, the UDP
 * traffic peers send it, and its own requests, read from hyperdht's and
 * udx's counters at each scrape. Peers that cannot find each other show up here first: a
 * bootstrap that receives nothing, or whose requests time out.
 */
export function addDhtMetrics(registry: Registry, stats: () => DhtStats): void {
  readGauge(registry, 'pandakv_dht_nodes', 'Nodes in the bootstrap\'s routing table.', [], () => [[{}, stats().nodes]]);
  readCounter(registry, 'pandakv_dht_packets_received_total', 'UDP packets received: what peers ask of it.', [], () => [[{}, stats().received.packets]]);
  readCounter(registry, 'pandakv_dht_bytes_received_total', 'UDP bytes received.', [], () => [[{}, stats().received.bytes]]);
  readGauge(registry, 'pandakv_dht_requests_active', 'Requests it sent itself that await an answer.', [], () => [[{}, stats().requests.active]]);
  readCounter(registry, 'pandakv_dht_requests_total', 'Requests it sent itself, by outcome (sent, answered, timed out, retried).', ['outcome'], () => {
    const r = stats().requests;
    return [[{ outcome: 'sent' }, r.total], [{ outcome: 'answered' }, r.responses], [{ outcome: 'timeout' }, r.timeouts], [{ outcome: 'retry' }, r.retries]];
  });
}

/** A registry holding only a bootstrap's figures (`pandakv dht --metrics-port`). */
export function dhtRegistry(stats: () => DhtStats): Registry {
  const registry = new Registry();
  addDhtMetrics(registry, stats);
  return registry;
}

export interface DhtMetricsServer {
  /** `http://host:port` */
  readonly url: string;
  close(): Promise<void>;
}

/** Limits of the metrics listener: it answers scrapers, nothing else. */
const LIMITS = { headersTimeout: 5000, requestTimeout: 10_000, keepAliveTimeout: 5000, connectionsCheckingInterval: 1000, maxConnections: 64 };

/**
 * Serve `GET /metrics` (the registry, then the process's figures) and `GET /healthz` on
 * `host:port` (TCP; 0 picks a free port). Other paths answer 404, other methods 405; a
 * connection that sends no complete request within 5 s is closed.
 */
export async function serveDhtMetrics(registry: Registry, host: string, port: number): Promise<DhtMetricsServer> {
  const server: Server = createServer({
    headersTimeout: LIMITS.headersTimeout, requestTimeout: LIMITS.requestTimeout, keepAliveTimeout: LIMITS.keepAliveTimeout,
    connectionsCheckingInterval: LIMITS.connectionsCheckingInterval,
  }, (req, res) => answer(registry, req, res));
  server.maxConnections = LIMITS.maxConnections;
  // headersTimeout counts from a request's first byte: a connection that sends none is
  // closed by its own idle timer.
  server.on('connection', (socket) => {
    socket.setTimeout(LIMITS.headersTimeout, () => socket.destroy());
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${bound}`,
    close: () => (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    })),
  };
}

function answer(registry: Registry, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics' && path !== '/healthz') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
    return;
  }
  if (path === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  metricsText(registry).then((text) => {
    res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text);
  }, (err: Error) => {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`);
  });
}
