import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { decodeRequests, encodeMessage } from '../../../../shared/protocol/codec.js';
import { MAX_BACKUP_UNITS } from '../../../../shared/protocol/backup-args.js';
import { backupChangesRequest, backupPageRequest } from '../../../../shared/protocol/backup-frames.js';
import { Op } from '../../../../shared/protocol/ops.js';
import { Status } from '../../../../shared/status.js';

const test = suite('shared - backup op arguments');

/** The status one frame gets, or 'ok' with the request's backup args. */
function decodeOne(frame: unknown[]): { status: number | 'ok'; message?: string } {
  const out = decodeRequests(encodeMessage([frame]));
  assert.is(out.fatal, null);
  if (out.errors.length > 0) return { status: out.errors[0]!.status, message: out.errors[0]!.message };
  assert.ok(out.requests[0]!.backup !== undefined);
  return { status: 'ok' };
}

test('the builders make frames the node reads back exactly', () => {
  const page = backupPageRequest(new Uint8Array([0, 255]), [0, 3, 9], 24, 9, 500);
  page[0] = 1;
  page[2] = 7;
  const r = decodeRequests(encodeMessage([page])).requests[0]!;
  assert.is(r.op, Op.BACKUP_PAGE);
  assert.is(r.key, '\x00\xff');
  assert.equal(r.backup, { units: [0, 3, 9], unitBits: 9, bits: 24, limit: 500, since: null });
  const ch = backupChangesRequest([2], [40], 24, 9);
  ch[0] = 2;
  const c = decodeRequests(encodeMessage([ch])).requests[0]!;
  assert.is(c.op, Op.BACKUP_CHANGES);
  assert.equal(c.backup, { units: [2], unitBits: 9, bits: 24, limit: 10_000, since: [40] });
});

test('malformed and hostile arguments are BAD_REQUEST for that frame, an oversized limit TOO_LARGE', () => {
  const base = { units: [1], bits: 10, unitBits: 4 };
  const cases: Array<[string, unknown[], number]> = [
    ['no units', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { bits: 10, unitBits: 4 }], Status.BAD_REQUEST],
    ['empty units', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { ...base, units: [] }], Status.BAD_REQUEST],
    ['units not an array', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { ...base, units: 'all' }], Status.BAD_REQUEST],
    ['unit out of range', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { ...base, units: [16] }], Status.BAD_REQUEST],
    ['negative unit', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { ...base, units: [-1] }], Status.BAD_REQUEST],
    ['fractional unit', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { ...base, units: [1.5] }], Status.BAD_REQUEST],
    ['units not ascending', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { ...base, units: [3, 2] }], Status.BAD_REQUEST],
    ['repeated unit', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { ...base, units: [2, 2] }], Status.BAD_REQUEST],
    ['too many units', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { units: Array.from({ length: MAX_BACKUP_UNITS + 1 }, (_, i) => i), bits: 32, unitBits: 20 }], Status.BAD_REQUEST],
    ['bits over 32', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { ...base, bits: 33 }], Status.BAD_REQUEST],
    ['unitBits over bits', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { ...base, unitBits: 11 }], Status.BAD_REQUEST],
    ['bits a string', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { ...base, bits: '10' }], Status.BAD_REQUEST],
    ['limit 0', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { ...base, limit: 0 }], Status.BAD_REQUEST],
    ['limit over the maximum', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, { ...base, limit: 10_001 }], Status.TOO_LARGE],
    ['empty start key', [1, Op.BACKUP_PAGE, 0, '', null, 0, 0, 0, base], Status.BAD_REQUEST],
    ['start key too long', [1, Op.BACKUP_PAGE, 0, 'k'.repeat(251), null, 0, 0, 0, base], Status.TOO_LARGE],
    ['changes without since', [1, Op.BACKUP_CHANGES, 0, null, null, 0, 0, 0, base], Status.BAD_REQUEST],
    ['since of another length', [1, Op.BACKUP_CHANGES, 0, null, null, 0, 0, 0, { ...base, since: [1, 2] }], Status.BAD_REQUEST],
    ['negative since', [1, Op.BACKUP_CHANGES, 0, null, null, 0, 0, 0, { ...base, since: [-4] }], Status.BAD_REQUEST],
    ['changes with a key', [1, Op.BACKUP_CHANGES, 0, 'k', null, 0, 0, 0, { ...base, since: [0] }], Status.BAD_REQUEST],
    ['extra not a map', [1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, [1, 2]], Status.BAD_REQUEST],
  ];
  for (const [what, frame, status] of cases) assert.is(decodeOne(frame).status, status, what);
  // __proto__ in extra does not reach the prototype nor count as an argument.
  assert.is(decodeOne([1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, JSON.parse('{"__proto__": {"units": [1]}, "bits": 4, "unitBits": 1}')]).status, Status.BAD_REQUEST);
  assert.is(decodeOne([1, Op.BACKUP_PAGE, 0, null, null, 0, 0, 0, base]).status, 'ok');
});

test.run();
