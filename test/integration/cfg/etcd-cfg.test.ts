import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCfg } from '../../../cluster/manager/cfg/open-cfg.js';
import { ErrorCode, type KvError } from '../../../shared/errors.js';
import { rejection, withDeadline } from '../../helpers/deadline.js';
import { freePort, withEtcd } from '../../helpers/etcd.js';
import { WatchRecorder, bytes, describe, text } from './cfg-fixtures.js';

const test = suite('cluster - cfg etcd store and teardown');

const CLOSE_CHILD = fileURLToPath(new URL('./close-child.js', import.meta.url));

/** Run the close-child against `url`; resolve with its exit code and output. */
async function runCloseChild(url: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [CLOSE_CHILD, url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { out += c; });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  try {
    return { code: await withDeadline(exited, 15_000, `close-child for ${url} to exit by itself (output: ${out})`), out };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

test('a missing etcd binary fails the test with a clear message instead of skipping it', async () => {
  const err = await rejection(withEtcd(async () => undefined, { bin: '/nonexistent/etcd' }));
  assert.match(err.message, /etcd is not installed at \/nonexistent\/etcd: install Debian's etcd-server/);
});

test('opening an etcd store where nothing listens fails with UNAVAILABLE', async () => {
  const port = await freePort();
  const err = await withDeadline(rejection(openCfg(`etcd://127.0.0.1:${port}`, { etcd: { dialTimeoutMs: 500, requestTimeoutMs: 1000 } })), 10_000, 'open to fail');
  assert.is(err.code, ErrorCode.UNAVAILABLE, err.message);
});

test('etcd rounds a lease TTL up to whole seconds', async () => {
  await withEtcd(async (etcd) => {
    const cfg = await openCfg(etcd.url);
    try {
      const lease = await cfg.grantLease(1500);
      assert.is(lease.ttlMs, 2000);
      await lease.revoke();
    } finally {
      await cfg.close();
    }
  });
});

test('a watch resumes after etcd restarts and delivers the writes it missed exactly once', async () => {
  await withEtcd(async (etcd) => {
    const watcher = await openCfg(etcd.url, { etcd: { watchRetryMinMs: 50, watchRetryMaxMs: 500 } });
    try {
      const from = await watcher.put('w/a', bytes('1'));
      const rec = new WatchRecorder(watcher.watch('w/', from));
      const disconnected = withDeadline(new Promise<Error>((resolve) => { rec.watch.once('disconnected', resolve); }), 10_000, 'disconnected');
      await watcher.put('w/b', bytes('2'));
      await rec.untilEvents(1, 5000);
      await etcd.restart();
      assert.is((await disconnected as KvError).code, ErrorCode.UNAVAILABLE);
      const writer = await openCfg(etcd.url);
      try {
        await writer.put('w/c', bytes('3'));
        await writer.delete('w/b');
      } finally {
        await writer.close();
      }
      await rec.untilEvents(3, 10_000);
      assert.equal(rec.events.map((e) => describe(e).replace(/@\d+$/, '')), ['put w/b=2', 'put w/c=3', 'delete w/b']);
      assert.equal(rec.resets, []);
      await rec.close();
    } finally {
      await watcher.close();
    }
  });
});

test('a watch that comes back after its revision was compacted resets instead of resuming', async () => {
  await withEtcd(async (etcd) => {
    // A long first retry leaves time to write and compact while the watch is away.
    const watcher = await openCfg(etcd.url, { etcd: { watchRetryMinMs: 4000, watchRetryMaxMs: 4000 } });
    try {
      const from = await watcher.put('c/a', bytes('1'));
      const rec = new WatchRecorder(watcher.watch('c/', from));
      const disconnected = withDeadline(new Promise<Error>((resolve) => { rec.watch.once('disconnected', resolve); }), 10_000, 'disconnected');
      await watcher.put('c/b', bytes('2'));
      await rec.untilEvents(1, 5000);
      await etcd.restart();
      await disconnected;
      const writer = await openCfg(etcd.url);
      try {
        await writer.put('c/c', bytes('3'));
        await writer.compact(await writer.put('c/a', bytes('4')));
      } finally {
        await writer.close();
      }
      await rec.until(() => rec.resets.length > 0, 10_000, 'a reset');
      assert.equal(rec.events.map(describe).map((d) => d.replace(/@\d+$/, '')), ['put c/b=2'], 'nothing from the compacted gap is replayed');
      assert.equal(rec.resets[0]!.entries.map((e) => `${e.key}=${text(e.value)}`), ['c/a=4', 'c/b=2', 'c/c=3']);
      await rec.close();
    } finally {
      await watcher.close();
    }
  });
});

test('closing an etcd store releases every handle, so the process exits by itself', async () => {
  await withEtcd(async (etcd) => {
    const r = await runCloseChild(etcd.url);
    assert.is(r.code, 0, r.out);
    assert.match(r.out, /closed; waiting campaign: KV_ERR_CLIENT_CLOSED/);
  });
});

test('closing a file store releases every handle, so the process exits by itself', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-close-'));
  try {
    const r = await runCloseChild(`file:${join(dir, 'cfg.json')}`);
    assert.is(r.code, 0, r.out);
    assert.match(r.out, /closed; waiting campaign: KV_ERR_CLIENT_CLOSED/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
