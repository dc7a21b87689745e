import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { open } from 'lmdb';

/**
 * The disk's own price of a durable write, measured on the bench's filesystem in the
 * same run as the throughput figures, so a ratio against Redis can be read against what
 * each design must pay per round:
 * - an AOF round (Redis `appendfsync always`): append one batch, one `fdatasync`;
 * - an lmdb commit (the disk engine): new pages, `fdatasync`, the meta page, `fdatasync`
 *   again, here for a transaction of a single put, lmdb's least.
 */
export interface DiskFloor {
  /** Median µs of an 8 KiB append followed by fdatasync. */
  appendSyncUs: number;
  /** Median µs of an lmdb transaction of one put (`transactionSync`, syncs on). */
  lmdbCommitUs: number;
}

const ROUNDS = 200;
const APPEND_BYTES = 8192;

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Time both floors in `dir` (created and removed here). */
export async function measureDiskFloor(dir: string, rounds = ROUNDS): Promise<DiskFloor> {
  await mkdir(dir, { recursive: true });
  try {
    const block = Buffer.alloc(APPEND_BYTES, 0x61);
    const fd = openSync(join(dir, 'append.log'), 'a');
    const append: number[] = [];
    try {
      for (let i = 0; i < rounds; i++) {
        const t0 = performance.now();
        writeSync(fd, block);
        fdatasyncSync(fd);
        append.push((performance.now() - t0) * 1000);
      }
    } finally {
      closeSync(fd);
    }
    const root = open<Buffer, Buffer>({ path: join(dir, 'lmdb'), encoding: 'binary', keyEncoding: 'binary', overlappingSync: false, eventTurnBatching: false });
    const commit: number[] = [];
    try {
      const value = Buffer.alloc(112, 0x62);
      for (let i = 0; i < rounds; i++) {
        const key = Buffer.from(`k:${i}`);
        const t0 = performance.now();
        root.transactionSync(() => root.putSync(key, value));
        commit.push((performance.now() - t0) * 1000);
      }
    } finally {
      await root.close();
    }
    return { appendSyncUs: median(append), lmdbCommitUs: median(commit) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
