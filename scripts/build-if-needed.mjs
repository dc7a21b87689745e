// Run before `npm start`: in a checkout, builds (npm run build) when dist is missing or
// older than a source file, so a fresh clone needs only `npm install && npm start`. In
// the published package (no tsconfig.json, dist shipped) it does nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'tsconfig.json'))) process.exit(0);

const outputs = ['dist/bin/pandakv.js', 'dist/ui/app.js', 'dist/cjs/sdk/index.js'].map((f) => join(root, f));
const builtAt = outputs.every((f) => existsSync(f)) ? Math.min(...outputs.map((f) => statSync(f).mtimeMs)) : 0;

/** Whether any .ts file under `dir` changed after the build. */
function isNewer(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory() ? isNewer(p) : e.name.endsWith('.ts') && statSync(p).mtimeMs > builtAt) return true;
  }
  return false;
}

const sources = ['shared', 'sdk', 'proxy', 'cluster', 'bin', 'bench', 'examples'].map((d) => join(root, d)).filter((d) => existsSync(d));
if (builtAt > 0 && !sources.some(isNewer)) process.exit(0);
console.log(builtAt === 0 ? 'first start: building (npm run build)…' : 'sources changed since the last build: building (npm run build)…');
const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
