import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const test = suite('integration - the npm package: contents, SDK footprint, CommonJS, npx');

const root = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>; dependencies: Record<string, string>; optionalDependencies?: Record<string, string>; files: string[];
};

/** Packages only the servers (node, manager, proxy, dht, bench) use. */
const SERVER_ONLY = ['hyperswarm', 'hyperdht', 'etcd3', 'prom-client', 'lmdb', 'rocksdb-native', 'cli-progress', '@grpc/grpc-js', 'udx-native'];

/**
 * Build what `npm run build` adds after tsc, from the current dist: the dashboard bundle
 * (dist/ui) and the CommonJS entry (dist/cjs), a few seconds. `npm test` builds them too,
 * but a run of this file alone after `tsc` would otherwise test stale copies, or none.
 */
async function buildPackExtras(): Promise<void> {
  await run('npm', ['run', '--silent', 'build:ui'], { cwd: root, timeout: 120_000 });
  await run(process.execPath, [join(root, 'scripts', 'build-cjs.mjs')], { cwd: root, timeout: 60_000 });
}

function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-pkg-'));
  return body(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('the tarball carries no compiled tests and no source maps, and the CLI, SDK and CJS entry are in it', async () => {
  await buildPackExtras();
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
  assert.is(files.filter((f) => f.startsWith('dist/test/')).length, 0, 'compiled tests');
  assert.is(files.filter((f) => f.endsWith('.map')).length, 0, 'source maps');
  for (const f of ['dist/bin/pandakv.js', 'dist/sdk/index.js', 'dist/sdk/index.d.ts', 'dist/cjs/sdk/index.js', 'dist/cjs/sdk/index.d.ts', 'dist/cjs/package.json', 'dist/ui/app.js', 'package.json', 'README.md']) {
    assert.ok(files.includes(f), `${f} is packed`);
  }
  process.stdout.write(`    (npm pack: ${files.length} files)\n`);
});

test('no build runs when the published package is installed; the build runs on prepack', () => {
  assert.is(pkg.scripts['prepare'], undefined);
  assert.is(pkg.scripts['install'], undefined);
  assert.is(pkg.scripts['postinstall'], undefined);
  assert.match(pkg.scripts['prepack'] ?? '', /npm run build/);
  assert.match(pkg.scripts['test'] ?? '', /^bash \.ci\/setup-system && /);
  assert.match(readFileSync(join(root, '.ci', 'run'), 'utf8'), /bash \.ci\/setup-system/);
});

test('the server packages are optional dependencies; the SDK needs only its own', () => {
  for (const name of ['hyperswarm', 'hyperdht', 'etcd3', 'prom-client', 'lmdb', 'rocksdb-native', 'cli-progress']) {
    assert.is(pkg.dependencies[name], undefined, `${name} is not a required dependency`);
    assert.ok(pkg.optionalDependencies?.[name] !== undefined, `${name} is optional`);
  }
});

test('importing the SDK in a fresh process loads none of the server packages', () => withTempDir(async (dir) => {
  const record = join(dir, 'resolved.txt');
  writeFileSync(record, '');
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(record)}, r.url + '\\n');
  return r;
}
`);
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
  writeFileSync(join(dir, 'main.mjs'), `import { createRequire } from 'node:module';
const sdk = await import(${JSON.stringify(join(root, 'dist', 'sdk', 'index.js'))});
if (typeof sdk.connect !== 'function') throw new Error('no connect');
console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));
`);
  const { stdout } = await run(process.execPath, ['--import', join(dir, 'register.mjs'), join(dir, 'main.mjs')], { cwd: dir, timeout: 60_000 });
  const loaded = [...readFileSync(record, 'utf8').split('\n'), ...(JSON.parse(stdout) as string[])].filter((u) => u.includes('node_modules'));
  const packages = new Set(loaded.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)![1]!));
  for (const name of SERVER_ONLY) assert.not.ok(packages.has(name), `${name} loaded by the SDK`);
  assert.ok(packages.has('ws') && packages.has('cbor-x'), 'the SDK\'s own dependencies are seen (the hooks work)');
  process.stdout.write(`    (the SDK loads ${packages.size} packages: ${[...packages].sort().join(', ')})\n`);
}));

test('require("pandakv") works in a fresh CommonJS process, and TypeScript compiles against it as CommonJS', () => withTempDir(async (dir) => {
  await buildPackExtras();
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'pandakv'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  writeFileSync(join(dir, 'main.cjs'), `const p = require('pandakv');
if (typeof p.connect !== 'function' || typeof p.KvError !== 'function') throw new Error('incomplete exports');
const e = p.KvError.unavailable('x');
console.log(e.code, Object.keys(p).includes('ErrorCode'));
console.log(JSON.stringify(Object.keys(require.cache)));
`);
  const { stdout } = await run(process.execPath, [join(dir, 'main.cjs')], { cwd: dir, timeout: 30_000 });
  const [first, cache] = stdout.trim().split('\n');
  assert.is(first, 'KV_ERR_UNAVAILABLE true');
  // The CommonJS build loads no server package either.
  const required = new Set((JSON.parse(cache!) as string[]).flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1] ?? []));
  assert.ok(required.has('ws'), `the SDK's own dependencies are seen: ${[...required].join(', ')}`);
  for (const name of SERVER_ONLY) assert.not.ok(required.has(name), `${name} loaded by require('pandakv')`);
  writeFileSync(join(dir, 'main.ts'), `import { connect, KvError, type ClientOptions, type Credentials, type FallbackReason, type ClientEvents, type PandaClient } from 'pandakv';
const options: Partial<ClientOptions> = { map: 'ws://127.0.0.1:1/map', keyPrefix: 'app:' };
const creds: Credentials | null = null;
const reason: FallbackReason | null = null;
export async function main(): Promise<PandaClient> {
  const db = await connect({ ...options, credentials: creds });
  const onReady: ClientEvents['ready'] = () => undefined;
  db.on('ready', onReady);
  void reason;
  return db;
}
export const isKvError = (e: unknown): boolean => e instanceof KvError;
`);
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const [module, resolution] of [['commonjs', 'node10'], ['node16', 'node16']] as const) {
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        module, moduleResolution: resolution, target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false,
        types: ['node'], typeRoots: [join(root, 'node_modules', '@types')], esModuleInterop: true,
      },
      files: ['main.ts'],
    }));
    const r = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir, timeout: 120_000 }).catch((e: { stdout: string; code: number }) => e);
    assert.is((r as { code?: number }).code ?? 0, 0, `module ${module}: ${(r as { stdout: string }).stdout}`);
  }
}));

test('npx pandakv runs the CLI from a checkout', async () => {
  const { stdout } = await run('npx', ['--no-install', 'pandakv', '--version'], { cwd: root, timeout: 120_000 });
  assert.match(stdout, /^pandakv \d+\.\d+\.\d+/m);
});

test('install size: the SDK alone against the whole package (measured from the lockfile and node_modules)', () => {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }> };
  const size = (dir: string): number => {
    let n = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules') continue;
      const p = join(dir, e.name);
      n += e.isDirectory() ? size(p) : e.isFile() ? statSync(p).size : 0;
    }
    return n;
  };
  const measure = (pick: (m: { dev?: boolean; optional?: boolean; devOptional?: boolean }) => boolean): { count: number; bytes: number } => {
    let count = 0;
    let bytes = 0;
    for (const [path, meta] of Object.entries(lock.packages)) {
      if (path === '' || !pick(meta)) continue;
      try {
        bytes += size(join(root, path));
        count++;
      } catch {
        // Not installed on this platform (another OS's prebuilt binary).
      }
    }
    return { count, bytes };
  };
  const sdk = measure((m) => m.dev !== true && m.optional !== true && m.devOptional !== true);
  const all = measure((m) => m.dev !== true && m.devOptional !== true);
  assert.ok(sdk.count > 0 && sdk.count < all.count);
  process.stdout.write(`    (install size: SDK only ${sdk.count} packages, ${(sdk.bytes / 1e6).toFixed(1)} MB; with the servers ${all.count} packages, ${(all.bytes / 1e6).toFixed(1)} MB)\n`);
});

test.run();
