import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { ROLES, type Role } from '../../../../shared/auth/principal.js';
import { isAllowed, isPublicOp, missingRole, requiredRole, requiredRoles, roleTable } from '../../../../shared/auth/roles.js';
import { Op, type OpName } from '../../../../shared/protocol/ops.js';

const test = suite('shared - auth roles');

/** What each op needs: its class first, then any extra role. */
const EXPECTED: Record<OpName, Role[]> = {
  GET: ['read'],
  GAT: ['write', 'read'],
  SET: ['write'],
  ADD: ['write'],
  REPLACE: ['write'],
  APPEND: ['write'],
  PREPEND: ['write'],
  DELETE: ['write'],
  INCR: ['write', 'read'],
  DECR: ['write', 'read'],
  TOUCH: ['write'],
  SCAN: ['scan', 'read'],
  STATS: ['read'],
  PING: [],
  AUTH: [],
  BACKUP_PAGE: ['admin'],
  BACKUP_CHANGES: ['admin'],
};

test('the role table covers every op in Op, with the expected roles', () => {
  const names = Object.keys(Op) as OpName[];
  assert.equal(Object.keys(roleTable()).sort(), names.slice().sort());
  assert.equal(Object.keys(EXPECTED).sort(), names.slice().sort());
  for (const name of names) {
    assert.equal([...requiredRoles(Op[name])], EXPECTED[name], name);
    assert.is(requiredRole(Op[name]), EXPECTED[name][0] ?? null, name);
    for (const role of requiredRoles(Op[name])) assert.ok(ROLES.includes(role), `${name}: ${role} is a known role`);
  }
});

test('every mutation is classed as write, SCAN as scan, and only PING and AUTH are public', () => {
  for (const name of ['SET', 'ADD', 'REPLACE', 'APPEND', 'PREPEND', 'DELETE', 'INCR', 'DECR', 'TOUCH', 'GAT'] as const) {
    assert.is(requiredRole(Op[name]), 'write', name);
  }
  assert.is(requiredRole(Op.SCAN), 'scan');
  const publicOps = (Object.keys(Op) as OpName[]).filter((n) => isPublicOp(Op[n]));
  assert.equal(publicOps.sort(), ['AUTH', 'PING']);
});

test('an op code outside the table needs admin', () => {
  for (const code of [0, 99, -1, 1.5, Number.NaN]) {
    assert.is(requiredRole(code), 'admin', String(code));
    assert.not.ok(isAllowed(['read', 'write', 'scan'], code));
    assert.ok(isAllowed(['admin'], code));
  }
});

test('isAllowed needs every role of the op, and admin allows all', () => {
  assert.ok(isAllowed(['read'], Op.GET));
  assert.not.ok(isAllowed(['write'], Op.GET));
  assert.not.ok(isAllowed(['write'], Op.GAT), 'GAT returns the value');
  assert.not.ok(isAllowed(['write'], Op.INCR), 'INCR returns the counter');
  assert.ok(isAllowed(['write'], Op.SET));
  assert.not.ok(isAllowed(['scan'], Op.SCAN), 'a scan returns values too');
  assert.ok(isAllowed(['scan', 'read'], Op.SCAN));
  assert.ok(isAllowed([], Op.PING));
  for (const name of Object.keys(Op) as OpName[]) assert.ok(isAllowed(['admin'], Op[name]), name);
  assert.is(missingRole(['read'], Op.SCAN), 'scan');
  assert.is(missingRole(['scan'], Op.SCAN), 'read');
  assert.is(missingRole(['scan', 'read'], Op.SCAN), null);
});

test.run();
