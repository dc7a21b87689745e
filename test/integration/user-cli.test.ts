import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI_PATH } from '../../bin/spawn.js';
import { openCfg } from '../../cluster/manager/cfg/open-cfg.js';
import { UserStore } from '../../cluster/manager/users.js';
import { derivePasswordKeyPair, fromHex, loadCredentials, toHex } from '../../shared/auth/index.js';

const run = promisify(execFile);
const test = suite('integration - pandakv user');

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI_PATH, 'user', ...args], { timeout: 20_000, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('adds key and password principals to the config store, lists and removes them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-user-'));
  try {
    const cfg = ['--cfg', `file:${join(dir, 'cfg.json')}`];
    const out = join(dir, 'alice.json');
    const added = await cli(['add', 'alice', '--roles', 'read,write', '--out', out, ...cfg]);
    assert.is(added.code, 0, added.stderr);
    assert.is((await stat(out)).mode & 0o777, 0o600, 'credentials are private');
    const creds = loadCredentials(out);
    assert.is(creds.principal, 'alice');
    assert.is(creds.kind, 'key');

    assert.is((await cli(['add', 'bob', '--roles', 'read,scan', '--password', ...cfg], { PANDAKV_PASSWORD: 'correct horse' })).code, 0);
    const listed = await cli(['list', ...cfg]);
    assert.match(listed.stdout, /alice\s+key\s+read,write/);
    assert.match(listed.stdout, /bob\s+password\s+read,scan/);

    const again = await cli(['add', 'alice', '--roles', 'read', '--out', join(dir, 'x.json'), ...cfg]);
    assert.is(again.code, 1);
    assert.match(again.stderr, /already exists/);

    // What is stored is public: the key, roles and salt; the password derives the same key.
    const store = await openCfg(`file:${join(dir, 'cfg.json')}`);
    try {
      const users = await new UserStore(store).list();
      const bob = users.find((u) => u.name === 'bob')!;
      const pair = derivePasswordKeyPair('correct horse', fromHex(bob.salt!));
      assert.is(toHex(pair.publicKey), bob.publicKey);
      const alice = users.find((u) => u.name === 'alice')!;
      assert.is(creds.kind === 'key' ? toHex(creds.publicKey) : '', alice.publicKey);
      assert.ok(!JSON.stringify(users).includes('correct horse'));
    } finally {
      await store.close();
    }

    assert.is((await cli(['remove', 'alice', ...cfg])).code, 0);
    assert.is((await cli(['remove', 'alice', ...cfg])).code, 1);
    assert.not.match((await cli(['list', ...cfg])).stdout, /alice/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad names, roles and missing passwords are usage errors', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-user-'));
  try {
    const cfg = ['--cfg', `file:${join(dir, 'cfg.json')}`];
    assert.is((await cli(['add', 'carol', '--roles', 'read,root', ...cfg])).code, 2);
    assert.is((await cli(['add', 'carol', ...cfg])).code, 2);
    assert.is((await cli(['add', 'carol', '--roles', 'read', '--password', ...cfg], { PANDAKV_PASSWORD: '' })).code, 2);
    assert.is((await cli(['frobnicate', ...cfg])).code, 2);
    const badName = await cli(['add', 'no spaces/or slashes', '--roles', 'read', '--out', join(dir, 'y.json'), ...cfg]);
    assert.is(badName.code, 1);
    assert.match(badName.stderr, /name/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
