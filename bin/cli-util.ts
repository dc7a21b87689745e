import { loadCredentials, type Credentials } from '../shared/auth/index.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LOG_FORMATS, isLogFormat, type LogFormat } from '../shared/event-format.js';

/** A command-line usage error: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** `util.parseArgs` with strict checking, turning its errors into `UsageError`. */
export function parseCommandLine(argv: string[], options: Options): { values: Record<string, string | boolean | string[] | boolean[] | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    return { values: values as Record<string, string | boolean | string[] | boolean[] | undefined>, positionals };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message.split('\n')[0]! : String(err));
  }
}

/** Parse a numeric switch; `undefined` when absent. */
export function numberArg(values: Record<string, unknown>, name: string, check: (n: number) => boolean = Number.isFinite): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  const n = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text, 16) : Number(text);
  if (text === '' || !check(n)) throw new UsageError(`--${name}: invalid value "${text}"`);
  return n;
}

/** Parse a number that may be written as a power of two: `16777216`, `2^24`. */
export function powerArg(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  const m = /^2\^(\d+)$/.exec(text);
  const n = m ? 2 ** Number(m[1]) : Number(text);
  if (text === '' || !Number.isFinite(n)) throw new UsageError(`--${name}: invalid value "${text}"`);
  return n;
}

/** Run a CLI command: usage errors exit 2 with one line, other failures exit 1. */
export async function runCommand(name: string, fn: () => Promise<number | void>): Promise<void> {
  try {
    const code = await fn();
    if (typeof code === 'number') process.exitCode = code;
  } catch (err) {
    if (err instanceof UsageError || err instanceof RangeError) {
      process.stderr.write(`pandakv ${name}: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`pandakv ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  }
}

/** Resolve on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** Load `--credentials FILE` (mode 0600). @throws UsageError naming the file and what is wrong, never its content */
export function loadCredentialsArg(path: string): Credentials {
  try {
    return loadCredentials(path);
  } catch (err) {
    throw new UsageError(`--credentials: ${(err as Error).message}`);
  }
}

/** Parse `--log-format text|json`; `undefined` when absent. @throws UsageError naming the values allowed */
export function logFormatArg(values: Record<string, unknown>): LogFormat | undefined {
  const raw = values['log-format'];
  if (raw === undefined) return undefined;
  const text = String(raw);
  if (!isLogFormat(text)) throw new UsageError(`--log-format must be ${LOG_FORMATS.join(' or ')}, got ${JSON.stringify(text.slice(0, 40))}`);
  return text;
}
