import { inspect } from 'node:util';
import { suite as uvuSuite, type Callback, type Test } from 'uvu';

/** Wall time of every test body run so far, ms, by `suite › test`: the runner names the slowest. */
export const testTimes = new Map<string, number>();

/**
 * uvu's `suite`, with every test body's non-assertion error turned into a plain Error
 * that names its code and details. uvu formats a failure's `details` as a string: a
 * KvError (whose `details` is an object) made its formatter throw, which dropped the
 * failure's message and skipped the rest of the suite.
 */
export function suite<T = Record<string, never>>(name: string, state?: T): Test<T> {
  const test = uvuSuite<T>(name, state);
  const wrap = (register: (name: string, fn: Callback<T>) => void) =>
    (title: string, fn: Callback<T>): void => register(title, async (ctx) => {
      const started = performance.now();
      try {
        await fn(ctx);
      } catch (err) {
        throw plain(err);
      } finally {
        testTimes.set(`${name} › ${title}`, performance.now() - started);
      }
    });
  const wrapped = wrap((title, fn) => test(title, fn)) as unknown as Test<T>;
  wrapped.only = wrap((title, fn) => test.only(title, fn));
  wrapped.skip = test.skip;
  wrapped.before = test.before;
  wrapped.after = test.after;
  wrapped.run = test.run;
  return wrapped;
}

function plain(err: unknown): unknown {
  if (!(err instanceof Error) || err.name.startsWith('Assertion')) return err;
  const { details, code } = err as Error & { details?: unknown; code?: unknown };
  if (details === undefined || typeof details === 'string') return err;
  const out = new Error(`${code === undefined ? '' : `${String(code)}: `}${err.message} ${inspect(details, { depth: 4, breakLength: Infinity })}`);
  out.stack = `${out.message}\n${(err.stack ?? '').split('\n').slice(1).join('\n')}`;
  return out;
}
