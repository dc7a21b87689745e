import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const test = suite('lint - import graph rules');

// dist/test/unit/ → the project root.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const RUN_TIMEOUT_MS = 180_000;

interface RunResult { code: number; stdout: string; stderr: string }

function run(file: string, args: string[], cwd: string): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, timeout: RUN_TIMEOUT_MS, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

test('the project breaks none of the import rules (npm run lint:imports)', async () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const out = await run(npm, ['run', '--silent', 'lint:imports'], ROOT);
  assert.is(out.code, 0, `${out.stdout}\n${out.stderr}`);
  assert.match(out.stdout, /no dependency violations found/);
});

interface Violation { rule: { name: string }; from: string; to: string }
interface CruiseJson { summary: { violations: Violation[] } }

test('each rule fires on a graph that breaks it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-import-rules-'));
  try {
    const files: Record<string, string> = {
      'bin/tool.ts': 'export const tool = 1;\n',
      'bench/load.ts': 'export const load = 1;\n',
      'shared/uses-bin.ts': "import { tool } from '../bin/tool.js';\nexport const a = tool;\n",
      'shared/uses-sdk.ts': "import { sdk } from '../sdk/client.js';\nexport const b = sdk;\n",
      'sdk/client.ts': "import { p } from '../proxy/server.js';\nexport const sdk = p;\n",
      'proxy/server.ts': "import { load } from '../bench/load.js';\nexport const p = load;\n",
      'cluster/node.ts': "import { sdk } from '../sdk/client.js';\nexport const n = sdk;\n",
      'cluster/a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
      'cluster/b.ts': "import type { A } from './a.js';\nexport interface B { a?: A }\n",
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    copyFileSync(join(ROOT, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
    const out = await run(process.execPath, [DEPCRUISE, '--config', '.dependency-cruiser.cjs', '--output-type', 'json', 'shared', 'sdk', 'proxy', 'cluster', 'bin', 'bench'], dir);
    const found = (JSON.parse(out.stdout) as CruiseJson).summary.violations.map((v) => `${v.rule.name} ${v.from} -> ${v.to}`).sort();
    assert.equal(found, [
      'cluster-imports-no-sdk-or-proxy cluster/node.ts -> sdk/client.ts',
      'library-imports-cli proxy/server.ts -> bench/load.ts',
      'library-imports-cli shared/uses-bin.ts -> bin/tool.ts',
      'no-cycles cluster/a.ts -> cluster/b.ts',
      'sdk-imports-only-shared sdk/client.ts -> proxy/server.ts',
      'shared-imports-only-shared shared/uses-bin.ts -> bin/tool.ts',
      'shared-imports-only-shared shared/uses-sdk.ts -> sdk/client.ts',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
