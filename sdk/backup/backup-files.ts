import { createHash, type Hash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KvError } from '../../shared/errors.js';
import {
  BACKUP_FORMAT, BACKUP_VERSION, DATA_FILE_PATTERN, DATA_HEADER_BYTES, checkDataHeader, dataHeader, decodeBlock, encodeBlock, validateManifest,
  type BackupItem, type Manifest, type ManifestFile, type ManifestUnit,
} from '../../shared/backup/backup-format.js';
import { BACKUP_FILES_DEFAULTS, type BackupFilesOptions } from './options.js';

/** The name of a backup's manifest. */
export const MANIFEST_NAME = 'manifest.json';

/** True when `dir` does not exist or holds nothing. */
export async function isEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

interface OpenFile {
  index: number;
  name: string;
  fd: number;
  bytes: number;
  hash: Hash;
}

/**
 * Writes a backup directory: unit blocks appended to data files (`data-00000.pkvb`, …,
 * each `[u32 length][block]` after a 16-byte header), then `manifest.json` last, written
 * to a temporary name, fsync'd and renamed, so a directory with a manifest holds a
 * finished backup. Synchronous writes: units come from concurrent passes and must not
 * interleave.
 */
export class BackupWriter {
  private readonly files: ManifestFile[] = [];
  private readonly units: ManifestUnit[] = [];
  private current: OpenFile | null = null;
  private items = 0;
  private bytes = 0;
  private isFinished = false;

  private constructor(readonly dir: string, private readonly options: BackupFilesOptions) {}

  /**
   * Prepare `dir` (created when missing). A directory that is not empty is refused
   * unless `isForced`; then an earlier backup's files in it are removed first.
   * @throws KvError INVALID_ARGUMENT when `dir` is not empty and not forced
   */
  static async create(dir: string, isForced: boolean, options: Partial<BackupFilesOptions> = {}): Promise<BackupWriter> {
    if (!(await isEmptyDir(dir))) {
      if (!isForced) throw KvError.invalidArgument(`${dir} is not empty; pass --force to write the backup there anyway`);
      for (const name of await readdir(dir)) {
        if (name === MANIFEST_NAME || name === `${MANIFEST_NAME}.tmp` || DATA_FILE_PATTERN.test(name)) await rm(join(dir, name), { force: true });
      }
    }
    await mkdir(dir, { recursive: true });
    return new BackupWriter(dir, { ...BACKUP_FILES_DEFAULTS, ...options });
  }

  /** Items and bytes (keys and values) written so far. */
  get totals(): { items: number; bytes: number; units: number } {
    return { items: this.items, bytes: this.bytes, units: this.units.length };
  }

  /** Append one unit's state at `seq` (items in key order). */
  writeUnit(unit: number, unitBits: number, seq: number, epoch: number, node: string, items: readonly BackupItem[]): void {
    if (this.isFinished) throw new Error('backup already finished');
    const block = encodeBlock(unit, seq, items);
    let f = this.current;
    if (f === null || (f.bytes > DATA_HEADER_BYTES && f.bytes + block.length > this.options.maxFileBytes)) f = this.nextFile();
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(block.length, 0);
    const offset = f.bytes;
    this.append(f, prefix);
    this.append(f, block);
    let bytes = 0;
    for (const it of items) bytes += it.key.length + it.value.length;
    this.units.push({ unit, unitBits, seq, epoch, node, items: items.length, bytes, file: f.index, offset, length: block.length, sha256: createHash('sha256').update(block).digest('hex') });
    this.items += items.length;
    this.bytes += bytes;
  }

  /** Close the data files and write the manifest. */
  async finish(head: Pick<Manifest, 'createdAt' | 'map' | 'epochEnd'>): Promise<Manifest> {
    this.closeCurrent();
    this.isFinished = true;
    const manifest: Manifest = {
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      createdAt: head.createdAt,
      finishedAt: new Date().toISOString(),
      map: head.map,
      epochEnd: head.epochEnd,
      items: this.items,
      bytes: this.bytes,
      files: this.files,
      units: [...this.units].sort((a, b) => a.unit / 2 ** a.unitBits - b.unit / 2 ** b.unitBits),
    };
    validateManifest(manifest);
    const tmp = join(this.dir, `${MANIFEST_NAME}.tmp`);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(manifest, null, 1)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, MANIFEST_NAME));
    return manifest;
  }

  /** Close what is open without writing a manifest (a failed backup). */
  abort(): void {
    if (this.current !== null) closeSync(this.current.fd);
    this.current = null;
    this.isFinished = true;
  }

  private nextFile(): OpenFile {
    this.closeCurrent();
    const index = this.files.length;
    const name = `data-${String(index).padStart(5, '0')}.pkvb`;
    const f: OpenFile = { index, name, fd: openSync(join(this.dir, name), 'w', 0o600), bytes: 0, hash: createHash('sha256') };
    this.files.push({ name, bytes: 0, sha256: '' });
    this.current = f;
    this.append(f, dataHeader(index));
    return f;
  }

  private append(f: OpenFile, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(f.fd, bytes, done, bytes.length - done);
    f.hash.update(bytes);
    f.bytes += bytes.length;
  }

  private closeCurrent(): void {
    const f = this.current;
    if (f === null) return;
    fsyncSync(f.fd);
    closeSync(f.fd);
    this.files[f.index] = { name: f.name, bytes: f.bytes, sha256: f.hash.digest('hex') };
    this.current = null;
  }
}

/** A verified backup directory. */
export interface LoadedBackup {
  dir: string;
  manifest: Manifest;
}

/**
 * Read `dir`'s manifest and check everything before anything is restored: the manifest's
 * shape, every data file's size, header and SHA-256, and every unit block's length,
 * SHA-256, unit, seqno, item count and keys.
 * @throws KvError BACKUP_INVALID saying which file and what is wrong
 */
export async function verifyBackup(dir: string): Promise<LoadedBackup> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_NAME), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw KvError.backupInvalid(`${dir} holds no ${MANIFEST_NAME}: not a PandaKV backup, or one that did not finish`);
    throw KvError.backupInvalid(`cannot read ${join(dir, MANIFEST_NAME)}: ${code ?? (err as Error).message}`, err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw KvError.backupInvalid(`${MANIFEST_NAME} is not valid JSON (truncated or edited?)`, err);
  }
  const manifest = validateManifest(parsed);
  for (const [index] of manifest.files.entries()) await forEachBlock(dir, manifest, index, true, () => undefined);
  return { dir, manifest };
}

/**
 * Each unit of a verified backup with its items, file by file (one file in memory at a
 * time). Blocks are checked again as they are read.
 */
export async function* backupUnits(backup: LoadedBackup): AsyncGenerator<{ entry: ManifestUnit; items: BackupItem[] }> {
  const { dir, manifest } = backup;
  for (const [index] of manifest.files.entries()) {
    const out: Array<{ entry: ManifestUnit; items: BackupItem[] }> = [];
    await forEachBlock(dir, manifest, index, false, (entry, items) => out.push({ entry, items }));
    yield* out;
  }
}

async function forEachBlock(dir: string, m: Manifest, index: number, isFullCheck: boolean, visit: (entry: ManifestUnit, items: BackupItem[]) => void): Promise<void> {
  const file = m.files[index]!;
  const path = join(dir, file.name);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw KvError.backupInvalid(`${file.name} is missing (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`, err);
  }
  if (size !== file.bytes) throw KvError.backupInvalid(`${file.name} is ${size} bytes, the manifest says ${file.bytes} (truncated or altered)`);
  const data = await readFile(path);
  if (isFullCheck && createHash('sha256').update(data).digest('hex') !== file.sha256) throw KvError.backupInvalid(`${file.name} fails its SHA-256 check (corrupted)`);
  const headerProblem = checkDataHeader(data.subarray(0, DATA_HEADER_BYTES), index);
  if (headerProblem !== null) throw KvError.backupInvalid(`${file.name}: ${headerProblem}`);
  for (const entry of m.units) {
    if (entry.file !== index) continue;
    if (data.readUInt32BE(entry.offset) !== entry.length) throw KvError.backupInvalid(`${file.name}: unit ${entry.unit}'s block length differs from the manifest`);
    const block = data.subarray(entry.offset + 4, entry.offset + 4 + entry.length);
    if (createHash('sha256').update(block).digest('hex') !== entry.sha256) throw KvError.backupInvalid(`${file.name}: unit ${entry.unit} fails its SHA-256 check (corrupted)`);
    visit(entry, decodeBlock(block, entry));
  }
}
