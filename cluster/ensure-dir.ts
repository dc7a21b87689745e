import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** A directory that cannot be used: the path, and why (one line). */
export class DirError extends Error {
  override readonly name = 'DirError';
  constructor(readonly path: string, readonly reason: string, options?: { cause?: unknown }) {
    super(`cannot use directory ${path}: ${reason}`, options);
  }
}

/**
 * `mkdir -p`, one level at a time, failing at once with the reason. Node's own
 * `mkdir(path, { recursive: true })` never returns for a path under a directory that
 * refuses new entries with ENOENT (such as `/proc`): it retries for ever in the thread
 * pool, and the process spins without answering signals' graceful path.
 * @throws DirError naming the path and the reason (ENOENT, EACCES, ENOTDIR, EROFS, ...)
 */
export async function ensureDir(path: string): Promise<void> {
  const abs = resolve(path);
  const missing: string[] = [];
  for (let p = abs; ; p = dirname(p)) {
    const kind = await stat(p).then((s) => (s.isDirectory() ? 'dir' : 'other'), (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return 'missing';
      throw new DirError(abs, describe(err), { cause: err });
    });
    if (kind === 'other') throw new DirError(abs, `${p} is not a directory`);
    if (kind === 'dir') break;
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    try {
      await mkdir(p);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Created meanwhile by someone else: fine if it is a directory.
      if (e.code === 'EEXIST' && (await stat(p).then((s) => s.isDirectory(), () => false))) continue;
      throw new DirError(abs, `cannot create ${p}: ${describe(e)}`, { cause: err });
    }
  }
}

function describe(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT': return 'no such file or directory (ENOENT)';
    case 'EACCES': return 'permission denied (EACCES)';
    case 'EPERM': return 'operation not permitted (EPERM)';
    case 'EROFS': return 'read-only file system (EROFS)';
    case 'ENOTDIR': return 'a component is not a directory (ENOTDIR)';
    case 'ENOSPC': return 'no space left on device (ENOSPC)';
    default: return err.code ?? err.message;
  }
}
