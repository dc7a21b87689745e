import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Decoder, Encoder } from 'cbor-x';
import type { KvEngine } from './engine/types.js';

/**
 * Warm restart: a node stopped gracefully (SIGTERM/SIGINT) writes its items and, per
 * unit, the seqno it reached and the fingerprint of its record there, to
 * `<data-dir>/memory.snapshot`; started again with that data dir, it loads them back and
 * verifies every unit it holds against its active like a node returning from a failover:
 * units whose history still matches catch up with only the writes they missed (delta
 * recovery), the others are copied again. A node that crashed has no snapshot and copies
 * in full. The file is deleted as soon as it is read, so it is never loaded twice.
 *
 * File: the 8 bytes `PKVSNAP1`, then frames of a u32 big-endian length and one CBOR item:
 * a header `{ v: 1, nodeId, savedAt, units: [[unit, seq, print | null], …] }`, item pages
 * `[[key bytes, value bytes, flags, expAt], …]`, and a trailer `{ end: true, items }`. A
 * file that is cut short, malformed, or written by another node is ignored (and removed).
 */

export const SNAPSHOT_FILE = 'memory.snapshot';
const MAGIC = Buffer.from('PKVSNAP1', 'latin1');
/** Items per page frame. */
const PAGE_ITEMS = 4096;
/** Largest frame accepted when reading: a page of the largest values the engine allows stays well under it. */
const MAX_FRAME_BYTES = 256 * 1024 * 1024;

const encoder = new Encoder({ useRecords: false, variableMapSize: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false });

/** A unit's position in its history: its seqno and the fingerprint of its record there. */
export type UnitMark = [unit: number, seq: number, print: string | null];

export interface SnapshotFigures {
  items: number;
  units: number;
  bytes: number;
  ms: number;
}

/**
 * Write every live item of `engine` and the unit marks, atomically (temp file, fsync,
 * rename). Synchronous on purpose: the node has stopped serving, and a cut taken in one
 * turn of the event loop is consistent.
 */
export function saveSnapshot(dir: string, nodeId: string, engine: KvEngine, units: UnitMark[]): SnapshotFigures {
  const t0 = performance.now();
  const path = join(dir, SNAPSHOT_FILE);
  const temp = `${path}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  let bytes = 0;
  let items = 0;
  const put = (chunk: Uint8Array): void => {
    let at = 0;
    while (at < chunk.length) at += writeSync(fd, chunk, at, chunk.length - at);
    bytes += chunk.length;
  };
  const frame = (value: unknown): void => {
    const body = encoder.encode(value);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length, 0);
    put(head);
    put(body);
  };
  try {
    put(MAGIC);
    frame({ v: 1, nodeId, savedAt: Date.now(), units });
    let after: string | null = null;
    for (;;) {
      const page = engine.page(after, PAGE_ITEMS, Number.MAX_SAFE_INTEGER, () => true);
      if (page.items.length > 0) {
        frame(page.items.map((it) => [Buffer.from(it.key, 'latin1'), it.value, it.flags, it.expAt]));
        items += page.items.length;
      }
      if (page.next === null) break;
      after = page.next;
    }
    frame({ end: true, items });
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(temp, path);
  syncDirSync(dir);
  return { items, units: units.length, bytes, ms: performance.now() - t0 };
}

export interface LoadedSnapshot extends SnapshotFigures {
  marks: UnitMark[];
}

/** Why a snapshot file was not used (for the node's log line). */
export class SnapshotError extends Error {}

/**
 * Read the snapshot of `nodeId` in `dir`, delete the file, and put its items into
 * `engine`. Null when there is none. Nothing is put into the engine unless the whole
 * file checks out.
 * @throws SnapshotError when a file is there but unusable (it is deleted all the same)
 */
export function loadSnapshot(dir: string, nodeId: string, engine: KvEngine): LoadedSnapshot | null {
  const t0 = performance.now();
  const path = join(dir, SNAPSHOT_FILE);
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SnapshotError(`cannot read ${path}: ${(err as Error).message}`);
  } finally {
    // Read once: a later crash must not bring back data older than what the node served since.
    rmSync(path, { force: true });
  }
  const { marks, pages, items } = parseSnapshot(data, nodeId);
  for (const page of pages) {
    for (const [key, value, flags, expAt] of page) engine.set(Buffer.from(key).toString('latin1'), value, flags, expAt);
  }
  return { items, units: marks.length, marks, bytes: data.length, ms: performance.now() - t0 };
}

type ItemRow = [Uint8Array, Uint8Array, number, number];

/** Check a whole snapshot file. @throws SnapshotError */
export function parseSnapshot(data: Uint8Array, nodeId: string): { marks: UnitMark[]; pages: ItemRow[][]; items: number } {
  if (data.length < MAGIC.length || !Buffer.from(data.subarray(0, MAGIC.length)).equals(MAGIC)) throw new SnapshotError('not a snapshot file (bad magic)');
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let at = MAGIC.length;
  const next = (): unknown => {
    if (at + 4 > view.length) throw new SnapshotError('cut short (no trailer)');
    const length = view.readUInt32BE(at);
    if (length === 0 || length > MAX_FRAME_BYTES) throw new SnapshotError(`bad frame length ${length}`);
    if (at + 4 + length > view.length) throw new SnapshotError('cut short inside a frame');
    let value: unknown;
    try {
      value = decoder.decode(view.subarray(at + 4, at + 4 + length));
    } catch (err) {
      throw new SnapshotError(`malformed CBOR: ${(err as Error).message}`);
    }
    at += 4 + length;
    return value;
  };
  const header = next() as { v?: unknown; nodeId?: unknown; units?: unknown };
  if (header === null || typeof header !== 'object' || header.v !== 1) throw new SnapshotError('unknown header or version');
  if (header.nodeId !== nodeId) throw new SnapshotError(`written by node ${String(header.nodeId)}, not this one (${nodeId})`);
  if (!Array.isArray(header.units)) throw new SnapshotError('header without units');
  const marks: UnitMark[] = [];
  for (const m of header.units as unknown[]) {
    if (!Array.isArray(m) || m.length !== 3 || !isUint(m[0]) || !isUint(m[1]) || (m[2] !== null && typeof m[2] !== 'string')) throw new SnapshotError('bad unit mark');
    marks.push([m[0], m[1], m[2]]);
  }
  const pages: ItemRow[][] = [];
  let items = 0;
  for (;;) {
    const f = next();
    if (Array.isArray(f)) {
      for (const row of f as unknown[]) {
        if (!Array.isArray(row) || row.length !== 4 || !(row[0] instanceof Uint8Array) || row[0].length === 0 || !(row[1] instanceof Uint8Array) || !isUint(row[2]) || !isUint(row[3])) throw new SnapshotError('bad item row');
      }
      pages.push(f as ItemRow[]);
      items += f.length;
      continue;
    }
    const trailer = f as { end?: unknown; items?: unknown };
    if (trailer === null || typeof trailer !== 'object' || trailer.end !== true || trailer.items !== items) throw new SnapshotError('bad trailer');
    if (at !== view.length) throw new SnapshotError('bytes after the trailer');
    return { marks, pages, items };
  }
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function syncDirSync(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}
