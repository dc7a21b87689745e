import { mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** A directory that cannot be used: the path, and why (one line). */
export class DirError extends Error {
  override readonly name = 'DirError';
  constructor(readonly path: string, readonly reason: string, options?: { cause?: unknown }) {
    super(`cannot use directory ${path}: ${reason}`, options);
  }
}

type Kind = 'dir' | 'other' | 'missing';

/**
 * `mkdir -p`, one level at a time, failing at once with the reason. Node's own
 * `mkdir(path, { recursive: true })` never returns for a path under a directory that
 * refuses new entries with ENOENT (such as `/proc`): it retries for ever — in the thread
 * pool, or on the main thread for `mkdirSync`, where not even a signal handler runs.
 * @throws DirError naming the path and the reason (ENOENT, EACCES, ENOTDIR, EROFS, ...)
 */
export async function ensureDir(path: string): Promise<void> {
  const abs = resolve(path);
  const missing: string[] = [];
  for (let p = abs; ; p = dirname(p)) {
    const kind = await stat(p).then(kindOf, (err: NodeJS.ErrnoException) => missingOr(abs, err));
    if (!needsParent(abs, p, kind, missing)) break;
  }
  for (const p of missing.reverse()) {
    try {
      await mkdir(p);
    } catch (err) {
      const isDir = await stat(p).then((s) => s.isDirectory(), () => false);
      if (!isCreatedMeanwhile(err, isDir)) throw new DirError(abs, `cannot create ${p}: ${describe(err as NodeJS.ErrnoException)}`, { cause: err });
    }
  }
}

/** `ensureDir` for code that must stay synchronous (a constructor). @throws DirError */
export function ensureDirSync(path: string): void {
  const abs = resolve(path);
  const missing: string[] = [];
  for (let p = abs; ; p = dirname(p)) {
    let kind: Kind;
    try {
      kind = kindOf(statSync(p));
    } catch (err) {
      kind = missingOr(abs, err as NodeJS.ErrnoException);
    }
    if (!needsParent(abs, p, kind, missing)) break;
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p);
    } catch (err) {
      let isDir = false;
      try {
        isDir = statSync(p).isDirectory();
      } catch { /* not there */ }
      if (!isCreatedMeanwhile(err, isDir)) throw new DirError(abs, `cannot create ${p}: ${describe(err as NodeJS.ErrnoException)}`, { cause: err });
    }
  }
}

function kindOf(s: { isDirectory(): boolean }): Kind {
  return s.isDirectory() ? 'dir' : 'other';
}

function missingOr(abs: string, err: NodeJS.ErrnoException): Kind {
  if (err.code === 'ENOENT') return 'missing';
  throw new DirError(abs, describe(err), { cause: err });
}

/** Record `p` as missing; true while its parent must be looked at too. */
function needsParent(abs: string, p: string, kind: Kind, missing: string[]): boolean {
  if (kind === 'other') throw new DirError(abs, `${p} is not a directory`);
  if (kind === 'dir') return false;
  missing.push(p);
  return dirname(p) !== p;
}

// Created by someone else between our stat and mkdir: fine if it is a directory.
function isCreatedMeanwhile(err: unknown, isDir: boolean): boolean {
  return (err as NodeJS.ErrnoException).code === 'EEXIST' && isDir;
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
