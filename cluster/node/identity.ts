import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { ensureDir } from '../ensure-dir.js';
import { join } from 'node:path';
import { generateKeyPair, loadOrCreateKeyFile, type KeyPair } from '../../shared/auth/index.js';

const ID_FILE = 'node-id';

/**
 * The node's stable id: read from `<dataDir>/node-id`, created on first start. Without
 * a data dir the id is new on every start (the node is then a new member each time).
 */
export async function loadNodeId(dataDir: string | null): Promise<string> {
  if (dataDir === null) return randomUUID();
  await ensureDir(dataDir);
  const path = join(dataDir, ID_FILE);
  try {
    const id = (await readFile(path, 'utf8')).trim();
    if (/^[A-Za-z0-9._:-]{1,128}$/.test(id)) return id;
    throw new Error(`${path} does not hold a valid node id`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = randomUUID();
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${id}\n`, { mode: 0o600 });
  await rename(tmp, path);
  return id;
}

const KEY_FILE = 'node.key';

/**
 * The node's Ed25519 key pair: its identity to clients (mutual auth) and to peers. Kept
 * in `<dataDir>/node.key` (mode 0600); without a data dir it is new on every start.
 */
export function loadNodeKey(dataDir: string | null, id: string): KeyPair {
  return dataDir === null ? generateKeyPair() : loadOrCreateKeyFile(join(dataDir, KEY_FILE), id);
}
