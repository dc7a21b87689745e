import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { parseCommandLine, usageMessage, UsageError, checkListenIp, packageVersion } from '../../../bin/cli-util.js';
import { describeConnectError } from '../../../shared/connect-error.js';
import { httpRequestText } from '../../../shared/http-json.js';
import { etaMs, formatBytes, formatEta, progressLine } from '../../../cluster/manager/move-follow.js';

const test = suite('bin - usage errors, connection errors, move progress');

const OPTIONS = { 'memory-size': { type: 'string' }, insecure: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

function usage(argv: string[]): string {
  try {
    parseCommandLine(argv, OPTIONS);
  } catch (err) {
    assert.ok(err instanceof UsageError);
    return err.message;
  }
  throw new Error(`no usage error for ${JSON.stringify(argv)}`);
}

test('parseArgs complaints come out as one line in the project\'s words', () => {
  assert.is(usage(['--memory-size', '-5']), '--memory-size needs a value; to give one that starts with "-", write --memory-size=-5');
  assert.is(usage(['--memory-size']), '--memory-size needs a value');
  assert.is(usage(['--frob']), 'unknown switch --frob');
  assert.is(usage(['-z']), 'unknown switch -z');
  assert.is(usage(['--insecure=1']), '--insecure takes no value');
  for (const argv of [['--memory-size', '-5'], ['--frob'], ['--insecure=1'], ['--memory-size']]) {
    const m = usage(argv);
    assert.not.match(m, /\n|To specify|ambiguous|positional/);
  }
  assert.equal(parseCommandLine(['--memory-size=-5', 'pos'], OPTIONS).values['memory-size'], '-5');
});

test('hostile switches: control characters are escaped and long names clipped', () => {
  const long = `--${'x'.repeat(10_000)}`;
  const m = usage([long]);
  assert.ok(m.length < 120, `${m.length} chars`);
  const ctl = usage(['--a\u001b[31mb']);
  assert.not.match(ctl, /\u001b/);
  assert.is(usageMessage(new Error('Unknown option \'--\n\''), []), 'unknown switch --\\n');
  assert.is(usageMessage('weird', []), 'weird');
});

test('--ip: IP addresses pass, junk and names that do not resolve are usage errors', async () => {
  await checkListenIp('127.0.0.1');
  await checkListenIp('::1');
  await checkListenIp(undefined);
  await checkListenIp('localhost');
  for (const bad of ['999.1.1.1', 'bad host', '', 'a'.repeat(300), 'x\u0000y', 'no-such-host.invalid']) {
    const err = await checkListenIp(bad).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof UsageError, JSON.stringify(bad));
    assert.match((err as Error).message, /^--ip: /);
  }
});

test('the version comes from package.json', () => {
  assert.match(packageVersion(), /^\d+\.\d+\.\d+/);
});

test('connection errors in words: nested causes, timeouts, unknown codes', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  assert.is(describeConnectError(refused), 'connection refused');
  assert.is(describeConnectError(new TypeError('fetch failed', { cause: refused })), 'connection refused');
  assert.is(describeConnectError(new Error('x', { cause: new AggregateError([refused]) })), 'connection refused');
  assert.is(describeConnectError(Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' })), 'host not found');
  const timeout = new Error('slow');
  timeout.name = 'TimeoutError';
  assert.is(describeConnectError(timeout), 'no answer in time');
  assert.is(describeConnectError(Object.assign(new Error('odd'), { code: 'EWHATEVER' })), 'EWHATEVER');
  assert.is(describeConnectError(new Error('plain')), 'plain');
  assert.is(describeConnectError('text'), 'text');
  // A cycle of causes ends.
  const a = new Error('a') as Error & { cause?: unknown };
  a.cause = a;
  assert.type(describeConnectError(a), 'string');
});

async function withServer<T>(onSocket: (s: Socket) => void, body: (url: URL) => Promise<T>): Promise<T> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    onSocket(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    return await body(new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}/api/status`));
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
}

test('the admin HTTP client: an idle server times out, an oversized answer is cut, a reset is an error', async () => {
  await withServer(() => undefined, async (url) => {
    const err = await httpRequestText(url, { method: 'GET', headers: {}, timeoutMs: 300 }).then(() => null, (e: Error) => e);
    assert.ok(err !== null);
    assert.is(describeConnectError(err), 'no answer in time');
  });
  await withServer((s) => {
    s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n');
    s.write(Buffer.alloc(64 * 1024, 0x61));
  }, async (url) => {
    const err = await httpRequestText(url, { method: 'GET', headers: {}, timeoutMs: 10_000, maxBodyBytes: 1024 }).then(() => null, (e: Error) => e);
    assert.match(String(err?.message), /answer over 1024 bytes/);
  });
  await withServer((s) => s.destroy(), async (url) => {
    const err = await httpRequestText(url, { method: 'GET', headers: {}, timeoutMs: 10_000 }).then(() => null, (e: Error) => e);
    assert.ok(err !== null);
    assert.match(describeConnectError(err), /connection reset|socket hang up|connection closed/);
  });
  await withServer((s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!'), async (url) => {
    const r = await httpRequestText(url, { method: 'POST', headers: {}, body: '{}', timeoutMs: 10_000 });
    assert.equal(r, { status: 200, text: 'not json!' });
  });
});

test('move progress: bytes, ETA and the progress line', () => {
  assert.is(formatBytes(0), '0 B');
  assert.is(formatBytes(999), '999 B');
  assert.is(formatBytes(1500), '1.5 kB');
  assert.is(formatBytes(3_100_000), '3.1 MB');
  assert.is(formatBytes(-5), '0 B');
  assert.is(formatEta(null), '?');
  assert.is(formatEta(Number.NaN), '?');
  assert.is(formatEta(14_200), '14 s');
  assert.is(formatEta(200_000), '3 min 20 s');
  assert.is(formatEta(4 * 3600_000), '4 h 0 min');
  assert.is(etaMs(0, 10, 1000), null);
  assert.is(etaMs(0, 0, 1000), 0);
  assert.is(etaMs(10, 30, 5000), 15_000);
  assert.is(progressLine(40, 56, 1_200_000, 14_000), 'moving: 40/96 units, 1.2 MB copied, ETA 14 s');
});

test.run();
