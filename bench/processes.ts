import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Time a child gets to exit after SIGTERM before it is sent SIGKILL, ms. */
export const STOP_GRACE_MS = 3000;

/** Every child still running, so that an abrupt exit of the bench still kills them. */
const live = new Set<ChildProcess>();

function killLiveChildren(): void {
  for (const child of live) if (child.pid !== undefined) tryKill(child.pid, 'SIGKILL');
}
process.on('exit', killLiveChildren);

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** Absolute path of a compiled module next to this one, e.g. `distPath('../bin/pandakv.js')`. */
export function distPath(relative: string): string {
  return fileURLToPath(new URL(relative, import.meta.url));
}

/** A spawned child process. */
export interface ChildHandle {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** SIGTERM by pid, SIGKILL after `STOP_GRACE_MS`; resolves once it exited. Idempotent. */
  stop(): Promise<void>;
  /** The last few KiB the child wrote to stderr (when piped). */
  stderrTail(): string;
}

export interface SpawnOptions {
  /** Name in error messages. */
  name: string;
  /** Arguments of `node` (the script first), or of `command` when given. */
  args: string[];
  /** Program to run instead of `node` (a peer server of `bench peers`). @default process.execPath */
  command?: string;
  /** Pass stderr through to ours (progress display) instead of keeping its tail. @default false */
  isStderrInherited?: boolean;
}

const TAIL_BYTES = 4096;

/** Start `node ...args` (or `command ...args`) with piped stdout. */
export function spawnNode(opts: SpawnOptions): ChildHandle {
  const child = spawn(opts.command ?? process.execPath, opts.args, {
    stdio: ['pipe', 'pipe', opts.isStderrInherited === true ? 'inherit' : 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${opts.name}: could not start ${opts.args[0] ?? 'node'}`);
  const pid = child.pid;
  live.add(child);
  let tail = '';
  const onStderr = (chunk: string): void => {
    tail = (tail + chunk).slice(-TAIL_BYTES);
  };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', onStderr);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    });
    child.once('error', () => {
      live.delete(child);
      resolve(null);
    });
  });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async (): Promise<void> => {
      if (!live.has(child)) return;
      tryKill(pid, 'SIGTERM');
      if (await within(exited, STOP_GRACE_MS)) return;
      tryKill(pid, 'SIGKILL');
      await within(exited, STOP_GRACE_MS);
    })();
    return stopping;
  };
  return { name: opts.name, pid, child, exited, stop, stderrTail: () => tail.trim() };
}

/** Whether `p` settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function childFailure(handle: ChildHandle, what: string): Error {
  const tail = handle.stderrTail();
  return new Error(`${handle.name} (pid ${handle.pid}) ${what}${tail === '' ? '' : `:\n${tail}`}`);
}

/**
 * Read the child's stdout line by line until one matches `pattern`; resolves with the
 * match. Rejects when the child exits first or the deadline passes. Later output is drained.
 */
export function waitForLine(handle: ChildHandle, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const { child } = handle;
  const stdout = child.stdout;
  if (stdout === null) return Promise.reject(new Error(`${handle.name}: stdout is not piped`));
  stdout.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let buffered = '';
    const finish = (err: Error | null, match?: RegExpExecArray): void => {
      clearTimeout(timer);
      stdout.off('data', onData);
      child.off('exit', onExit);
      stdout.resume();
      if (err !== null) reject(err);
      else resolve(match!);
    };
    const onData = (chunk: string): void => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        const m = pattern.exec(line);
        if (m !== null) return finish(null, m);
      }
    };
    const onExit = (): void => finish(childFailure(handle, 'exited before it was ready'));
    const timer = setTimeout(() => finish(childFailure(handle, `did not print ${pattern} within ${timeoutMs} ms`)), timeoutMs);
    stdout.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Start a long-running child and wait for its ready line. */
export async function startReady(opts: SpawnOptions & { pattern: RegExp; timeoutMs: number }): Promise<{ handle: ChildHandle; match: RegExpExecArray }> {
  const handle = spawnNode(opts);
  try {
    const match = await waitForLine(handle, opts.pattern, opts.timeoutMs);
    return { handle, match };
  } catch (err) {
    await handle.stop();
    throw err;
  }
}

/**
 * Run a child to completion and return everything it wrote to stdout. The child is
 * killed when the deadline passes; a non-zero exit is an error.
 */
export async function runToEnd(opts: SpawnOptions & { timeoutMs: number }): Promise<string> {
  const handle = spawnNode(opts);
  let out = '';
  const onData = (chunk: string): void => {
    out += chunk;
  };
  handle.child.stdout?.setEncoding('utf8');
  handle.child.stdout?.on('data', onData);
  try {
    if (!(await within(handle.exited, opts.timeoutMs))) throw childFailure(handle, `did not finish within ${opts.timeoutMs} ms`);
    const code = await handle.exited;
    if (code !== 0) throw childFailure(handle, `exited with code ${String(code)}`);
    return out;
  } finally {
    await handle.stop();
  }
}
