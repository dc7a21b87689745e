import { connect as tcpConnect } from 'node:net';
import * as assert from 'uvu/assert';
import { suite } from '../helpers/suite.js';
import { spawnPandakv, type Spawned } from '../../bin/spawn.js';
import { PeerPlane } from '../../cluster/peer/peer-plane.js';
import { generateKeyPair } from '../../shared/auth/keys.js';
import { poll, withDeadline } from '../helpers/deadline.js';
import { assertNames, PROMTOOL_BIN, promtoolProblems, sampleOf } from '../helpers/prom-text.js';
import { withCluster } from '../helpers/cluster.js';

const test = suite('integration - pandakv dht --metrics-port');

async function spawnDhtWithMetrics(): Promise<{ dht: Spawned; url: string; udp: string }> {
  const dht = await spawnPandakv(['dht', '--ip', '127.0.0.1', '--port', '0', '--metrics-port', '0'], /^pandakv dht metrics on (http:\/\/\S+)\/metrics$/, 20_000);
  const listening = dht.stdout.find((l) => l.startsWith('pandakv dht listening on '));
  assert.ok(listening !== undefined, dht.stdout.join(' | '));
  return { dht, url: dht.address, udp: listening.slice('pandakv dht listening on '.length) };
}

/** Resolves when the server closes `socket`, or with 'open' at the deadline. */
function closedWithin(socket: ReturnType<typeof tcpConnect>, ms: number): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('open'), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

test('serves its routing table and DHT traffic as Prometheus text, and /healthz', async () => {
  const { dht, url, udp } = await spawnDhtWithMetrics();
  const [host, port] = udp.split(':') as [string, string];
  const plane = new PeerPlane(generateKeyPair(), [{ host, port: Number(port) }]);
  try {
    const health = await fetch(`${url}/healthz`);
    assert.is(health.status, 200);
    assert.is(await health.text(), 'ok\n');
    await withDeadline(plane.start(), 20_000, 'a plane bootstraps through it');
    // A node that bootstraps through it asks it for nodes: packets in.
    const text = await poll(async () => {
      const t = await (await fetch(`${url}/metrics`)).text();
      return (sampleOf(t, 'pandakv_dht_packets_received_total') ?? 0) > 0 ? t : null;
    }, 20_000, 'the plane\'s packets counted');
    assert.ok((sampleOf(text, 'pandakv_dht_bytes_received_total') ?? 0) > 0);
    assert.ok(sampleOf(text, 'pandakv_dht_nodes') !== null);
    assert.ok(sampleOf(text, 'pandakv_dht_requests_total', { outcome: 'sent' }) !== null);
    assertNames(text, 'dht');
    const problems = await promtoolProblems(text);
    if (problems === undefined) assert.unreachable(`promtool is not installed at ${PROMTOOL_BIN}; run: bash .ci/setup-system`);
    assert.is(problems, null, `promtool: ${String(problems)}`);
  } finally {
    await plane.close();
    assert.is(await dht.stop('SIGTERM'), 0, dht.stderr.join(' | '));
  }
});

test('its listener answers only GET of /metrics and /healthz, drops idle and oversized requests, and keeps serving', async () => {
  const { dht, url } = await spawnDhtWithMetrics();
  try {
    assert.is((await fetch(`${url}/`)).status, 404);
    assert.is((await fetch(`${url}/metrics/../admin`)).status, 404);
    const post = await fetch(`${url}/metrics`, { method: 'POST', body: 'x' });
    assert.is(post.status, 405);
    assert.is(post.headers.get('allow'), 'GET, HEAD');
    assert.is((await fetch(`${url}/healthz`, { method: 'DELETE' })).status, 405);
    const { hostname, port } = new URL(url);
    // A connection that never sends a request is closed.
    const idle = tcpConnect(Number(port), hostname);
    idle.on('error', () => undefined);
    assert.is(await closedWithin(idle, 15_000), 'closed', 'an idle connection is closed');
    // Headers past Node's 16 KiB limit: refused (431), the connection closed.
    const big = tcpConnect(Number(port), hostname);
    let reply = '';
    big.on('data', (d: Buffer) => { reply += d.toString('latin1'); });
    big.on('error', () => undefined);
    big.write(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Junk: ${'a'.repeat(40_000)}\r\n\r\n`);
    assert.is(await closedWithin(big, 10_000), 'closed');
    assert.match(reply, /^HTTP\/1\.1 431/);
    // Garbage instead of HTTP: 400, closed.
    const junk = tcpConnect(Number(port), hostname);
    let junkReply = '';
    junk.on('data', (d: Buffer) => { junkReply += d.toString('latin1'); });
    junk.on('error', () => undefined);
    junk.write('\x00\x01\x02 not http at all\r\n\r\n');
    assert.is(await closedWithin(junk, 10_000), 'closed');
    assert.match(junkReply, /^HTTP\/1\.1 400/);
    // Still serving.
    const after = await fetch(`${url}/metrics`);
    assert.is(after.status, 200);
    assert.match(await after.text(), /pandakv_dht_nodes/);
  } finally {
    assert.is(await dht.stop('SIGTERM'), 0, dht.stderr.join(' | '));
  }
});

test('a manager that runs the bootstrap shows its figures in its own /metrics', () => withCluster({ nodes: 1, hasManagerDht: true }, async ({ manager }) => {
  const text = await poll(async () => {
    const t = await (await fetch(`${manager.address}/metrics`)).text();
    return (sampleOf(t, 'pandakv_dht_packets_received_total') ?? 0) > 0 ? t : null;
  }, 20_000, 'the node\'s DHT packets counted by the manager\'s bootstrap');
  assert.ok(sampleOf(text, 'pandakv_dht_nodes') !== null);
  assertNames(text, 'manager');
  const problems = await promtoolProblems(text);
  if (problems === undefined) assert.unreachable(`promtool is not installed at ${PROMTOOL_BIN}; run: bash .ci/setup-system`);
  assert.is(problems, null, `promtool: ${String(problems)}`);
}));

test('--metrics-port takes 0 to 65535; anything else is a usage error', async () => {
  for (const bad of ['-1', '65536', 'x', '1.5']) {
    const failed = await spawnPandakv(['dht', '--ip', '127.0.0.1', '--metrics-port', bad], /^never$/, 10_000).then(() => null, (e: Error) => e.message);
    assert.ok(failed !== null && /metrics-port/.test(failed), `${bad}: ${String(failed)}`);
  }
});

test.run();
