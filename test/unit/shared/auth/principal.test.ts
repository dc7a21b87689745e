import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { generateKeyPair, newSalt, toHex } from '../../../../shared/auth/keys.js';
import {
  PrincipalTable, ROLES, checkPrincipal, decodePrincipal, decodePrincipals, encodePrincipal, hasRole, isPrincipalName, type Principal,
} from '../../../../shared/auth/principal.js';
import type { KvError } from '../../../../shared/errors.js';

const test = suite('shared - auth principals');

function principal(name: string, roles: Principal['roles'] = ['read'], salt: string | null = null): Principal {
  return { name, publicKey: toHex(generateKeyPair().publicKey), roles, salt };
}

test('a well-formed principal passes the check and survives encode, JSON and decode', () => {
  const p = principal('svc.app-1@prod_x', ['write', 'read'], toHex(newSalt()));
  assert.is(checkPrincipal(p), null);
  const back = decodePrincipal(JSON.parse(JSON.stringify(encodePrincipal(p))));
  assert.equal(back, { ...p, roles: ['read', 'write'] }, 'roles come back in canonical order');
});

test('decode lowercases hex, fills a missing salt with null and ignores unknown fields', () => {
  const p = principal('a');
  const back = decodePrincipal({ name: 'a', publicKey: p.publicKey.toUpperCase(), roles: [], comment: 'newer field' });
  assert.equal(back, { name: 'a', publicKey: p.publicKey, roles: [], salt: null });
});

test('checkPrincipal names what is wrong', () => {
  const ok = principal('ok');
  const cases: Array<[unknown, RegExp]> = [
    [null, /object/],
    [[ok], /object/],
    [{ ...ok, name: '' }, /name/],
    [{ ...ok, name: 'x'.repeat(65) }, /name/],
    [{ ...ok, name: 'has space' }, /name/],
    [{ ...ok, name: 'slash/no' }, /name/],
    [{ ...ok, name: 7 }, /name/],
    [{ ...ok, publicKey: ok.publicKey.slice(2) }, /publicKey/],
    [{ ...ok, publicKey: `${ok.publicKey.slice(2)}zz` }, /publicKey/],
    [{ ...ok, roles: 'read' }, /roles/],
    [{ ...ok, roles: ['read', 'superuser'] }, /unknown role/],
    [{ ...ok, roles: ['read', 'read'] }, /twice/],
    [{ ...ok, salt: 'abcd' }, /salt/],
    [{ ...ok, salt: 12 }, /salt/],
  ];
  for (const [value, re] of cases) {
    const problem = checkPrincipal(value);
    assert.ok(problem !== null && re.test(problem), `${JSON.stringify(value)} → ${problem}`);
  }
  assert.ok(isPrincipalName('x'.repeat(64)));
});

test('checkPrincipal never throws on arbitrary input', () => {
  fc.assert(fc.property(fc.anything(), (value) => {
    const r = checkPrincipal(value);
    return r === null || typeof r === 'string';
  }));
});

test('decodePrincipals refuses a duplicate name and a non-array', () => {
  const a = principal('a');
  assert.throws(() => decodePrincipals([a, { ...principal('a') }]), (err: KvError) => err.code === 'KV_ERR_INVALID_ARGUMENT' && /twice/.test(err.message));
  assert.throws(() => decodePrincipals({}), (err: KvError) => err.code === 'KV_ERR_INVALID_ARGUMENT');
});

test('admin grants every role; other roles grant only themselves', () => {
  for (const role of ROLES) assert.ok(hasRole(['admin'], role), role);
  assert.ok(hasRole(['read'], 'read'));
  assert.not.ok(hasRole(['read'], 'write'));
  assert.not.ok(hasRole(['write', 'read'], 'scan'));
  assert.not.ok(hasRole([], 'read'));
});

test('a table looks principals up by name and hands out frozen copies', () => {
  const list = [principal('b'), principal('a', ['scan'])];
  const table = new PrincipalTable(list);
  assert.is(table.size, 2);
  assert.equal(table.list().map((p) => p.name), ['a', 'b']);
  const a = table.get('a');
  assert.ok(a !== undefined && Object.isFrozen(a) && Object.isFrozen(a.roles));
  list[1]!.roles.push('admin');
  assert.equal(table.get('a')?.roles, ['scan'], 'mutating the input does not reach the table');
  assert.is(table.publicKeyOf('a')?.length, 32);
  assert.is(table.get('zz'), undefined);
  assert.not.ok(table.has('zz'));
});

test('replaceAll swaps the whole list, and leaves the table unchanged when the new list is invalid', () => {
  const table = new PrincipalTable([principal('a')]);
  const gen = table.generation;
  table.replaceAll([principal('b'), principal('c')]);
  assert.equal(table.list().map((p) => p.name), ['b', 'c']);
  assert.is(table.generation, gen + 1);
  assert.throws(() => table.replaceAll([principal('d'), { name: 'bad name' }]));
  assert.throws(() => table.replaceAll([principal('d'), principal('d')]));
  assert.equal(table.list().map((p) => p.name), ['b', 'c']);
  assert.is(table.generation, gen + 1);
});

test.run();
