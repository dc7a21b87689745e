#!/usr/bin/env node
import { packageVersion, runCommand, runDaemon } from './cli-util.js';

const USAGE = `Usage: pandakv <command> [switches]

Commands:
  node      run a data node
  manager   run a manager (map service, planner, admin API)
  proxy     run a proxy for thin clients (native WebSocket and memcached protocols)
  cluster   administer a running cluster (status, add, remove, failover, split, rebalance)
  plan      simulate bucket placement with no cluster running
  user      manage principals (add, list, remove) in the config store
  backup    write a consistent snapshot of a running cluster to a directory
  restore   load a backup into a cluster
  dht       run a DHT bootstrap node for the peer plane (offline hyperswarm)
  up        start a local cluster and run a demo workload
  bench     run the benchmark suite
  help      print this text
  version   print the version (also --version, -v)

Run "pandakv <command> --help" for the switches of a command.
`;

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'node': {
      // Signals are handled from here on, while the command's modules load too.
      return runDaemon('node', async (shutdown) => (await import('./commands/node.js')).nodeMain(rest, shutdown));
    }
    case 'manager': {
      return runDaemon('manager', async (shutdown) => (await import('./commands/manager.js')).managerMain(rest, shutdown));
    }
    case 'proxy': {
      return runDaemon('proxy', async (shutdown) => (await import('./commands/proxy.js')).proxyMain(rest, shutdown));
    }
    case 'cluster': {
      const { clusterMain } = await import('./commands/cluster.js');
      return runCommand('cluster', () => clusterMain(rest));
    }
    case 'user': {
      const { userMain } = await import('./commands/user.js');
      return runCommand('user', () => userMain(rest));
    }
    case 'backup': {
      const { backupMain } = await import('./commands/backup.js');
      return runCommand('backup', () => backupMain(rest));
    }
    case 'restore': {
      const { restoreMain } = await import('./commands/restore.js');
      return runCommand('restore', () => restoreMain(rest));
    }
    case 'dht': {
      return runDaemon('dht', async (shutdown) => (await import('./commands/dht.js')).dhtMain(rest, shutdown));
    }
    case 'plan': {
      const { planMain } = await import('./commands/plan.js');
      return runCommand('plan', () => planMain(rest));
    }
    case 'up': {
      return runDaemon('up', async (shutdown) => (await import('./commands/up.js')).upMain(rest, shutdown));
    }
    case 'bench': {
      const { runBenchCli } = await import('./commands/bench.js');
      return runCommand('bench', () => runBenchCli(rest));
    }
    case 'version':
    case '--version':
    case '-v':
      process.stdout.write(`pandakv ${packageVersion()}\n`);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`pandakv: unknown command "${command}" (run "pandakv help" for the list)\n`);
      process.exitCode = 2;
  }
}

void main();
