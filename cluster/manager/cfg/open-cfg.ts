import { KvError } from '../../../shared/errors.js';
import type { Cfg } from './cfg.js';
import { EtcdCfg } from './etcd-cfg.js';
import { FileCfg } from './file-cfg.js';
import type { EtcdCfgOptions, FileCfgOptions } from './options.js';

/** A parsed config store URL. */
export type CfgUrl = { kind: 'file'; path: string } | { kind: 'etcd'; hosts: string[] };

/** Options for whichever backend the URL names. */
export interface OpenCfgOptions {
  /** Options of the file backend. */
  file?: Partial<FileCfgOptions>;
  /** Options of the etcd backend. */
  etcd?: Partial<EtcdCfgOptions>;
}

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/**
 * Parse `file:PATH` (relative to the working directory, or absolute) or
 * `etcd://HOST:PORT[,HOST:PORT...]`.
 * @throws KvError INVALID_ARGUMENT for anything else
 */
export function parseCfgUrl(url: string): CfgUrl {
  if (url.startsWith('file:')) {
    let path = url.slice('file:'.length);
    // Accept the URL spelling file:///abs/path as well as file:./rel and file:/abs.
    if (path.startsWith('//')) path = path.slice(2);
    if (path.length === 0) throw KvError.invalidArgument(`config store URL ${JSON.stringify(url)} has no path (expected file:PATH)`);
    return { kind: 'file', path };
  }
  if (url.startsWith('etcd://')) {
    const hosts = url.slice('etcd://'.length).replace(/\/$/, '').split(',');
    for (const host of hosts) {
      const m = HOST_PORT.exec(host);
      const port = m === null ? 0 : Number(m[1]);
      if (port < 1 || port > 65535) {
        throw KvError.invalidArgument(`config store URL ${JSON.stringify(url)}: ${JSON.stringify(host)} is not HOST:PORT`);
      }
    }
    return { kind: 'etcd', hosts };
  }
  throw KvError.invalidArgument(`unsupported config store URL ${JSON.stringify(url)}: use file:PATH or etcd://HOST:PORT[,HOST:PORT]`);
}

/** Open the config store named by `url` (see {@link parseCfgUrl}). */
export async function openCfg(url: string, options: OpenCfgOptions = {}): Promise<Cfg> {
  const parsed = parseCfgUrl(url);
  return parsed.kind === 'file'
    ? FileCfg.open(parsed.path, options.file)
    : EtcdCfg.open(parsed.hosts, options.etcd);
}
