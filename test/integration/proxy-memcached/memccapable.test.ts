import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { spawnProxy, type Spawned } from '../../../bin/spawn.js';
import { withCluster } from '../../helpers/cluster.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireTools, run, withTempDir } from './tools.js';

const test = suite('integration - memccapable and memcdump against an insecure proxy');

/** `name [pass]` / `name [FAIL]` lines of memccapable's report, by protocol. */
function verdicts(output: string, protocol: 'ascii' | 'binary'): { passed: string[]; failed: string[] } {
  const passed: string[] = [];
  const failed: string[] = [];
  for (const m of output.matchAll(new RegExp(`^(${protocol} [^\\[]+?)\\s+\\[(\\w+)\\]`, 'gm'))) {
    (m[2] === 'pass' ? passed : failed).push(m[1]!);
  }
  return { passed, failed };
}

test('memccapable passes all 27 ASCII and all 27 binary protocol tests through a real proxy and cluster', async () => {
  const bin = requireTools();
  await withTempDir(async (dir) => {
    await withCluster({ nodes: 2, deadlineMs: 240_000 }, async ({ manager }) => {
      let proxy: (Spawned & { memcached: string | null }) | null = null;
      try {
        proxy = await spawnProxy(['--map', manager.address, '--insecure'], 30_000);
        const [host, port] = proxy.memcached!.split(':');
        const results: Record<string, { passed: string[]; failed: string[] }> = {};
        for (const [protocol, flag] of [['ascii', '-a'], ['binary', '-b']] as const) {
          const r = await run(bin.capable, [flag, '-h', host!, '-p', port!], dir, 120_000);
          const output = `${r.stdout}${r.stderr}`;
          results[protocol] = verdicts(output, protocol);
          console.log(`  memccapable ${flag}: ${results[protocol]!.passed.length}/${results[protocol]!.passed.length + results[protocol]!.failed.length} passed${results[protocol]!.failed.length > 0 ? `; failed: ${results[protocol]!.failed.join(', ')}` : ''}`);
          assert.is(r.code, 0, `memccapable ${flag}: ${output}`);
        }
        assert.equal([results.ascii!.passed.length, results.ascii!.failed], [27, []]);
        assert.equal([results.binary!.passed.length, results.binary!.failed], [27, []]);
        // memcdump lists every key of the cluster (stats cachedump over a scan of the owners).
        const servers = `--servers=${host}:${port}`;
        const names = Array.from({ length: 20 }, (_, i) => `dump-${String(i).padStart(2, '0')}.txt`);
        for (const n of names) await writeFile(join(dir, n), n);
        const cp = await run(bin.cp, [servers, ...names], dir);
        assert.is(cp.code, 0, cp.stderr);
        const dump = await run(bin.dump, [servers], dir);
        assert.is(dump.code, 0, dump.stderr);
        const listed = dump.stdout.split('\n').filter((l) => l.startsWith('dump-')).sort();
        console.log(`  memcdump: listed ${listed.length} of ${names.length} keys`);
        assert.equal(listed, names);
      } finally {
        await proxy?.stop('SIGKILL');
      }
    });
  });
});

test.run();
