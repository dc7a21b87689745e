import { Decoder, Encoder } from 'cbor-x';
import { KvError } from '../errors.js';
import { bucketOf } from '../keystream.js';

/**
 * The on-disk format of a PandaKV backup (docs/backup.md): `manifest.json` plus data
 * files of unit blocks. Pure: encoding, decoding and validation; reading and writing the
 * files is `sdk/backup/backup-files.ts`.
 */

/** `format` of every manifest. */
export const BACKUP_FORMAT = 'pandakv-backup';
/** The manifest and data-file version this code writes and reads. */
export const BACKUP_VERSION = 1;
/** First 8 bytes of every data file. */
export const DATA_MAGIC = 'PKVBACK1';
/** Magic (8) + version (u32) + file index (u32). */
export const DATA_HEADER_BYTES = 16;
/** Data file names: `data-00000.pkvb`, … */
export const DATA_FILE_PATTERN = /^data-\d{5}\.pkvb$/;
/** Largest unit block accepted when reading (a unit is one block). */
export const MAX_BLOCK_BYTES = 1024 * 1024 * 1024;

/** One item of a unit: key bytes, value bytes, client flags, absolute expiry (unix s, 0 = never). */
export interface BackupItem {
  key: Uint8Array;
  value: Uint8Array;
  flags: number;
  expAt: number;
}

export interface ManifestFile {
  name: string;
  bytes: number;
  sha256: string;
}

/**
 * Where a unit's block is and what it holds. Units are numbered at `unitBits`: the map's
 * unit bits when the unit was read (a cluster that grows raises them during a backup, so
 * the entries of one backup may differ; together they cover every bucket once).
 */
export interface ManifestUnit {
  unit: number;
  unitBits: number;
  /** The unit's seqno on its active: the block is the unit's state exactly there. */
  seq: number;
  /** The map epoch the unit was read at, and the node (id) it was read from. */
  epoch: number;
  node: string;
  items: number;
  /** Bytes of keys and values. */
  bytes: number;
  file: number;
  offset: number;
  /** Bytes of the block, its 4-byte length prefix excluded. */
  length: number;
  /** SHA-256 (hex) of the block. */
  sha256: string;
}

export interface Manifest {
  format: typeof BACKUP_FORMAT;
  version: number;
  createdAt: string;
  finishedAt: string;
  /** The map the backup started from (epoch, rev, layout, node count). */
  map: { epoch: number; rev: number; bits: number; unitBits: number; nodes: number };
  /** The newest map epoch a unit was read at. */
  epochEnd: number;
  items: number;
  bytes: number;
  files: ManifestFile[];
  units: ManifestUnit[];
}

const encoder = new Encoder({ useRecords: false, variableMapSize: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** A data file's header. */
export function dataHeader(fileIndex: number): Uint8Array {
  const b = Buffer.alloc(DATA_HEADER_BYTES);
  b.write(DATA_MAGIC, 0, 'latin1');
  b.writeUInt32BE(BACKUP_VERSION, 8);
  b.writeUInt32BE(fileIndex, 12);
  return b;
}

/** Check a data file's header; the reason when it is not the header of file `fileIndex`. */
export function checkDataHeader(head: Uint8Array, fileIndex: number): string | null {
  if (head.length < DATA_HEADER_BYTES) return 'shorter than its header';
  const b = Buffer.from(head.buffer, head.byteOffset, head.length);
  if (b.toString('latin1', 0, 8) !== DATA_MAGIC) return 'not a PandaKV backup data file (bad magic)';
  if (b.readUInt32BE(8) !== BACKUP_VERSION) return `data file version ${b.readUInt32BE(8)}, this pandakv reads ${BACKUP_VERSION}`;
  if (b.readUInt32BE(12) !== fileIndex) return `header names file ${b.readUInt32BE(12)}, the manifest lists it as ${fileIndex}`;
  return null;
}

/** A unit block: CBOR `[unit, seq, count, [key, value, flags, expAt, …]]`, items in key order. */
export function encodeBlock(unit: number, seq: number, items: readonly BackupItem[]): Uint8Array {
  const flat: unknown[] = new Array(items.length * 4);
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    flat[i * 4] = it.key;
    flat[i * 4 + 1] = it.value;
    flat[i * 4 + 2] = it.flags;
    flat[i * 4 + 3] = it.expAt;
  }
  return encoder.encode([unit, seq, items.length, flat]);
}

/**
 * Decode and check a unit block against its manifest entry: its unit, seqno and item
 * count, and every key's unit under the backup's layout.
 * @throws KvError BACKUP_INVALID saying what is wrong
 */
export function decodeBlock(bytes: Uint8Array, entry: ManifestUnit): BackupItem[] {
  let v: unknown;
  try {
    v = decoder.decode(bytes);
  } catch (err) {
    throw KvError.backupInvalid(`unit ${entry.unit}: its block is not readable CBOR`, err);
  }
  const bad = (why: string): KvError => KvError.backupInvalid(`unit ${entry.unit}: ${why}`);
  if (!Array.isArray(v) || v.length !== 4 || !Array.isArray(v[3])) throw bad('its block is not [unit, seq, count, items]');
  if (v[0] !== entry.unit || v[1] !== entry.seq || v[2] !== entry.items) throw bad('its block names another unit, seqno or item count than the manifest');
  const flat = v[3] as unknown[];
  if (flat.length !== entry.items * 4) throw bad(`its block holds ${flat.length / 4} items, the manifest says ${entry.items}`);
  const out: BackupItem[] = new Array(entry.items);
  let bytesSeen = 0;
  for (let i = 0; i < entry.items; i++) {
    const key = flat[i * 4];
    const value = flat[i * 4 + 1];
    const flags = flat[i * 4 + 2];
    const expAt = flat[i * 4 + 3];
    if (!(key instanceof Uint8Array) || key.length === 0 || !(value instanceof Uint8Array) || !isUint(flags, 0xffffffff) || !isUint(expAt)) throw bad(`item ${i} is malformed`);
    if (bucketOf(key, entry.unitBits) !== entry.unit) throw bad(`item ${i} belongs to another unit`);
    bytesSeen += key.length + value.length;
    out[i] = { key, value, flags, expAt };
  }
  if (bytesSeen !== entry.bytes) throw bad(`its items hold ${bytesSeen} bytes, the manifest says ${entry.bytes}`);
  return out;
}

/**
 * Check that `v` (parsed manifest.json) is a manifest this code reads: every field typed,
 * units covering every bucket exactly once, in order, blocks inside their files.
 * @throws KvError BACKUP_INVALID saying what is wrong
 */
export function validateManifest(v: unknown): Manifest {
  const bad = (why: string): KvError => KvError.backupInvalid(`manifest.json: ${why}`);
  if (!isObject(v) || v.format !== BACKUP_FORMAT) throw KvError.backupInvalid('manifest.json is not a PandaKV backup manifest');
  if (v.version !== BACKUP_VERSION) throw bad(`format version ${String(v.version)}; this pandakv reads version ${BACKUP_VERSION}`);
  const map = v.map;
  if (!isObject(map) || !isUint(map.epoch) || !isUint(map.rev) || !isUint(map.bits, 32) || !isUint(map.unitBits, map.bits as number) || !isUint(map.nodes)) throw bad('map must hold epoch, rev, bits, unitBits and nodes');
  if (typeof v.createdAt !== 'string' || typeof v.finishedAt !== 'string' || !isUint(v.epochEnd) || !isUint(v.items) || !isUint(v.bytes)) throw bad('createdAt, finishedAt, epochEnd, items and bytes are required');
  if (!Array.isArray(v.files) || !Array.isArray(v.units)) throw bad('files and units must be arrays');
  const files = v.files as unknown[];
  for (const [i, f] of files.entries()) {
    if (!isObject(f) || typeof f.name !== 'string' || !DATA_FILE_PATTERN.test(f.name) || !isUint(f.bytes) || !isSha(f.sha256)) throw bad(`file ${i} must have a data-NNNNN.pkvb name, bytes and sha256`);
  }
  const units = v.units as unknown[];
  let items = 0;
  let bytes = 0;
  // Each unit covers [unit, unit + 1) at its unit bits; in order they must tile [0, 1).
  let covered = 0;
  for (const [i, u] of units.entries()) {
    if (!isObject(u) || !isUint(u.unitBits, 32) || !isUint(u.unit) || u.unit >= 2 ** u.unitBits || !isUint(u.seq) || !isUint(u.epoch) || typeof u.node !== 'string' || !isUint(u.items) || !isUint(u.bytes)
      || !isUint(u.file) || u.file >= files.length || !isUint(u.offset) || !isUint(u.length, MAX_BLOCK_BYTES) || !isSha(u.sha256)) {
      throw bad(`unit entry ${i} is malformed`);
    }
    if (u.unit / 2 ** u.unitBits !== covered) throw bad(`unit entry ${i} (unit ${u.unit} of 2^${u.unitBits}) leaves a gap or overlaps the one before`);
    covered = (u.unit + 1) / 2 ** u.unitBits;
    const fileBytes = (files[u.file] as ManifestFile).bytes;
    if (u.offset < DATA_HEADER_BYTES || u.offset + 4 + u.length > fileBytes) throw bad(`unit ${u.unit}'s block lies outside its file`);
    items += u.items;
    bytes += u.bytes;
  }
  if (covered !== 1) throw bad('the units do not cover every bucket');
  if (items !== v.items || bytes !== v.bytes) throw bad('the totals differ from the sum of the units');
  return v as unknown as Manifest;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isUint(v: unknown, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
}

function isSha(v: unknown): v is string {
  return typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
}
