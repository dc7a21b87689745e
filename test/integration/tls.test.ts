import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { connect as netConnect, type Socket } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { once } from 'node:events';
import { connect } from '../../sdk/index.js';
import { CLI_PATH, spawnNode, spawnProxy } from '../../bin/spawn.js';
import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import WebSocket from 'ws';
import { withCluster } from '../helpers/cluster.js';
import { poll, rejection, withDeadline } from '../helpers/deadline.js';
import { makeTestCerts, type TestCerts } from '../helpers/tls-certs.js';
import { sampleOf } from '../helpers/prom-text.js';

const test = suite('tls - every client-facing listener');

async function withCerts<T>(body: (c: TestCerts) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-tls-'));
  try {
    return await body(await makeTestCerts(dir));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Resolves when the socket closes, whether by a reset or an end (events.once would reject on the reset). */
const closed = (s: Socket): Promise<void> => {
  // Flowing, so the peer's FIN is read and the socket closes.
  s.resume();
  return new Promise((resolve) => s.once('close', () => resolve()));
};

const tlsArgs = (c: TestCerts): string[] => ['--tls-cert', c.certFile, '--tls-key', c.keyFile];

/** GET over HTTPS trusting `ca`. */
function httpsGet(url: string, ca: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** One memcached text exchange over a TLS socket: write `req`, read until `until` matches. */
async function mcExchange(sock: TLSSocket, req: string, until: RegExp): Promise<string> {
  let got = '';
  const done = new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      if (until.test(got)) {
        sock.off('data', onData);
        resolve(got);
      }
    };
    sock.on('data', onData);
    sock.once('close', () => reject(new Error(`closed; got ${JSON.stringify(got)}`)));
  });
  sock.write(req);
  return withDeadline(done, 20_000, `memcached answer to ${JSON.stringify(req.slice(0, 20))}`);
}

/** Run a Python program with Debian's python3 (and its pymemcache); its stdout, trimmed. */
function runPython(program: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/python3', ['-c', program, ...args], { timeout: 60_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`python3 failed: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      else resolve(stdout.trim());
    });
  });
}

test('an SDK client with the CA works end to end through a TLS manager and TLS nodes; without it, it is refused clearly', async () => {
  await withCerts(async (c) => {
    await withCluster({ nodes: 2, managerArgs: tlsArgs(c), nodeArgs: [...tlsArgs(c), '--tls-ca', c.caFile] }, async ({ manager, nodes }) => {
      assert.match(manager.address, /^https:\/\//);
      for (const n of nodes) assert.match(n.address, /^wss:\/\//);
      const db = await connect({ map: manager.address, tls: { ca: c.ca } });
      try {
        await poll(async () => ((db.map?.nodes.filter((n) => n.state === 'active').length ?? 0) === 2 ? true : null), 30_000, 'two active nodes');
        assert.ok(db.map!.nodes.every((n) => n.address.startsWith('wss://')), 'nodes advertise wss://');
        for (let i = 0; i < 50; i++) await db.set(`t${i}`, `v${i}`);
        for (let i = 0; i < 50; i++) assert.is(Buffer.from((await db.get(`t${i}`))!).toString(), `v${i}`);
      } finally {
        await db.close();
      }
      // No CA, and a CA that signed something else: the certificate is not trusted.
      for (const tls of [null, { ca: c.otherCa }]) {
        const err = await rejection(connect({ map: manager.address, tls, timeoutMs: 3000, connectTimeoutMs: 1500 }).then((d) => d.close()));
        assert.ok(typeof err.code === 'string' && err.code.startsWith('KV_ERR_'), `a KvError code, got ${String(err.code)}: ${err.message}`);
        assert.match(err.message, /certificate/i, `the error names the certificate: ${err.message}`);
      }
      // The node's HTTP endpoints are on the TLS port too.
      const h = await httpsGet(`${nodes[0]!.address.replace(/^wss/, 'https')}/metrics`, c.ca);
      assert.is(h.status, 200);
      assert.ok((sampleOf(h.text, 'pandakv_node_requests_total') ?? 0) > 0);
      assert.is((await httpsGet(`${manager.address}/healthz`, c.ca)).status, 200);
    });
  });
});

test('the proxy serves wss:// and memcached over TLS, and its lanes and map link trust the CA', async () => {
  await withCerts(async (c) => {
    await withCluster({ nodes: 1, managerArgs: tlsArgs(c), nodeArgs: [...tlsArgs(c), '--tls-ca', c.caFile] }, async ({ manager }) => {
      const proxy = await spawnProxy(['--insecure', '--map', manager.address, ...tlsArgs(c), '--tls-ca', c.caFile, '--memcached-max-connections', '2'], 30_000);
      try {
        assert.match(proxy.address, /^wss:\/\//);
        const [host, port] = proxy.memcached!.split(':') as [string, string];
        const sock = tlsConnect({ host, port: Number(port), ca: c.ca, servername: 'localhost' });
        await withDeadline(once(sock, 'secureConnect'), 20_000, 'TLS handshake with the memcached port');
        try {
          assert.is(await mcExchange(sock, 'set tk 0 0 5\r\nhello\r\n', /\r\n$/), 'STORED\r\n');
          assert.is(await mcExchange(sock, 'get tk\r\n', /END\r\n$/), 'VALUE tk 0 5\r\nhello\r\nEND\r\n');
          // The binary protocol over TLS (a connection speaks one protocol): a version request.
          const bin = tlsConnect({ host, port: Number(port), ca: c.ca, servername: 'localhost' });
          await once(bin, 'secureConnect');
          const version = Buffer.alloc(24);
          version[0] = 0x80;
          version[1] = 0x0b;
          const answer = await withDeadline(new Promise<Buffer>((resolve) => {
            bin.once('data', resolve);
            bin.write(version);
          }), 20_000, 'binary version answer');
          bin.destroy();
          assert.is(answer[0], 0x81, 'binary response magic');
          // A native client through the proxy, over wss://.
          const thin = await connect({ nodes: [proxy.address], tls: { ca: c.ca } });
          try {
            assert.is(Buffer.from((await thin.get('tk'))!).toString(), 'hello');
          } finally {
            await thin.close();
          }
          // The connection limit holds on TLS sockets: with two open, a third is turned away.
          const second = tlsConnect({ host, port: Number(port), ca: c.ca, servername: 'localhost' });
          await once(second, 'secureConnect');
          const third = tlsConnect({ host, port: Number(port), ca: c.ca, servername: 'localhost' });
          third.on('error', () => undefined);
          let got = '';
          third.on('data', (d: Buffer) => { got += d.toString('latin1'); });
          await withDeadline(once(third, 'close'), 20_000, 'third connection closed');
          assert.match(got, /SERVER_ERROR too many open connections/);
          second.destroy();
        } finally {
          sock.destroy();
        }
        // A stock client over TLS: Debian's python3-pymemcache with an ssl context trusting the CA.
        const py = await runPython([
          'import ssl, sys',
          'from pymemcache.client.base import Client',
          'ctx = ssl.create_default_context(cafile=sys.argv[3])',
          'c = Client((sys.argv[1], int(sys.argv[2])), tls_context=ctx, connect_timeout=20, timeout=30)',
          "print(c.set('py-tls', 'over tls', noreply=False), c.get('py-tls').decode(), c.get('tk').decode())",
        ].join('\n'), [host, port, c.caFile]);
        assert.is(py, 'True over tls hello');
        const m = await httpsGet(`${proxy.address.replace(/^wss/, 'https')}/metrics`, c.ca);
        assert.is(sampleOf(m.text, 'pandakv_proxy_requests_total', { op: 'SET', status: 'OK', protocol: 'memcached' }), 2);
      } finally {
        await proxy.stop('SIGKILL');
      }
    });
  });
});

/** Run the CLI to its end under a deadline: exit code and output. */
function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_PATH, ...args], { timeout: 60_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

test('pandakv cluster reaches an https:// manager with --tls-ca, and says how to trust it without', async () => {
  await withCerts(async (c) => {
    await withCluster({ nodes: 1, managerArgs: tlsArgs(c), nodeArgs: [...tlsArgs(c), '--tls-ca', c.caFile] }, async ({ manager }) => {
      const ok = await poll(async () => {
        const r = await runCli(['cluster', 'status', '--manager', manager.address, '--tls-ca', c.caFile]);
        return r.code === 0 && /^map: epoch \d+, rev \d+/m.test(r.stdout) ? r : null;
      }, 30_000, 'cluster status over https');
      assert.match(ok.stdout, /wss:\/\/127\.0\.0\.1:\d+/);
      const untrusted = `pandakv cluster: cannot reach the manager at ${manager.address}: TLS certificate cannot be verified (give its CA with --tls-ca FILE)\n`;
      const none = await runCli(['cluster', 'status', '--manager', manager.address]);
      assert.is(none.code, 1, none.stderr);
      assert.is(none.stderr, untrusted);
      const other = await runCli(['cluster', 'status', '--manager', manager.address, '--tls-ca', join(dirname(c.caFile), 'other-ca.pem')]);
      assert.is(other.code, 1, other.stderr);
      assert.match(other.stderr, new RegExp(`^pandakv cluster: cannot reach the manager at ${manager.address.replace(/[.]/g, '\\.')}: TLS certificate cannot be verified\n$`));
      const missing = await runCli(['cluster', 'status', '--manager', manager.address, '--tls-ca', join(dirname(c.caFile), 'nope.pem')]);
      assert.is(missing.code, 2, missing.stderr);
      assert.match(missing.stderr, /^pandakv cluster: --tls-ca: cannot read /);
      const notPem = await runCli(['cluster', 'status', '--manager', manager.address, '--tls-ca', join(dirname(c.caFile), 'san.cnf')]);
      assert.is(notPem.code, 2, notPem.stderr);
    });
  });
});

test('hostile input on TLS ports: plain text, garbage and silence are closed, and the ports keep serving', async () => {
  await withCerts(async (c) => {
    await withCluster({ nodes: 1, nodeArgs: [...tlsArgs(c), '--tls-ca', c.caFile, '--read-timeout-ms', '1500'], managerArgs: [...tlsArgs(c), '--read-timeout-ms', '1500'] }, async ({ manager, nodes }) => {
      const node = nodes[0]!;
      for (const address of [node.address, manager.address]) {
        const u = new URL(address);
        for (const junk of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', '\x16\x03\x01\xff\xff' + 'A'.repeat(70_000)]) {
          const s = netConnect(Number(u.port), u.hostname);
          s.on('error', () => undefined);
          await once(s, 'connect');
          s.write(junk, () => undefined);
          await withDeadline(closed(s), 20_000, `${address} closes a connection that sent ${junk.length} junk bytes`);
        }
      }
      // Silence: a TCP connection that never starts its handshake is closed by the pre-auth deadline.
      const u = new URL(node.address);
      const idle = netConnect(Number(u.port), u.hostname);
      idle.on('error', () => undefined);
      await once(idle, 'connect');
      await withDeadline(closed(idle), 20_000, 'a silent connection is closed');
      const db = await connect({ map: manager.address, tls: { ca: c.ca } });
      try {
        await db.set('after', 'junk');
        assert.is(Buffer.from((await db.get('after'))!).toString(), 'junk');
      } finally {
        await db.close();
      }
    });
  });
});

test('the connection cap holds on a TLS node port: a second connection is closed before its handshake', async () => {
  await withCerts(async (c) => {
    const node = await spawnNode(['--insecure', ...tlsArgs(c), '--max-connections', '1']);
    try {
      const first = new WebSocket(node.address, { ca: c.ca });
      await withDeadline(once(first, 'open'), 20_000, 'first wss connection');
      const second = new WebSocket(node.address, { ca: c.ca });
      const outcome = await withDeadline(new Promise<string>((resolve) => {
        second.once('open', () => resolve('open'));
        second.once('error', (err: Error) => resolve(`refused: ${err.message}`));
      }), 20_000, 'second connection refused');
      assert.match(outcome, /^refused/);
      first.close();
      await once(first, 'close');
      // The slot is free again once the first has gone.
      const third = await poll(async () => {
        const ws = new WebSocket(node.address, { ca: c.ca });
        const ok = await new Promise<boolean>((resolve) => {
          ws.once('open', () => resolve(true));
          ws.once('error', () => resolve(false));
        });
        return ok ? ws : null;
      }, 20_000, 'a new connection after the first closed');
      third.close();
    } finally {
      await node.stop('SIGKILL');
    }
  });
});

test.run();
