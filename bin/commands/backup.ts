import { parseCommandLine, numberArg, UsageError, loadCredentialsArg, managerUrlArg, tlsArgs } from '../cli-util.js';
import { ManagerMapSource } from '../../sdk/manager-map-source.js';
import { NodeLanes } from '../../sdk/backup/node-lanes.js';
import { BackupWriter, isEmptyDir } from '../../sdk/backup/backup-files.js';
import { ClusterBackup } from '../../sdk/backup/cluster-backup.js';
import { formatBytes } from '../../cluster/manager/move-follow.js';
import { ProgressView } from './progress-view.js';

export const BACKUP_USAGE = `Usage: pandakv backup --manager URL --out DIR [switches]

Write a consistent snapshot of every unit of a running cluster to DIR while it keeps
serving: each unit is read from its active node at one seqno (its items, then its change
records up to the end seqno), and DIR gets data files plus manifest.json (map epoch and
layout, per-unit seqno, item counts, SHA-256 checksums). See docs/backup.md.

  --manager URL[,URL]       manager address(es) (default $PANDAKV_MANAGER or http://127.0.0.1:7070)
  --out DIR                 the backup directory; created, and must be empty
  --force                   write into a DIR that is not empty (an earlier backup's
                            manifest and data files there are removed first)
  --credentials FILE        credentials of a principal with the admin role (default
                            $PANDAKV_CREDENTIALS); needed unless the cluster runs --insecure
  --manager-key HEX         the manager's public key to require
  --tls-ca FILE             authorities (PEM) trusted for wss:// managers and nodes
  --units-per-pass N        units read together in one pass over a node (default 64);
                            their items are held in memory until written
  --pace-ms MS              pause this long after each pass over a node (default 0), to
                            lighten the load the backup puts on a busy cluster
  --timeout-ms MS           give up when no unit could be read this long (default 120000)
  --json                    print the result as JSON
  --help                    this text
`;

/** `pandakv backup …` */
export async function backupMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    manager: { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean' },
    credentials: { type: 'string' },
    'manager-key': { type: 'string' },
    'tls-ca': { type: 'string' },
    'units-per-pass': { type: 'string' },
    'timeout-ms': { type: 'string' },
    'pace-ms': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(BACKUP_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (values.out === undefined || values.out === '') throw new UsageError('--out DIR is required');
  const out = String(values.out);
  const manager = managerUrlArg(String(values.manager ?? process.env.PANDAKV_MANAGER ?? 'http://127.0.0.1:7070'), 'manager');
  const unitsPerPass = numberArg(values, 'units-per-pass', (n) => Number.isInteger(n) && n >= 1 && n <= 65_536);
  const idleTimeoutMs = numberArg(values, 'timeout-ms', (n) => Number.isInteger(n) && n > 0);
  const paceMs = numberArg(values, 'pace-ms', (n) => Number.isInteger(n) && n >= 0 && n <= 60_000);
  const managerKey = values['manager-key'] === undefined ? null : String(values['manager-key']);
  if (managerKey !== null && !/^[0-9a-fA-F]{64}$/.test(managerKey)) throw new UsageError('--manager-key must be 64 hex digits');
  const credentialsPath = values.credentials ?? process.env.PANDAKV_CREDENTIALS;
  const credentials = credentialsPath === undefined || credentialsPath === '' ? null : loadCredentialsArg(String(credentialsPath));
  const { tlsCa } = tlsArgs(values);
  if (!values.force && !(await isEmptyDir(out))) throw new UsageError(`--out: ${out} is not empty; pass --force to write the backup there anyway`);

  const source = new ManagerMapSource(manager, {
    tlsCa: tlsCa ?? null,
    auth: credentials === null ? null : { credentials, managerKey },
  });
  const lanes = new NodeLanes(source, credentials, { connectTimeoutMs: 5000, tlsCa: tlsCa ?? null });
  const writer = await BackupWriter.create(out, values.force === true);
  const backup = new ClusterBackup(source, lanes.request, writer, {
    ...(unitsPerPass === undefined ? {} : { unitsPerPass }),
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
    ...(paceMs === undefined ? {} : { paceMs }),
  });
  const started = Date.now();
  const bar = new ProgressView('backing up', process.stdout.isTTY === true);
  if (values.json !== true) backup.on('progress', (p) => bar.update(p, started));
  try {
    const r = await backup.run();
    bar.stop();
    const manifest = await writer.finish({ createdAt: r.createdAt, map: r.map, epochEnd: r.epochEnd });
    const ms = Date.now() - started;
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ dir: out, units: manifest.units.length, items: manifest.items, bytes: manifest.bytes, files: manifest.files.length, ms, retries: r.retries, map: manifest.map, epochEnd: manifest.epochEnd })}\n`);
    } else {
      const rate = ms > 0 ? Math.round((manifest.items * 1000) / ms) : manifest.items;
      process.stdout.write(`backup: ${manifest.units.length} units, ${manifest.items} items, ${formatBytes(manifest.bytes)} in ${(ms / 1000).toFixed(1)} s (${rate} items/s), ${r.retries} unit reads repeated\n`);
      const finest = Math.max(...manifest.units.map((u) => u.unitBits));
      const split = finest === manifest.map.unitBits ? '' : ` (split to 2^${finest} units during the backup)`;
      process.stdout.write(`backup: map epoch ${manifest.map.epoch} (up to ${manifest.epochEnd}), rev ${manifest.map.rev}, 2^${manifest.map.bits} buckets in ${2 ** manifest.map.unitBits} units${split}, ${manifest.map.nodes} nodes → ${out}\n`);
    }
    return 0;
  } catch (err) {
    bar.stop();
    writer.abort();
    throw err;
  } finally {
    source.close();
    await lanes.close();
  }
}
