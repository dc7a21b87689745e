import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBackend } from '../../unit/proxy/memcached/memory-backend.js';
import { withServer } from '../../unit/proxy/memcached/raw-client.js';

const test = suite('integration - memcached front end with libmemcached-tools');

/**
 * The tools of Debian's libmemcached-tools. Debian 12 renames them with a `memc` prefix
 * (memccp, memccat, …); other builds keep libmemcached's own `mem` names.
 */
const TOOLS = {
  cp: ['memccp', 'memcp'],
  cat: ['memccat', 'memcat'],
  slap: ['memcslap', 'memslap'],
  stat: ['memcstat', 'memstat'],
  rm: ['memcrm', 'memrm'],
  capable: ['memccapable', 'memcapable'],
} as const;

type Tool = keyof typeof TOOLS;

function findTool(tool: Tool): string | null {
  for (const name of TOOLS[tool]) {
    const r = spawnSync(name, ['-h'], { timeout: 5000, stdio: 'ignore' });
    if (r.error === undefined) return name;
  }
  return null;
}

function requireTools(): Record<Tool, string> {
  const found = {} as Record<Tool, string>;
  const missing: string[] = [];
  for (const tool of Object.keys(TOOLS) as Tool[]) {
    const name = findTool(tool);
    if (name === null) missing.push(TOOLS[tool].join(' or '));
    else found[tool] = name;
  }
  if (missing.length > 0) {
    assert.unreachable(`libmemcached-tools is not installed (missing ${missing.join(', ')}); install it with: apt-get update && apt-get install -y libmemcached-tools`);
  }
  return found;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a tool under a deadline (the child is killed when it passes). */
function run(bin: string, args: string[], cwd: string, timeoutMs = 30_000): Promise<Run> {
  return new Promise<Run>((resolve) => {
    execFile(bin, args, { cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'latin1' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr: err !== null && err.killed ? `${stderr}\n(killed after ${timeoutMs} ms)` : stderr });
    });
  });
}

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-memcached-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('memccp copies a file in and memccat reads it back byte for byte; memcrm removes it', async () => {
  const bin = requireTools();
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

test('memcslap runs a bounded load with zero errors', async () => {
  const bin = requireTools();
  await withTempDir(async (dir) => {
    await withServer(new MemoryBackend(), {}, async (server, port) => {
      for (const kind of ['get', 'mget', 'set']) {
        const r = await run(bin.slap, [`--servers=127.0.0.1:${port}`, '--concurrency=4', '--execute-number=1000', `--test=${kind}`], dir, 90_000);
        const output = `${r.stdout}\n${r.stderr}`;
        assert.is(r.code, 0, `${bin.slap} --test=${kind}: ${output}`);
        assert.not.match(output, /error|fail/i, `${bin.slap} --test=${kind} reports no errors`);
        assert.match(output, new RegExp(`Time to ${kind}\\s+4000 keys by\\s+4 threads`), `all 4000 ${kind}s ran: ${output}`);
      }
      assert.is(server.stats().pandakv_proxy_memcached_errors_total, 0);
      // Two initial loads of 1000 sets, 4000 gets, 4000 sets, and the batched mgets.
      assert.ok(server.stats().pandakv_proxy_memcached_commands_total >= 10_000);
    }, 120_000);
  });
});

test('memcstat shows the server\'s stats and version', async () => {
  const bin = requireTools();
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
  const bin = requireTools();
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
