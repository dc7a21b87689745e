// Builds the CommonJS entry of the SDK (dist/cjs): one bundle of the SDK's own code, its
// dependencies left to require(), and the SDK's type declarations copied under a
// package.json that says "commonjs", so TypeScript projects compiled as CommonJS get
// types that match what require('pandakv') returns. Run after tsc (npm run build).
import { build } from 'esbuild';
import { chmodSync, cpSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const out = join(dist, 'cjs');
if (!existsSync(join(dist, 'sdk', 'index.js'))) {
  console.error('build-cjs: dist/sdk/index.js is missing; run tsc first');
  process.exit(1);
}
// The CLI is the package's bin: tsc writes it without the executable bit, and npm sets
// that bit only on files that existed when it linked them (a fresh clone builds later).
chmodSync(join(dist, 'bin', 'pandakv.js'), 0o755);
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: [join(dist, 'sdk', 'index.js')],
  outfile: join(out, 'sdk', 'index.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
// Declarations of the SDK and of the shared modules it names.
for (const dir of ['sdk', 'shared']) {
  cpSync(join(dist, dir), join(out, dir), {
    recursive: true,
    filter: (src) => !src.endsWith('.js') && !src.endsWith('.map'),
  });
}
writeFileSync(join(out, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
const count = (d) => readdirSync(d, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? count(join(d, e.name)) : 1), 0);
console.log(`build-cjs: dist/cjs ready (${count(out)} files)`);
