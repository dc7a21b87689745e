import type { Shutdown } from './shutdown.js';

/**
 * What differs between the long-running server commands (`node`, `manager`, `proxy`,
 * `dht`); `runServer` does the rest the same way for each.
 */
export interface ServerCommand<Options, Server> {
  /** Printed on stdout for `--help`. */
  usage: string;
  /** The switches, checked. @throws UsageError */
  parse(argv: string[]): Options | 'help';
  /**
   * Start serving: warnings, checks, then listening under `shutdown.race`, so a signal
   * during start-up stops it. Resolves once the server is ready to be announced.
   */
  listen(options: Options, shutdown: Shutdown): Promise<Server>;
  /** Lines on stdout once it serves; tools starting the process wait for the "listening on" one. */
  announce(server: Server, options: Options): string[];
  /** The graceful stop after SIGINT/SIGTERM. */
  close(server: Server): Promise<void>;
}

/**
 * Run a server command: parse → listen → announce → wait for a signal → close. Exit
 * codes and failure lines are `runDaemon`'s (bin/cli-util.ts): usage errors 2, a signal
 * during start-up 0, other failures 1.
 */
export async function runServer<Options, Server>(command: ServerCommand<Options, Server>, argv: string[], shutdown: Shutdown): Promise<number> {
  const options = command.parse(argv);
  if (options === 'help') {
    process.stdout.write(command.usage);
    return 0;
  }
  const server = await command.listen(options, shutdown);
  for (const line of command.announce(server, options)) process.stdout.write(`${line}\n`);
  await shutdown.wait();
  await command.close(server);
  return 0;
}
