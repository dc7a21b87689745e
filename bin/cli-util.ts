import { loadCredentials, type Credentials } from '../shared/auth/index.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import { describeConnectError } from '../shared/connect-error.js';
import { LOG_FORMATS, isLogFormat, type LogFormat } from '../shared/event-format.js';
import type { ConnLimits } from '../shared/conn-limits.js';
import type { TlsServerConfig } from '../shared/tls.js';
import { Shutdown, StoppedError } from './shutdown.js';
import { ErrorCode, KvError } from '../shared/errors.js';

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
    throw new UsageError(usageMessage(err, argv));
  }
}

/**
 * `parseArgs`'s complaint in the project's words, one line: which switch and what is
 * wrong with it, never Node's advice about `--` and positionals.
 */
export function usageMessage(err: unknown, argv: readonly string[]): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown }).code;
  const named = /'(-{1,2}[^' =]*)/.exec(message)?.[1] ?? '';
  const flag = named === '' ? 'a switch' : named;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || message.startsWith('Unknown option')) {
    return `unknown switch ${printable(flag)}`;
  }
  if (/argument is ambiguous/.test(message)) {
    const at = argv.indexOf(named);
    const value = at >= 0 ? argv[at + 1] : undefined;
    return value === undefined
      ? `${flag} needs a value`
      : `${flag} needs a value; to give one that starts with "-", write ${flag}=${printable(value)}`;
  }
  if (/argument missing/.test(message)) return `${flag} needs a value`;
  if (/does not take an argument/.test(message)) return `${flag} takes no value`;
  return message.split('\n')[0]!.replace(/\. To specify .*$/, '');
}

/** `text` shortened and with control characters escaped, fit for one line of output. */
function printable(text: string): string {
  const clipped = text.length > 60 ? `${text.slice(0, 60)}…` : text;
  return JSON.stringify(clipped).slice(1, -1);
}

/** The version of the package, from its package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
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
    process.exitCode = reportFailure(name, err);
  }
}

/**
 * Run a long-running command (node, manager, proxy, dht, up) under `Shutdown`: SIGINT and
 * SIGTERM are obeyed in every state, start-up included. When the command returns or
 * fails the process exits with its code at once, whatever it still had open.
 */
export async function runDaemon(name: string, fn: (shutdown: Shutdown) => Promise<number | void>): Promise<void> {
  const shutdown = new Shutdown(name);
  let code: number;
  try {
    const r = await fn(shutdown);
    code = typeof r === 'number' ? r : 0;
  } catch (err) {
    code = reportFailure(name, err);
  }
  shutdown.dispose();
  process.exit(code);
}

/** One line on stderr for a failed command; its exit code (2 for usage, 0 when stopped by a signal, else 1). */
function reportFailure(name: string, err: unknown): number {
  if (err instanceof StoppedError) {
    process.stderr.write(`pandakv ${name}: ${err.message}\n`);
    return 0;
  }
  if (isUsageProblem(err)) {
    process.stderr.write(`pandakv ${name}: ${err.message}\n`);
    return 2;
  }
  // Installed for the SDK only (npm install --omit=optional): the servers' packages are missing.
  const missing = /Cannot find (?:package|module) '([^']+)'/.exec(err instanceof Error ? err.message : '');
  if ((err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && missing !== null && !missing[1]!.startsWith('/') && !missing[1]!.startsWith('.')) {
    process.stderr.write(`pandakv ${name}: the package "${missing[1]}" is not installed: the servers need pandakv's optional dependencies (install without --omit=optional)\n`);
    return 1;
  }
  // The address or port to listen on, as given by a switch, cannot be used here.
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e.syscall === 'listen' && (e.code === 'EADDRNOTAVAIL' || e.code === 'EADDRINUSE' || e.code === 'EACCES')) {
    const what = e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EACCES' ? 'permission denied (a port below 1024?)' : 'the address is not one of this machine\'s';
    process.stderr.write(`pandakv ${name}: cannot listen on ${e.address ?? 'the given address'}${e.port === undefined ? '' : `:${e.port}`}: ${what} (check --ip and --port)\n`);
    return 2;
  }
  process.stderr.write(`pandakv ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
}

/**
 * A failure that names a switch or option value to fix: a `UsageError`, a library's
 * INVALID_ARGUMENT (options checked by a constructor), or a RangeError of one that
 * still throws those.
 */
export function isUsageProblem(err: unknown): err is Error {
  return err instanceof UsageError || err instanceof RangeError || (err instanceof KvError && err.code === ErrorCode.INVALID_ARGUMENT);
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

/** The connection-limit switches every listening command takes (docs/operations.md). */
export const CONN_LIMIT_SWITCHES = {
  'pre-auth-timeout-ms': { type: 'string' },
  'idle-timeout-ms': { type: 'string' },
  'read-timeout-ms': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-connections-per-address': { type: 'string' },
} as const;

/** Usage lines of `CONN_LIMIT_SWITCHES`, with the command's own global cap default. */
export function connLimitUsage(maxConnections: number): string {
  return `  --pre-auth-timeout-ms MS  close a connection not authenticated this long after accept (default 10000)
  --idle-timeout-ms MS      close a connection silent this long; 0 = never (default 300000)
  --read-timeout-ms MS      a line, frame or request head must complete within this (default 10000)
  --max-connections N       connections open at once; a new one replaces the oldest
                            unauthenticated one, else is refused (default ${maxConnections})
  --max-connections-per-address N
                            the same, per client address (default 1024)
`;
}

/** Parse `CONN_LIMIT_SWITCHES`; absent switches are absent from the result. @throws UsageError */
export function connLimitArgs(values: Record<string, unknown>): Partial<ConnLimits & { maxConnections: number }> {
  const out: Partial<ConnLimits & { maxConnections: number }> = {};
  const ms = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
  const count = (n: number): boolean => Number.isSafeInteger(n) && n >= 1;
  const preAuth = numberArg(values, 'pre-auth-timeout-ms', ms);
  if (preAuth !== undefined) out.preAuthTimeoutMs = preAuth;
  const idle = numberArg(values, 'idle-timeout-ms', ms);
  if (idle !== undefined) out.idleTimeoutMs = idle;
  const read = numberArg(values, 'read-timeout-ms', ms);
  if (read !== undefined) out.readTimeoutMs = read;
  const max = numberArg(values, 'max-connections', count);
  if (max !== undefined) out.maxConnections = max;
  const perAddress = numberArg(values, 'max-connections-per-address', count);
  if (perAddress !== undefined) out.maxConnectionsPerAddress = perAddress;
  return out;
}

/**
 * Check a manager address switch (`--manager`, `--map`): one URL or a comma-separated
 * list, each `http(s)://` or `ws(s)://` with a host. Returns the list joined by commas.
 * @throws UsageError naming the switch and the first unusable entry, and why
 */
export function managerUrlArg(text: string, name: string): string {
  const parts = text.split(',').map((s) => s.trim());
  for (const part of parts) {
    if (part === '') throw new UsageError(`--${name}: empty address in "${text}"`);
    let url: URL;
    try {
      url = new URL(part);
    } catch {
      throw new UsageError(`--${name}: "${part}" is not a URL (expected http://host:port or ws://host:port)`);
    }
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) {
      throw new UsageError(`--${name}: "${part}" must be http://, https://, ws:// or wss://, not ${url.protocol}//`);
    }
    if (url.hostname === '') throw new UsageError(`--${name}: "${part}" has no host`);
  }
  return parts.join(',');
}

/**
 * Make sure `--ip` names an address this machine can resolve (an IP, or a host name that
 * resolves), before anything starts. @throws UsageError naming the switch and why
 */
export async function checkListenIp(ip: string | null | undefined, name = 'ip'): Promise<void> {
  if (ip === undefined || ip === null || isIP(ip) !== 0) return;
  if (ip === '' || ip.length > 253 || !/^[A-Za-z0-9.-]+$/.test(ip)) throw new UsageError(`--${name}: "${printable(ip)}" is not an IP address or host name`);
  try {
    await lookup(ip);
  } catch (err) {
    throw new UsageError(`--${name}: cannot resolve "${ip}": ${describeConnectError(err)}`);
  }
}

/** `--tls-cert`, `--tls-key` (serve TLS) and `--tls-ca` (trust for outgoing TLS links). */
export const TLS_SWITCHES = {
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
} as const;

/** Usage lines of `TLS_SWITCHES`; `links` names what `--tls-ca` is trusted for. */
export function tlsUsage(listeners: string, links: string): string {
  return `  --tls-cert FILE      certificate chain (PEM) of ${listeners}: TLS only, wss:// and https://
  --tls-key FILE       its private key (PEM); needs --tls-cert
  --tls-ca FILE        authorities (PEM) trusted for ${links} over TLS (default: the system's)
`;
}

/** Parse `TLS_SWITCHES`, reading the files; absent switches are absent. @throws UsageError */
export function tlsArgs(values: Record<string, unknown>): { tls?: TlsServerConfig; tlsCa?: string } {
  const out: { tls?: TlsServerConfig; tlsCa?: string } = {};
  const cert = values['tls-cert'];
  const key = values['tls-key'];
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together: give both');
  if (cert !== undefined && key !== undefined) {
    out.tls = { cert: readPem(String(cert), 'tls-cert', 'CERTIFICATE'), key: readPem(String(key), 'tls-key', 'PRIVATE KEY') };
  }
  if (values['tls-ca'] !== undefined) out.tlsCa = readPem(String(values['tls-ca']), 'tls-ca', 'CERTIFICATE');
  return out;
}

function readPem(path: string, name: string, kind: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--${name}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!text.includes(`-----BEGIN `) || !text.includes(kind)) throw new UsageError(`--${name}: ${path} holds no PEM ${kind.toLowerCase()}`);
  return text;
}
