/**
 * The Redis contender of `pandakv bench durable`: one `redis-server` with its append-only
 * file on (`appendfsync always`: fsync before each reply batch; `everysec`: fsync once a
 * second), driven by ioredis with auto-pipelining. Listens on 127.0.0.1 on a port picked
 * free; stopped by its pid.
 */
import type { Redis } from 'ioredis';
import { findBinary, freePort, waitForPort } from './peer-servers.js';
import { spawnNode, type ChildHandle } from './processes.js';

export type AppendFsync = 'always' | 'everysec';

export interface RedisAof {
  handle: ChildHandle;
  client: Redis;
  fsync: AppendFsync;
  /** Close the client, stop the server. */
  close(): Promise<void>;
}

/** Why the Redis comparison cannot run here; null when it can. */
export async function redisAofMissing(): Promise<string | null> {
  if (findBinary('redis-server') === null) return 'redis-server not found (bench/setup-peers.sh installs it)';
  try {
    await import('ioredis');
    return null;
  } catch {
    return 'the ioredis package is not installed (npm install --include=dev)';
  }
}

/** Start redis-server with its AOF in `dir` and `appendfsync fsync`, and an ioredis client on it. */
export async function startRedisAof(dir: string, fsync: AppendFsync, timeoutMs: number): Promise<RedisAof> {
  const bin = findBinary('redis-server');
  if (bin === null) throw new Error('redis-server not found');
  const port = await freePort();
  const handle = spawnNode({
    name: `redis-server (appendfsync ${fsync})`,
    command: bin,
    args: [
      '--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--appendfilename', `bench-${fsync}-${port}.aof`,
      '--appenddirname', `aof-${fsync}-${port}`, '--appendonly', 'yes', '--appendfsync', fsync, '--save', '',
      '--protected-mode', 'no', '--daemonize', 'no', '--loglevel', 'warning',
    ],
  });
  handle.child.stdout?.resume();
  let client: Redis | null = null;
  try {
    await waitForPort(handle, port, timeoutMs);
    // Imported when used: ioredis is a devDependency, and `pandakv` must start without it.
    const { Redis: RedisClient } = await import('ioredis');
    client = new RedisClient({ host: '127.0.0.1', port, enableAutoPipelining: true, maxRetriesPerRequest: 1, lazyConnect: true });
    await client.connect();
  } catch (err) {
    client?.disconnect();
    await handle.stop();
    throw err;
  }
  const c = client;
  return {
    handle,
    client: c,
    fsync,
    close: async () => {
      c.disconnect();
      await handle.stop();
    },
  };
}
