import { open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let sequence = 0;

/** Prefix of the temp files written next to `path`. */
export function tempPrefix(path: string): string {
  return `.${basename(path)}.tmp-`;
}

/**
 * Replace `path` with `data` so that a crash at any moment leaves either the old or the
 * new content, never a mix: write a temp file in the same directory, fsync it, rename it
 * over `path` (atomic within one file system), then fsync the directory so the rename
 * itself is durable. Without `isFsyncEnabled` the replacement is still atomic for other
 * processes but may be lost, or leave an empty file, on power loss.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, isFsyncEnabled: boolean): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `${tempPrefix(path)}${process.pid}-${sequence++}`);
  const file = await open(temp, 'w', 0o600);
  try {
    await file.writeFile(data);
    if (isFsyncEnabled) await file.sync();
  } catch (err) {
    await file.close();
    await unlink(temp).catch(ignore);
    throw err;
  }
  await file.close();
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(ignore);
    throw err;
  }
  if (isFsyncEnabled) await syncDir(dir);
}

/** fsync a directory, so entries created or renamed in it survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Remove temp files that a writer killed mid-write left next to `path`. */
export async function removeStaleTemps(path: string): Promise<number> {
  const prefix = tempPrefix(path);
  const names = (await readdir(dirname(path))).filter((n) => n.startsWith(prefix));
  await Promise.all(names.map((n) => unlink(join(dirname(path), n)).catch(ignore)));
  return names.length;
}

function ignore(): void {
  // Best effort: the temp file may already be gone.
}
