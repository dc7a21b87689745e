import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import {
  BACKUP_FORMAT, DATA_HEADER_BYTES, checkDataHeader, dataHeader, decodeBlock, encodeBlock, validateManifest, type BackupItem, type Manifest, type ManifestUnit,
} from '../../../../shared/backup/backup-format.js';
import { UnitSnapshot } from '../../../../shared/backup/unit-snapshot.js';
import { bucketOf } from '../../../../shared/keystream.js';
import { ErrorCode, KvError } from '../../../../shared/errors.js';

const test = suite('shared - backup format and unit snapshot');

const sha = 'a'.repeat(64);

function manifest(units: Array<Partial<ManifestUnit>>): Manifest {
  return {
    format: BACKUP_FORMAT, version: 1, createdAt: 'x', finishedAt: 'y', map: { epoch: 1, rev: 1, bits: 8, unitBits: 1, nodes: 1 }, epochEnd: 1,
    items: units.length, bytes: 0, files: [{ name: 'data-00000.pkvb', bytes: 1000, sha256: sha }],
    units: units.map((u) => ({ unit: 0, unitBits: 1, seq: 0, epoch: 1, node: 'n', items: 1, bytes: 0, file: 0, offset: DATA_HEADER_BYTES, length: 10, sha256: sha, ...u })),
  };
}

function refusal(v: unknown): string {
  try {
    validateManifest(v);
  } catch (err) {
    assert.instance(err, KvError);
    assert.is((err as KvError).code, ErrorCode.BACKUP_INVALID);
    return (err as KvError).message;
  }
  return 'accepted';
}

test('a manifest is accepted only when its units tile every bucket once and every field is sound', () => {
  assert.is(refusal(manifest([{ unit: 0 }, { unit: 1 }])), 'accepted');
  // Mixed unit bits (a split during the backup) tile as well.
  assert.is(refusal(manifest([{ unit: 0 }, { unit: 2, unitBits: 2 }, { unit: 3, unitBits: 2 }])), 'accepted');
  const cases: Array<[string, unknown, RegExp]> = [
    ['not an object', [], /not a PandaKV backup manifest/],
    ['null', null, /not a PandaKV backup manifest/],
    ['another format', { format: 'zip' }, /not a PandaKV backup manifest/],
    ['another version', { ...manifest([{ unit: 0 }, { unit: 1 }]), version: 9 }, /format version 9/],
    ['a gap', manifest([{ unit: 0 }]), /cover every bucket/],
    ['an overlap', manifest([{ unit: 0 }, { unit: 0 }, { unit: 1 }]), /gap or overlaps/],
    ['out of order', manifest([{ unit: 1 }, { unit: 0 }]), /gap or overlaps/],
    ['a unit beyond its bits', manifest([{ unit: 0 }, { unit: 2 }]), /malformed/],
    ['a block outside its file', manifest([{ unit: 0 }, { unit: 1, offset: 995 }]), /outside its file/],
    ['a block inside the header', manifest([{ unit: 0, offset: 4 }, { unit: 1 }]), /outside its file/],
    ['a huge block', manifest([{ unit: 0, length: 2 ** 40 }, { unit: 1 }]), /malformed/],
    ['a file index past the list', manifest([{ unit: 0, file: 1 }, { unit: 1 }]), /malformed/],
    ['a negative seq', manifest([{ unit: 0, seq: -1 }, { unit: 1 }]), /malformed/],
    ['a bad checksum text', manifest([{ unit: 0, sha256: 'zz' }, { unit: 1 }]), /malformed/],
    ['a file name with a path', { ...manifest([{ unit: 0 }, { unit: 1 }]), files: [{ name: '../etc/passwd', bytes: 1000, sha256: sha }] }, /data-NNNNN\.pkvb/],
    ['totals that differ', { ...manifest([{ unit: 0 }, { unit: 1 }]), items: 3 }, /totals differ/],
    ['units not an array', { ...manifest([]), units: {} }, /must be arrays/],
  ];
  for (const [what, v, message] of cases) assert.match(refusal(v), message, what);
  // __proto__ in the JSON is an own key, never the prototype.
  assert.match(refusal(JSON.parse(`{"__proto__": ${JSON.stringify(manifest([{ unit: 0 }, { unit: 1 }]))}}`)), /not a PandaKV backup manifest/);
});

test('a block decodes to its items and is refused when it names another unit or holds a key of another unit', () => {
  const keys: Uint8Array[] = [];
  for (let i = 0; keys.length < 3; i++) if (bucketOf(`k${i}`, 2) === 1) keys.push(Buffer.from(`k${i}`));
  const items: BackupItem[] = keys.map((key, i) => ({ key, value: Buffer.from(`v${i}`), flags: i, expAt: i * 1000 }));
  const block = encodeBlock(1, 42, items);
  const bytes = items.reduce((n, it) => n + it.key.length + it.value.length, 0);
  const entry: ManifestUnit = { unit: 1, unitBits: 2, seq: 42, epoch: 1, node: 'n', items: 3, bytes, file: 0, offset: 16, length: block.length, sha256: createHash('sha256').update(block).digest('hex') };
  const back = decodeBlock(block, entry);
  assert.equal(back.map((it) => [Buffer.from(it.key).toString(), Buffer.from(it.value).toString(), it.flags, it.expAt]), items.map((it) => [Buffer.from(it.key).toString(), Buffer.from(it.value).toString(), it.flags, it.expAt]));
  const code = (f: () => unknown): string => { try { f(); return 'ok'; } catch (err) { return (err as KvError).code; } };
  assert.is(code(() => decodeBlock(block, { ...entry, unit: 2 })), ErrorCode.BACKUP_INVALID);
  assert.is(code(() => decodeBlock(block, { ...entry, seq: 41 })), ErrorCode.BACKUP_INVALID);
  assert.is(code(() => decodeBlock(block, { ...entry, bytes: bytes + 1 })), ErrorCode.BACKUP_INVALID);
  assert.is(code(() => decodeBlock(block.subarray(0, block.length - 2), entry)), ErrorCode.BACKUP_INVALID);
  assert.is(code(() => decodeBlock(new Uint8Array([0xff]), entry)), ErrorCode.BACKUP_INVALID);
  let other = 0;
  while (bucketOf(`o${other}`, 2) === 1) other++;
  const foreignKey = Buffer.from(`o${other}`);
  const foreign = encodeBlock(1, 42, [{ key: foreignKey, value: Buffer.alloc(1), flags: 0, expAt: 0 }]);
  assert.match((() => { try { decodeBlock(foreign, { ...entry, items: 1, bytes: foreignKey.length + 1 }); return 'ok'; } catch (err) { return (err as Error).message; } })(), /belongs to another unit/);
  assert.is(checkDataHeader(dataHeader(3), 3), null);
  assert.match(String(checkDataHeader(dataHeader(3), 4)), /manifest lists it as 4/);
  assert.match(String(checkDataHeader(Buffer.from('NOTABACKUPFILE!!'), 0)), /bad magic/);
  assert.match(String(checkDataHeader(new Uint8Array(4), 0)), /shorter/);
});

test('a unit snapshot keeps the last state of each key, drops removed and expired ones, and sorts by bytes', () => {
  const s = new UnitSnapshot(0, 10);
  s.put(Buffer.from('b'), Buffer.from('1'), 1, 0);
  s.put(Buffer.from([0xff]), Buffer.from('2'), 2, 0);
  s.put(Buffer.from('a'), Buffer.from('3'), 3, 50);
  s.apply(Buffer.from('b'), Buffer.from('4'), 4, 0);
  s.apply(Buffer.from('c'), null, 0, 0);
  s.apply(Buffer.from('d'), Buffer.from('5'), 5, 0);
  s.apply(Buffer.from('d'), null, 0, 0);
  assert.is(s.size, 3);
  assert.is(s.bytes, 6);
  assert.equal(s.sorted(10).map((it) => [Buffer.from(it.key).toString('latin1'), it.flags]), [['a', 3], ['b', 4], ['\xff', 2]]);
  assert.equal(s.sorted(50).map((it) => it.flags), [4, 2], 'expired at 50');
});

test.run();
