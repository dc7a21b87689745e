import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCredentials, keyCredentials, parseCredentials, passwordCredentials, type Credentials } from '../../../../shared/auth/credentials.js';
import { loadCredentials, writeCredentials } from '../../../../shared/auth/credentials-file.js';
import { equalBytes, generateKeyPair, toHex } from '../../../../shared/auth/keys.js';
import type { KvError } from '../../../../shared/errors.js';

const test = suite('shared - auth credentials');

const PAIR = generateKeyPair();
const SECRET_HEX = toHex(PAIR.secretKey);
const PASSWORD = 'Tr0ub4dor&3-secret';

function errorOf(fn: () => unknown): KvError {
  try {
    fn();
  } catch (err) {
    return err as KvError;
  }
  throw new Error('expected an error');
}

/** A temporary directory for the body, always removed. */
function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-creds-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('key and password credentials survive format and parse', () => {
  const key = keyCredentials('svc', PAIR);
  const back = parseCredentials(formatCredentials(key));
  assert.is(back.kind, 'key');
  if (back.kind === 'key') {
    assert.ok(equalBytes(back.secretKey, PAIR.secretKey));
    assert.ok(equalBytes(back.publicKey, PAIR.publicKey));
  }
  assert.equal(JSON.parse(formatCredentials(key)), { principal: 'svc', secretKey: SECRET_HEX, publicKey: toHex(PAIR.publicKey) });
  assert.equal(parseCredentials(formatCredentials(passwordCredentials('bob', PASSWORD))), { kind: 'password', principal: 'bob', password: PASSWORD });
});

test('publicKey may be omitted (it is inside secretKey) and hex may be upper case', () => {
  const c = parseCredentials(JSON.stringify({ principal: 'svc', secretKey: SECRET_HEX.toUpperCase() }));
  assert.ok(c.kind === 'key' && equalBytes(c.publicKey, PAIR.publicKey));
});

test('parse errors say what is wrong and never quote a secret', () => {
  const other = generateKeyPair();
  const broken = `${SECRET_HEX.slice(0, 126)}${SECRET_HEX.endsWith('00') ? '01' : '00'}`;
  const cases: Array<[string, RegExp]> = [
    [`{"principal": "bob", "password": ${PASSWORD}}`, /not valid JSON/],
    [`{"principal": "bob", "secretKey": "${SECRET_HEX}"`, /not valid JSON/],
    ['[]', /JSON object/],
    ['"text"', /JSON object/],
    [JSON.stringify({ principal: 'bob' }), /missing "secretKey".*or "password"/],
    [JSON.stringify({ principal: 'bob', password: PASSWORD, secretKey: SECRET_HEX }), /either "secretKey" or "password"/],
    [JSON.stringify({ password: PASSWORD }), /missing "principal"/],
    [JSON.stringify({ principal: 'has space', password: PASSWORD }), /"principal" must be/],
    [JSON.stringify({ principal: 'bob', password: '' }), /"password" must be a non-empty/],
    [JSON.stringify({ principal: 'bob', password: 7 }), /"password" must be a string/],
    [JSON.stringify({ principal: 'bob', password: PASSWORD, secretkey: SECRET_HEX }), /unknown field "secretkey"/],
    [JSON.stringify({ principal: 'bob', password: PASSWORD, [PASSWORD]: 1 }), /unknown field a field/],
    [JSON.stringify({ principal: 'svc', secretKey: SECRET_HEX.slice(2) }), /"secretKey" must be 128 hex digits/],
    [JSON.stringify({ principal: 'svc', secretKey: broken }), /not a valid Ed25519 secret key/],
    [JSON.stringify({ principal: 'svc', secretKey: SECRET_HEX, publicKey: 'abc' }), /"publicKey" must be 64 hex digits/],
    [JSON.stringify({ principal: 'svc', secretKey: SECRET_HEX, publicKey: toHex(other.publicKey) }), /"publicKey" does not belong/],
    [JSON.stringify({ principal: 'svc', password: 'x'.repeat(70_000) }), /larger than/],
    [JSON.stringify({ principal: 'svc', password: 'x'.repeat(5_000) }), /longer than 4096/],
  ];
  for (const [text, re] of cases) {
    const err = errorOf(() => parseCredentials(text));
    assert.is(err.code, 'KV_ERR_INVALID_ARGUMENT', text.slice(0, 60));
    assert.ok(re.test(err.message), `${err.message} should match ${re}`);
    assert.not.ok(err.message.includes(PASSWORD), 'no password in the message');
    assert.not.ok(err.message.includes(SECRET_HEX.slice(0, 16)), 'no key in the message');
    assert.not.ok(err.message.toLowerCase().includes(SECRET_HEX.slice(0, 16)), 'no key in the message');
  }
});

test('writeCredentials writes mode 0600 atomically and loadCredentials reads it back', () => {
  withDir((dir) => {
    const path = join(dir, 'creds.json');
    writeCredentials(path, keyCredentials('svc', PAIR));
    if (process.platform !== 'win32') assert.is(statSync(path).mode & 0o777, 0o600);
    const back = loadCredentials(path);
    assert.ok(back.kind === 'key' && equalBytes(back.secretKey, PAIR.secretKey));
    writeCredentials(path, passwordCredentials('bob', PASSWORD));
    assert.equal(loadCredentials(path), { kind: 'password', principal: 'bob', password: PASSWORD });
    assert.equal(readdirSync(dir), ['creds.json'], 'no temporary file left behind');
  });
});

test('a credentials file readable by group or others is refused, naming chmod 600', () => {
  if (process.platform === 'win32') return;
  withDir((dir) => {
    const path = join(dir, 'creds.json');
    writeFileSync(path, formatCredentials(passwordCredentials('bob', PASSWORD)), { mode: 0o644 });
    chmodSync(path, 0o644);
    const err = errorOf(() => loadCredentials(path));
    assert.is(err.code, 'KV_ERR_INVALID_ARGUMENT');
    assert.ok(err.message.includes('chmod 600'), err.message);
    assert.ok(err.message.includes('0644'), err.message);
    assert.not.ok(err.message.includes(PASSWORD));
    for (const mode of [0o640, 0o604, 0o620, 0o602]) {
      chmodSync(path, mode);
      assert.ok(errorOf(() => loadCredentials(path)).message.includes('chmod 600'), mode.toString(8));
    }
    chmodSync(path, 0o600);
    assert.is(loadCredentials(path).principal, 'bob');
    chmodSync(path, 0o400);
    assert.is(loadCredentials(path).principal, 'bob', 'read-only for the owner is fine');
  });
});

test('load errors name the path and the content problem, never the content', () => {
  withDir((dir) => {
    const missing = errorOf(() => loadCredentials(join(dir, 'nope.json')));
    assert.is(missing.code, 'KV_ERR_INVALID_ARGUMENT');
    assert.ok(/nope\.json.*ENOENT/.test(missing.message), missing.message);

    const sub = join(dir, 'sub');
    mkdirSync(sub, { mode: 0o700 });
    assert.ok(errorOf(() => loadCredentials(sub)).message.includes('not a regular file'));

    const bad = join(dir, 'bad.json');
    writeFileSync(bad, `{"principal":"bob","password":${PASSWORD}}`, { mode: 0o600 });
    const err = errorOf(() => loadCredentials(bad));
    assert.ok(err.message.includes('bad.json') && err.message.includes('not valid JSON'), err.message);
    assert.not.ok(err.message.includes(PASSWORD));

    const big = join(dir, 'big.json');
    writeFileSync(big, 'x'.repeat(70_000), { mode: 0o600 });
    assert.ok(errorOf(() => loadCredentials(big)).message.includes('larger than'));
  });
});

test('writeCredentials refuses invalid credentials and leaves nothing behind', () => {
  withDir((dir) => {
    const path = join(dir, 'creds.json');
    const bad: Credentials = { kind: 'password', principal: 'bad name', password: PASSWORD };
    assert.is(errorOf(() => writeCredentials(path, bad)).code, 'KV_ERR_INVALID_ARGUMENT');
    const mismatched: Credentials = { kind: 'key', principal: 'svc', secretKey: PAIR.secretKey, publicKey: generateKeyPair().publicKey };
    assert.is(errorOf(() => writeCredentials(path, mismatched)).code, 'KV_ERR_INVALID_ARGUMENT');
    assert.equal(readdirSync(dir), []);
    const noDir = errorOf(() => writeCredentials(join(dir, 'missing', 'creds.json'), passwordCredentials('bob', PASSWORD)));
    assert.is(noDir.code, 'KV_ERR_INVALID_ARGUMENT');
    assert.ok(noDir.message.includes('ENOENT'), noDir.message);
  });
});

test('a replaced credentials file keeps mode 0600 even when the old one was wider', () => {
  if (process.platform === 'win32') return;
  withDir((dir) => {
    const path = join(dir, 'creds.json');
    writeFileSync(path, 'old', { mode: 0o644 });
    chmodSync(path, 0o644);
    writeCredentials(path, passwordCredentials('bob', PASSWORD));
    assert.is(statSync(path).mode & 0o777, 0o600);
    assert.ok(readFileSync(path, 'utf8').includes('"bob"'));
  });
});

test.run();
