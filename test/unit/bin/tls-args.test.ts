import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError, tlsArgs } from '../../../bin/cli-util.js';
import { snakeCase } from '../../../shared/snake-case.js';

const test = suite('bin - tls switches');

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-tlsargs-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n';

test('cert and key are read together; a CA alone is a client-side trust', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'c.pem'), CERT);
    await writeFile(join(dir, 'k.pem'), KEY);
    const both = tlsArgs({ 'tls-cert': join(dir, 'c.pem'), 'tls-key': join(dir, 'k.pem') });
    assert.equal(both.tls, { cert: CERT, key: KEY });
    assert.equal(tlsArgs({ 'tls-ca': join(dir, 'c.pem') }), { tlsCa: CERT });
    assert.equal(tlsArgs({}), {});
  });
});

test('a lone cert or key, a missing file and a file without PEM are usage errors that name the switch', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'c.pem'), CERT);
    await writeFile(join(dir, 'junk.pem'), '\x00\xff'.repeat(5000));
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ 'tls-cert': join(dir, 'c.pem') }, /--tls-cert and --tls-key go together/],
      [{ 'tls-key': join(dir, 'c.pem') }, /--tls-cert and --tls-key go together/],
      [{ 'tls-cert': join(dir, 'c.pem'), 'tls-key': join(dir, 'missing.pem') }, /--tls-key: cannot read .*ENOENT/],
      [{ 'tls-cert': join(dir, 'junk.pem'), 'tls-key': join(dir, 'c.pem') }, /--tls-cert: .* holds no PEM certificate/],
      [{ 'tls-cert': join(dir, 'c.pem'), 'tls-key': join(dir, 'c.pem') }, /--tls-key: .* holds no PEM private key/],
      [{ 'tls-ca': dir }, /--tls-ca: cannot read/],
    ];
    for (const [values, message] of cases) {
      assert.throws(() => tlsArgs(values), (err: unknown) => err instanceof UsageError && message.test(err.message), JSON.stringify(values));
    }
  });
});

test('STATS keys become snake_case', () => {
  assert.is(snakeCase('badFrames'), 'bad_frames');
  assert.is(snakeCase('repl_deltaUnits'), 'repl_delta_units');
  assert.is(snakeCase('leaseLeftMs'), 'lease_left_ms');
  assert.is(snakeCase('conn_preAuthTimeouts'), 'conn_pre_auth_timeouts');
  assert.is(snakeCase('items'), 'items');
  assert.is(snakeCase('already_snake'), 'already_snake');
});

test.run();
