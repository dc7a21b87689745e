import { ErrorCode, KvError } from './errors.js';

/**
 * Pass an operation's failure on to its caller, a timeout made anew: the lane's sweep
 * finds a deadline passed on a timer, where the stack names nobody. Thrown from the
 * rejection handler of the promise the caller awaits, the new error gets V8's async
 * stack trace (`at async <caller>`) and so names the caller.
 *
 * Why not capture the stack when the operation starts: on this box an
 * `Error.captureStackTrace` from the client's optimized hot path costs 5–10 µs, as much
 * as the whole operation; this costs one promise reaction per call and a stack only
 * when a timeout happens.
 */
export function rethrowAtCaller(err: unknown): never {
  if (err instanceof KvError && err.code === ErrorCode.TIMEOUT) throw new KvError(err.code, err.message, err.details, err.cause);
  throw err;
}
