import { parseCommandLine, numberArg, UsageError, loadCredentialsArg, managerUrlArg, tlsArgs } from '../cli-util.js';
import { ErrorCode, KvError } from '../../shared/errors.js';
import { DURABILITY_LEVELS, type Durability } from '../../shared/protocol/frames.js';
import { connect } from '../../sdk/connect.js';
import { verifyBackup } from '../../sdk/backup/backup-files.js';
import { ClusterRestore } from '../../sdk/backup/cluster-restore.js';
import { formatBytes } from '../../cluster/manager/move-follow.js';
import { ProgressView } from './progress-view.js';

export const RESTORE_USAGE = `Usage: pandakv restore --manager URL --from DIR [switches]

Load a backup written by "pandakv backup" into a cluster. Every file and unit block is
checked first (sizes, SHA-256, manifest): a corrupted, truncated or foreign directory is
refused and nothing is written. Items keep their flags and their expiry time (items whose
expiry passed are skipped). Keys are routed by the target's map, so it may have another
number of nodes or buckets. Keys the cluster holds that the backup does not are kept.

  --manager URL[,URL]       manager address(es) (default $PANDAKV_MANAGER or http://127.0.0.1:7070)
  --from DIR                the backup directory
  --credentials FILE        credentials of a principal that may write (default
                            $PANDAKV_CREDENTIALS); needed unless the cluster runs --insecure
  --manager-key HEX         the manager's public key to require
  --tls-ca FILE             authorities (PEM) trusted for wss:// managers and nodes
  --concurrency N           writes in flight (default 512)
  --durability LEVEL        none, majority, persist or persistMajority (default none)
  --verify-only             check the backup and print what it holds; write nothing
  --json                    print the result as JSON
  --help                    this text
`;

/** `pandakv restore …` */
export async function restoreMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    manager: { type: 'string' },
    from: { type: 'string' },
    credentials: { type: 'string' },
    'manager-key': { type: 'string' },
    'tls-ca': { type: 'string' },
    concurrency: { type: 'string' },
    durability: { type: 'string' },
    'verify-only': { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(RESTORE_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (values.from === undefined || values.from === '') throw new UsageError('--from DIR is required');
  const from = String(values.from);
  const manager = managerUrlArg(String(values.manager ?? process.env.PANDAKV_MANAGER ?? 'http://127.0.0.1:7070'), 'manager');
  const concurrency = numberArg(values, 'concurrency', (n) => Number.isInteger(n) && n >= 1 && n <= 65_536);
  const durability = values.durability === undefined ? undefined : String(values.durability);
  if (durability !== undefined && !DURABILITY_LEVELS.includes(durability as Durability)) throw new UsageError(`--durability must be ${DURABILITY_LEVELS.join(', ')}, got "${durability.slice(0, 40)}"`);
  const managerKey = values['manager-key'] === undefined ? null : String(values['manager-key']);
  if (managerKey !== null && !/^[0-9a-fA-F]{64}$/.test(managerKey)) throw new UsageError('--manager-key must be 64 hex digits');
  const credentialsPath = values.credentials ?? process.env.PANDAKV_CREDENTIALS;
  const credentials = credentialsPath === undefined || credentialsPath === '' ? null : loadCredentialsArg(String(credentialsPath));
  const { tlsCa } = tlsArgs(values);

  let backup;
  try {
    backup = await verifyBackup(from);
  } catch (err) {
    if (err instanceof KvError && err.code === ErrorCode.BACKUP_INVALID) {
      process.stderr.write(`pandakv restore: ${from} refused, nothing was written: ${err.message} (${err.code})\n`);
      return 1;
    }
    throw err;
  }
  const m = backup.manifest;
  if (values.json !== true) {
    process.stdout.write(`restore: ${from} verified: ${m.units.length} units, ${m.items} items, ${formatBytes(m.bytes)} in ${m.files.length} files, taken ${m.createdAt} at map epoch ${m.map.epoch}, 2^${m.map.bits} buckets\n`);
  }
  if (values['verify-only']) {
    if (values.json) process.stdout.write(`${JSON.stringify({ dir: from, verified: true, units: m.units.length, items: m.items, bytes: m.bytes, files: m.files.length, map: m.map })}\n`);
    return 0;
  }
  const client = await connect({
    map: manager, credentials, managerKey, timeoutMs: 10_000, ...(tlsCa === undefined ? {} : { tls: { ca: tlsCa } }),
  });
  try {
    const target = client.map;
    if (target !== null && target.bits !== m.map.bits && values.json !== true) {
      process.stdout.write(`restore: the target has 2^${target.bits} buckets, the backup 2^${m.map.bits}: keys are placed by the target's map\n`);
    }
    const restore = new ClusterRestore(client, backup, {
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(durability === undefined ? {} : { durability: durability as Durability }),
    });
    const started = Date.now();
    const view = new ProgressView('restoring', process.stdout.isTTY === true);
    if (values.json !== true) restore.on('progress', (p) => view.update({ unitsDone: p.unitsDone, unitsTotal: p.unitsTotal, items: p.written }, started));
    let r;
    try {
      r = await restore.run();
    } finally {
      view.stop();
    }
    const ms = Date.now() - started;
    if (values.json) process.stdout.write(`${JSON.stringify({ dir: from, written: r.written, expired: r.expired, items: m.items, units: m.units.length, ms })}\n`);
    else process.stdout.write(`restore: ${r.written} items written, ${r.expired} skipped as expired, of ${m.items} in the backup, in ${(ms / 1000).toFixed(1)} s (${ms > 0 ? Math.round((r.written * 1000) / ms) : r.written} items/s)\n`);
    return 0;
  } finally {
    await client.close();
  }
}
