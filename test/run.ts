/**
 * Test entry point for `npm test`: loads every compiled `*.test.js` under dist/test
 * into one process (uvu's deferred mode), runs them, and prints a final
 * `N passed, N failed` line. A suite whose hook throws counts as failed, and any
 * failure makes the exit code non-zero.
 *
 * Usage: node dist/test/run.js [substring-filter ...]
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type SuiteResult = [errors: string | true, ran: number, skipped: number, total: number];
type QueuedRun = () => Promise<SuiteResult>;
type QueueGroup = [string | null, ...QueuedRun[]];

interface UvuGlobals {
  UVU_DEFER?: number;
  UVU_INDEX?: number;
  UVU_QUEUE?: QueueGroup[];
}

const here = dirname(fileURLToPath(import.meta.url));

function findTests(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  // Filters match the path under dist/test (not the checkout's own path, which may contain any of them).
  const files = findTests(here).filter((f) => filters.length === 0 || filters.some((p) => relative(here, f).includes(p)));
  const g = globalThis as unknown as UvuGlobals;
  g.UVU_DEFER = 1;
  g.UVU_QUEUE = g.UVU_QUEUE ?? [];
  const uvu = await import('uvu');
  // After UVU_DEFER: the helper imports uvu, which would otherwise run each suite as it is defined.
  const { testTimes } = await import('./helpers/suite.js');

  let index = 0;
  for (const file of files) {
    g.UVU_INDEX = index++;
    g.UVU_QUEUE.push([relative(here, file)]);
    await import(pathToFileURL(file).href);
  }

  let passed = 0;
  let failed = 0;
  let crashed = 0;
  // Wall time per test file, so the files that set the suite's length are named in every run.
  const spentMs = new Map<string, number>();
  for (const group of g.UVU_QUEUE) {
    const file = group[0] ?? '?';
    for (let i = 1; i < group.length; i++) {
      const run = group[i] as QueuedRun;
      group[i] = async (): Promise<SuiteResult> => {
        const started = performance.now();
        try {
          const result = await run();
          passed += result[1];
          failed += result[3] - result[1];
          return result;
        } catch (err) {
          // uvu lets an exception from a before/after hook escape the suite runner.
          crashed++;
          failed++;
          const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
          process.stdout.write(`\n  suite hook failed in ${group[0] ?? '?'}: ${text}\n`);
          return [`hook failed: ${text}`, 0, 0, 1];
        } finally {
          spentMs.set(file, (spentMs.get(file) ?? 0) + performance.now() - started);
        }
      };
    }
  }

  const onUnhandled = (err: unknown): void => {
    failed++;
    process.exitCode = 1;
    process.stdout.write(`\n  unhandled rejection: ${err instanceof Error ? err.stack : String(err)}\n`);
  };
  process.on('unhandledRejection', onUnhandled);

  await uvu.exec(false);
  if (crashed > 0 || failed > 0) process.exitCode = 1;
  process.stdout.write(slowestLine('test files', spentMs, SLOWEST_SHOWN));
  process.stdout.write(slowestLine('tests', testTimes, SLOWEST_SHOWN));
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  // Test fixtures close what they open; if a stray handle remains, do not hang CI.
  setTimeout(() => process.exit(), 2000).unref();
}

/** How many of the slowest test files the runner names before its final line. */
const SLOWEST_SHOWN = 15;

/** `slowest <what> (53% of 946 s): a.test.js 95.1 s, …` for the `count` that took longest, and their share of the whole. */
function slowestLine(what: string, spentMs: ReadonlyMap<string, number>, count: number): string {
  const all = [...spentMs].sort((a, b) => b[1] - a[1]);
  if (all.length === 0) return '';
  const totalMs = all.reduce((sum, [, ms]) => sum + ms, 0);
  const top = all.slice(0, count);
  const topMs = top.reduce((sum, [, ms]) => sum + ms, 0);
  const list = top.map(([file, ms]) => `${file} ${(ms / 1000).toFixed(1)} s`).join(', ');
  return `\nslowest ${what} (${Math.round((100 * topMs) / Math.max(totalMs, 1))}% of ${(totalMs / 1000).toFixed(0)} s): ${list}\n`;
}

main().catch((err: unknown) => {
  process.stdout.write(`test runner crashed: ${err instanceof Error ? err.stack : String(err)}\n0 passed, 1 failed\n`);
  process.exit(1);
});
