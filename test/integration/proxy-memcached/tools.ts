import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The tools of Debian's libmemcached-tools. Debian 12 renames them with a `memc` prefix
 * (memccp, memccat, …); other builds keep libmemcached's own `mem` names.
 */
export const TOOLS = {
  cp: ['memccp', 'memcp'],
  cat: ['memccat', 'memcat'],
  slap: ['memcslap', 'memslap'],
  stat: ['memcstat', 'memstat'],
  rm: ['memcrm', 'memrm'],
  capable: ['memccapable', 'memcapable'],
  flush: ['memcflush', 'memflush'],
  dump: ['memcdump', 'memdump'],
} as const;

export type Tool = keyof typeof TOOLS;

/** The installed name of a tool, or null. */
export function findTool(tool: Tool): string | null {
  for (const name of TOOLS[tool]) {
    const r = spawnSync(name, ['-h'], { timeout: 5000, stdio: 'ignore' });
    if (r.error === undefined) return name;
  }
  return null;
}

/** Every tool's installed name; throws the install command when one is missing. */
export function requireTools(): Record<Tool, string> {
  const found = {} as Record<Tool, string>;
  const missing: string[] = [];
  for (const tool of Object.keys(TOOLS) as Tool[]) {
    const name = findTool(tool);
    if (name === null) missing.push(TOOLS[tool].join(' or '));
    else found[tool] = name;
  }
  if (missing.length > 0) {
    throw new Error(`libmemcached-tools is not installed (missing ${missing.join(', ')}); install it with: apt-get update && apt-get install -y libmemcached-tools`);
  }
  return found;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a program under a deadline (the child is killed when it passes). */
export function run(bin: string, args: string[], cwd: string, timeoutMs = 30_000): Promise<Run> {
  return new Promise<Run>((resolve) => {
    execFile(bin, args, { cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'latin1' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr: err !== null && err.killed ? `${stderr}\n(killed after ${timeoutMs} ms)` : stderr });
    });
  });
}

export async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-memcached-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
