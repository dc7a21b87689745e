import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireTools, run, withTempDir, type Tool } from './tools.js';
import { MemoryBackend } from '../../unit/proxy/memcached/memory-backend.js';
import { withServer } from '../../unit/proxy/memcached/raw-client.js';

const test = suite('integration - memcached front end with libmemcached-tools');

function requireAll(): Record<Tool, string> {
  try {
    return requireTools();
  } catch (err) {
    return assert.unreachable((err as Error).message) as never;
  }
}

test('memccp copies a file in and memccat reads it back byte for byte; memcrm removes it', async () => {
  const bin = requireAll();
  await withTempDir(async (dir) => {
    const data = randomBytes(300_000);
    await writeFile(join(dir, 'blob.bin'), data);
    await withServer(new MemoryBackend(), {}, async (server, port) => {
      const servers = `--servers=127.0.0.1:${port}`;
      const cp = await run(bin.cp, [servers, 'blob.bin'], dir);
      assert.is(cp.code, 0, `${bin.cp}: ${cp.stderr}`);
      const cat = await run(bin.cat, [servers, `--file=${join(dir, 'out.bin')}`, 'blob.bin'], dir);
      assert.is(cat.code, 0, `${bin.cat}: ${cat.stderr}`);
      assert.ok((await readFile(join(dir, 'out.bin'))).equals(data), 'the copy is byte-identical');
      const rmRun = await run(bin.rm, [servers, 'blob.bin'], dir);
      assert.is(rmRun.code, 0, `${bin.rm}: ${rmRun.stderr}`);
      const gone = await run(bin.cat, [servers, 'blob.bin'], dir);
      assert.is.not(gone.code, 0, 'the key is gone after memcrm');
      assert.is(server.stats().pandakv_proxy_memcached_errors_total, 0);
    }, 60_000);
  });
});

test('memcslap runs a bounded load with zero errors, in text and binary', async () => {
  const bin = requireAll();
  await withTempDir(async (dir) => {
    await withServer(new MemoryBackend(), {}, async (server, port) => {
      for (const [kind, mode] of [['get', []], ['mget', []], ['set', []], ['get', ['--binary']], ['set', ['--binary']]] as const) {
        const r = await run(bin.slap, [`--servers=127.0.0.1:${port}`, ...mode, '--concurrency=4', '--execute-number=1000', `--test=${kind}`], dir, 90_000);
        const output = `${r.stdout}\n${r.stderr}`;
        assert.is(r.code, 0, `${bin.slap} --test=${kind}: ${output}`);
        assert.not.match(output, /error|fail/i, `${bin.slap} --test=${kind} reports no errors`);
        assert.match(output, new RegExp(`Time to ${kind}\\s+4000 keys by\\s+4 threads`), `all 4000 ${kind}s ran: ${output}`);
      }
      assert.is(server.stats().pandakv_proxy_memcached_errors_total, 0);
      // Initial loads of 1000 sets, 4000 gets and 4000 sets per protocol, and the batched mgets.
      assert.ok(server.stats().pandakv_proxy_memcached_commands_total >= 18_000);
    }, 120_000);
  });
});

test('memcstat shows the server\'s stats and version', async () => {
  const bin = requireAll();
  await withTempDir(async (dir) => {
    await withServer(new MemoryBackend(), { version: '1.6.21' }, async (_server, port) => {
      const r = await run(bin.stat, [`--servers=127.0.0.1:${port}`], dir);
      assert.is(r.code, 0, `${bin.stat}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`Server: 127\\.0\\.0\\.1 \\(${port}\\)`));
      assert.match(r.stdout, /pandakv_proxy_memcached_commands_total: \d+/);
      assert.match(r.stdout, /curr_items: 0/);
      const v = await run(bin.stat, [`--servers=127.0.0.1:${port}`, '-S'], dir);
      assert.is(v.code, 0, `${bin.stat} -S: ${v.stderr}`);
      // This tool prints the version line on stderr.
      assert.match(`${v.stdout}${v.stderr}`, new RegExp(`127\\.0\\.0\\.1:${port} 1\\.6\\.21`));
    });
  });
});

/** memcapable's 27 ASCII tests. */
const CONFORMANCE = [
  'version', 'quit', 'verbosity', 'set', 'set noreply', 'get', 'gets', 'mget', 'flush', 'flush noreply', 'add', 'add noreply', 'replace',
  'replace noreply', 'cas', 'cas noreply', 'delete', 'delete noreply', 'incr', 'incr noreply', 'decr', 'decr noreply',
  'append', 'append noreply', 'prepend', 'prepend noreply', 'stat',
];

test('memccapable\'s ASCII protocol conformance tests pass, 27 of 27', async () => {
  const bin = requireAll();
  await withTempDir(async (dir) => {
    await withServer(new MemoryBackend(), {}, async (_server, port) => {
      for (const name of CONFORMANCE) {
        const r = await run(bin.capable, ['-a', '-h', '127.0.0.1', '-p', String(port), '-T', `ascii ${name}`], dir);
        const output = `${r.stdout}${r.stderr}`;
        assert.is(r.code, 0, `ascii ${name}: ${output}`);
        assert.match(output, /\[pass\]/, `ascii ${name} ran and passed: ${output}`);
      }
      assert.is(CONFORMANCE.length, 27);
    }, 60_000);
  });
});

test.run();
