import { ErrorCode, KvError } from '../../shared/errors.js';
import { parseCommandLine, UsageError } from '../cli-util.js';
import { existsSync } from 'node:fs';
import { ROLES, isRole, writeCredentials, type Role } from '../../shared/auth/index.js';
import { openCfg, parseCfgUrl, type CfgUrl } from '../../cluster/manager/cfg/open-cfg.js';
import { UserStore } from '../../cluster/manager/users.js';

export const USER_USAGE = `Usage: pandakv user <add|list|remove> [NAME] --cfg URL [switches]

Manage principals in the cluster's config store.

  add NAME --roles read,write,scan,monitor,admin (any of them) [--password] [--out FILE]
      create a principal; a key principal's credentials (with its secret key) are
      written to FILE (default ./NAME.credentials.json) with mode 0600. --password reads
      the password from $PANDAKV_PASSWORD (never from the command line).
  list                    names, roles and kind (key or password)
  remove NAME             delete a principal

  --cfg URL               file:PATH or etcd://HOST:PORT (default file:./data/cfg.json)
`;

/** `pandakv user …` */
export async function userMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    cfg: { type: 'string' },
    roles: { type: 'string' },
    password: { type: 'boolean' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const [command, name, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USER_USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const cfgUrl = String(values.cfg ?? 'file:./data/cfg.json');
  const needName = (): string => {
    if (name === undefined || name === '') throw new UsageError(`user ${command} needs a NAME: pandakv user ${command} NAME${command === 'add' ? ' --roles read,write' : ''}`);
    return name;
  };
  if (command !== 'add' && command !== 'list' && command !== 'remove') throw new UsageError(`unknown user command "${command}"`);
  if (command !== 'list') needName();
  const roles = command === 'add' ? parseRoles(values.roles) : [];
  // Only add creates a config store: list and remove never leave a new file behind.
  const where = cfgUrlArg(cfgUrl);
  if (command !== 'add' && where.kind === 'file' && !existsSync(where.path)) {
    throw new UsageError(`--cfg: ${cfgUrl} does not exist (no principals to ${command === 'list' ? 'list' : 'remove'})`);
  }
  const password = command === 'add' && values.password ? readPassword() : undefined;
  const cfg = await openCfg(cfgUrl);
  try {
    const users = new UserStore(cfg);
    if (command === 'list') {
      for (const p of await users.list()) process.stdout.write(`${p.name.padEnd(24)} ${(p.salt === null ? 'key' : 'password').padEnd(9)} ${p.roles.join(',')}\n`);
      return 0;
    }
    if (command === 'remove') {
      await users.remove(needName());
      process.stdout.write(`removed ${name}\n`);
      return 0;
    }
    // A name the store refuses is reported as a failed command (exit 1), as it always was,
    // not as a misused switch (exit 2).
    const { principal, credentials } = await users.add(needName(), roles, password).catch((err: unknown) => {
      throw err instanceof KvError && err.code === ErrorCode.INVALID_ARGUMENT ? new Error(err.message) : err;
    });
    if (credentials.kind === 'key') {
      const out = String(values.out ?? `./${principal.name}.credentials.json`);
      writeCredentials(out, credentials);
      process.stdout.write(`added ${principal.name} (${principal.roles.join(',')}); credentials written to ${out} (mode 0600)\n`);
    } else {
      process.stdout.write(`added ${principal.name} (${principal.roles.join(',')}), a password principal\n`);
    }
    return 0;
  } finally {
    await cfg.close();
  }
}

/** `--cfg`, checked. @throws UsageError */
function cfgUrlArg(url: string): CfgUrl {
  try {
    return parseCfgUrl(url);
  } catch (err) {
    throw new UsageError(`--cfg: ${(err as Error).message}`);
  }
}

function parseRoles(raw: unknown): Role[] {
  if (raw === undefined) throw new UsageError('add needs --roles, e.g. --roles read,write');
  const roles = String(raw).split(',').map((r) => r.trim()).filter(Boolean);
  for (const r of roles) if (!isRole(r)) throw new UsageError(`unknown role "${r}" (roles: ${ROLES.join(', ')})`);
  return roles as Role[];
}

function readPassword(): string {
  const password = process.env.PANDAKV_PASSWORD;
  if (password === undefined || password.length === 0) throw new UsageError('--password reads the password from $PANDAKV_PASSWORD, which is not set');
  return password;
}
