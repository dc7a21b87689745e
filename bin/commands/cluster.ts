import { followMoves, formatBytes, type RebalanceProgress } from '../../cluster/manager/move-follow.js';
import { describeConnectError } from '../../shared/connect-error.js';
import { httpRequestText, type HttpAnswer } from '../../shared/http-json.js';
import { parseCommandLine, numberArg, UsageError, loadCredentialsArg, tlsArgs } from '../cli-util.js';
import { formatEvent, type ClusterEvent, type EventValue } from '../../shared/event-log.js';
import {
  AuthClient, NONCE_BYTES, PUBLIC_KEY_BYTES, SALT_BYTES, SIGNATURE_BYTES, fromHex, isHex, toHex,
  type AuthChallenge, type Credentials,
} from '../../shared/auth/index.js';

export const CLUSTER_USAGE = `Usage: pandakv cluster <command> [--manager URL] [--credentials FILE] [switches]

  status                    nodes, states, map epoch/rev, progress
  add NODE                  place a registered node (id, id prefix or address)
  remove NODE               move a node's units away and drop it
  failover NODE             declare a node failed now
  failover --graceful NODE  hand its units to their replicas once they caught up, then fail it
  split                     double the buckets (no data moves)
  rebalance                 re-plan and move data until balanced (resumes a stopped rebalance)
  rebalance --stop          stop moving data now: the batch in flight is rolled back (or
                            finished if it had caught up); "rebalance" resumes
  events [--limit N]        the manager's recent cluster events, oldest first (default 20)
  set --redundancy R        change the copies per item

  --manager URL             manager address (default $PANDAKV_MANAGER or http://127.0.0.1:7070)
  --credentials FILE        credentials of a principal with the admin role (default
                            $PANDAKV_CREDENTIALS); needed unless the manager runs --insecure
  --manager-key HEX[,HEX]   the managers' public keys to require; without it the key each
                            manager presents is trusted for that connection only
  --tls-ca FILE             authorities (PEM) trusted for https:// managers (default: the
                            system's)
  --timeout-ms MS           give up following a change when nothing moved this long
                            (default 30000)
  --json                    print the raw JSON answer
  --help                    this text; "pandakv cluster <command> --help" for one command

Change commands (add, remove, failover, split, rebalance, set) print the map's epoch and
rev, then follow the data moves they started to the end: units moved, bytes copied, ETA.
`;

const COMMON_SWITCHES = `
  --manager URL[,URL]       manager address(es) (default $PANDAKV_MANAGER or http://127.0.0.1:7070)
  --credentials FILE        admin credentials (default $PANDAKV_CREDENTIALS)
  --manager-key HEX[,HEX]   the managers' public keys to require
  --tls-ca FILE             authorities (PEM) trusted for https:// managers
  --json                    print the raw JSON answer
`;

const FOLLOW_SWITCH = `  --timeout-ms MS           give up following when nothing moved this long (default 30000)
`;

/** `pandakv cluster <command> --help`. */
const COMMAND_USAGE: Readonly<Record<string, string>> = Object.freeze({
  status: `Usage: pandakv cluster status [switches]

Nodes and their states, the map's epoch and rev, the rebalance's progress (units moved and
left, bytes copied) and the recent cluster events.
${COMMON_SWITCHES}`,
  events: `Usage: pandakv cluster events [--limit N] [switches]

The manager's recent cluster events, oldest first.

  --limit N                 how many (default 20)
${COMMON_SWITCHES}`,
  add: `Usage: pandakv cluster add NODE [switches]

Place a registered node (id, id prefix or address): it takes its share of the units, and
the CLI follows the data moves to the end.
${COMMON_SWITCHES}${FOLLOW_SWITCH}`,
  remove: `Usage: pandakv cluster remove NODE [switches]

Move a node's units to the others, then drop it; follows the data moves to the end.
${COMMON_SWITCHES}${FOLLOW_SWITCH}`,
  failover: `Usage: pandakv cluster failover [--graceful] NODE [switches]

Declare a node failed now: its replicas take over its units. With --graceful, its units
are handed over once their replicas caught up, then it is failed.

  --graceful                hand over without losing acknowledged writes
${COMMON_SWITCHES}${FOLLOW_SWITCH}`,
  split: `Usage: pandakv cluster split [switches]

Double the number of buckets (no data moves).
${COMMON_SWITCHES}${FOLLOW_SWITCH}`,
  rebalance: `Usage: pandakv cluster rebalance [--stop] [switches]

Re-plan and move data until balanced (resumes a stopped rebalance), following the moves
to the end. With --stop, stop moving data now: the batch in flight is rolled back (or
finished if it had caught up).

  --stop                    stop the rebalance
${COMMON_SWITCHES}${FOLLOW_SWITCH}`,
  set: `Usage: pandakv cluster set --redundancy R [switches]

Change the copies kept of every item (1..8), following the data moves to the end.

  --redundancy R            copies per item
${COMMON_SWITCHES}${FOLLOW_SWITCH}`,
});

const NEEDS_CREDENTIALS = 'the manager requires authentication: pass --credentials FILE (or set PANDAKV_CREDENTIALS) naming a principal with the admin role';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** How the CLI proves who it is to a secure manager. */
interface AdminAuth {
  credentials: Credentials;
  /** Keys a manager must prove it holds; null = accept the one it presents (per connection). */
  managerKeys: Uint8Array[] | null;
}

/**
 * The admin API as the CLI sees it: follows a follower's redirect to the leader and, with
 * credentials, runs the handshake (challenge → signed answer → token) before the first
 * call, again on the leader after a redirect (tokens are per manager), and once more when
 * a token stops working (expired, or the manager restarted).
 */
class AdminClient {
  private token: string | null = null;
  private isInsecure = false;
  private base: string;

  /**
   * @param bases the managers to try, in order, until one can be reached
   * @param ca authorities (PEM) trusted for https:// managers; null trusts the system's
   */
  constructor(private readonly bases: readonly string[], private readonly auth: AdminAuth | null, private readonly ca: string | null) {
    this.base = bases[0]!;
  }

  async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
    let hasRetriedAuth = false;
    for (let hop = 0; hop < 3;) {
      if (this.auth !== null && this.token === null && !this.isInsecure) await this.login();
      const a = await this.request(method, path, body, this.token);
      // A follower names the leader: ask it instead.
      if (a.status === 503 && typeof a.body.leader === 'string' && a.body.leader !== this.base) {
        this.base = a.body.leader;
        this.token = null;
        this.isInsecure = false;
        hop++;
        continue;
      }
      if (a.status === 401) {
        if (this.auth === null) throw new Error(NEEDS_CREDENTIALS);
        if (!hasRetriedAuth) {
          hasRetriedAuth = true;
          this.token = null;
          this.isInsecure = false;
          continue;
        }
      }
      return a;
    }
    throw new Error('no leader answered');
  }

  private async request(method: 'GET' | 'POST', path: string, body: unknown, token: string | null): Promise<Answer> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const failures: string[] = [];
    for (;;) {
      let res: HttpAnswer;
      try {
        res = await httpRequestText(new URL(path, this.base), {
          method,
          headers,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          timeoutMs: 30_000,
          ...(this.ca === null ? {} : { ca: this.ca }),
        });
      } catch (err) {
        const reason = describeConnectError(err);
        // A certificate this CLI does not trust: say how to trust it.
        const hint = /TLS certificate|self-signed/.test(reason) && this.ca === null ? ' (give its CA with --tls-ca FILE)' : '';
        failures.push(`${this.base}: ${reason}${hint}`);
        // Another manager given on the command line may answer.
        const next = this.bases[this.bases.indexOf(this.base) + 1];
        if (next !== undefined && token === null) {
          this.base = next;
          continue;
        }
        throw new Error(failures.length === 1 ? `cannot reach the manager at ${failures[0]}` : `cannot reach any manager (${failures.join(', ')})`);
      }
      try {
        return { status: res.status, body: JSON.parse(res.text) as Record<string, unknown> };
      } catch {
        throw new Error(`the manager at ${this.base} answered ${path} with HTTP ${res.status} and no JSON (is ${this.base} a PandaKV manager?)`);
      }
    }
  }

  /** The handshake of docs/auth.md §3 over `/api/auth/challenge` and `/api/auth`. */
  private async login(): Promise<void> {
    const { credentials, managerKeys } = this.auth!;
    // A fresh client per manager: with no key given, what one manager presented must
    // not be pinned for another (each manager has its own key pair).
    const client = new AuthClient({ credentials, isTrustOnFirstUse: managerKeys === null });
    const c = await this.request('POST', '/api/auth/challenge', { principal: client.principal }, null);
    if (c.status === 400 && c.body.isInsecure === true) {
      if (managerKeys !== null) throw new Error(`the manager at ${this.base} runs --insecure, so it cannot prove it holds --manager-key; refusing to use it`);
      process.stderr.write(`pandakv cluster: warning: the manager at ${this.base} runs --insecure; --credentials not used\n`);
      this.isInsecure = true;
      return;
    }
    if (c.status !== 200) fail(c);
    const message = client.answer(challengeOf(c.body));
    const a = await this.request('POST', '/api/auth', {
      principal: message.principal,
      nonce: toHex(message.nonce),
      clientNonce: toHex(message.clientNonce),
      signature: toHex(message.signature),
    }, null);
    if (a.status !== 200) fail(a);
    const presented = isHex(a.body.serverPublicKey, PUBLIC_KEY_BYTES) ? fromHex(a.body.serverPublicKey) : null;
    const signature = isHex(a.body.serverSignature, SIGNATURE_BYTES) ? fromHex(a.body.serverSignature) : null;
    // With keys given, the one presented must be among them; verifyServer then checks the
    // signature with it (and fails for a key that is not).
    const expected = managerKeys === null ? null : (managerKeys.find((k) => presented !== null && toHex(k) === toHex(presented)) ?? managerKeys[0]!);
    if (presented === null || signature === null || !client.verifyServer(expected, signature, presented)) {
      throw new Error(`the manager at ${this.base} could not prove its identity${managerKeys === null ? '' : ' (is --manager-key right?)'}`);
    }
    if (!isHex(a.body.token, 32)) throw new Error(`the manager at ${this.base} answered /api/auth without a token`);
    this.token = a.body.token;
  }
}

/** The challenge in a JSON answer (binary fields as hex). */
function challengeOf(body: Record<string, unknown>): AuthChallenge {
  const { nonce, serverId, salt } = body;
  if (!isHex(nonce, NONCE_BYTES) || typeof serverId !== 'string' || (salt !== undefined && !isHex(salt, SALT_BYTES))) {
    throw new Error('the manager sent a malformed challenge');
  }
  return salt === undefined ? { nonce: fromHex(nonce), serverId } : { nonce: fromHex(nonce), serverId, salt: fromHex(salt) };
}

function parseManagerKeys(raw: unknown): Uint8Array[] | null {
  if (raw === undefined) return null;
  const keys = String(raw).split(',').map((k) => k.trim()).filter(Boolean);
  if (keys.length === 0) throw new UsageError('--manager-key needs at least one key');
  return keys.map((k) => {
    if (!isHex(k, PUBLIC_KEY_BYTES)) throw new UsageError(`--manager-key: each key must be ${PUBLIC_KEY_BYTES * 2} hex digits`);
    return fromHex(k);
  });
}

function fail(a: Answer): never {
  const err = a.body.error as { code?: string; message?: string } | undefined;
  const retry = typeof a.body.retryAfterMs === 'number' ? ` (retry in ${a.body.retryAfterMs} ms)` : '';
  throw new Error(`${err?.code ?? `HTTP ${a.status}`}: ${err?.message ?? 'request failed'}${retry}`);
}

/** Follow a change to its end, then print the map it left and what moved. */
async function follow(api: AdminClient, command: string, timeoutMs: number): Promise<void> {
  const result = await followMoves(async () => {
    const a = await api.call('GET', '/api/rebalance');
    if (a.status !== 200) fail(a);
    return a.body as unknown as RebalanceProgress;
  }, { idleTimeoutMs: timeoutMs, isTty: process.stdout.isTTY === true, write: (t) => process.stdout.write(t) });
  const status = await api.call('GET', '/api/status');
  const map = status.status === 200 ? status.body.map as { epoch: number; rev: number } | null : null;
  const p = result.progress;
  const where = map === null ? `rev ${p.rev}` : `map epoch ${map.epoch}, rev ${map.rev}`;
  const moved = `${p.moves.unitsMoved} units moved, ${formatBytes(result.bytesCopied)} copied`;
  if (result.isStopped) process.stdout.write(`${command}: rebalance stopped at ${where}; ${moved}, ${p.moves.unitsLeft} left ("pandakv cluster rebalance" resumes)\n`);
  else process.stdout.write(`${command}: done: ${where} applied by ${p.applied}/${p.total} nodes; ${moved}\n`);
}

/** One event as its text log line (the format of `--log-format text`). */
function eventLine(e: ClusterEvent): string {
  return formatEvent(e, 'text');
}

/** The events in an answer of `GET /api/events`, dropping anything that is not one. */
function eventsOf(body: Record<string, unknown>): ClusterEvent[] {
  const list = Array.isArray(body.events) ? body.events as unknown[] : [];
  return list.filter((e): e is ClusterEvent => {
    const x = e as Partial<ClusterEvent> | null;
    return x !== null && typeof x === 'object' && typeof x.at === 'number' && Number.isFinite(x.at) && typeof x.name === 'string'
      && (x.component === 'manager' || x.component === 'node' || x.component === 'proxy')
      && x.fields !== null && typeof x.fields === 'object';
  }).map((e) => ({ ...e, fields: cleanFields(e.fields) }));
}

function cleanFields(fields: Record<string, unknown>): Record<string, EventValue> {
  const out: Record<string, EventValue> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : String(typeof v);
  return out;
}

function printStatus(body: Record<string, unknown>, events: ClusterEvent[]): void {
  const map = body.map as Record<string, number> | null;
  process.stdout.write(map === null ? 'map: none yet\n' : `map: epoch ${map.epoch}, rev ${map.rev}, 2^${map.bits} buckets, ${2 ** (map.unitBits ?? 0)} units, ${map.runs} runs\n`);
  process.stdout.write(`leader: ${body.isLeader ? 'this manager' : 'another manager'}\n`);
  const r = body.rebalance as { state?: string; unitsMoved?: number; unitsLeft?: number; bytesCopied?: number; lastWarning?: string | null } | undefined;
  if (r !== undefined) {
    const moved = r.unitsMoved ?? 0;
    const left = r.unitsLeft ?? 0;
    const share = moved + left === 0 ? '' : ` (${Math.floor((moved * 100) / (moved + left))} %)`;
    process.stdout.write(`rebalance: ${r.state}, ${moved} units moved, ${left} left${share}, ${formatBytes(r.bytesCopied ?? 0)} copied${r.state === 'stopped' ? ' ("pandakv cluster rebalance" resumes)' : ''}\n`);
    if (typeof r.lastWarning === 'string') process.stdout.write(`rebalance warning: ${r.lastWarning}\n`);
  }
  const nodes = body.nodes as Array<Record<string, unknown>>;
  process.stdout.write(`${'id'.padEnd(38)}${'state'.padEnd(9)}${'live'.padEnd(6)}${'share'.padEnd(8)}${'repl'.padEnd(6)}address\n`);
  for (const n of nodes) {
    // Whether the node reports replication (joined the peer plane); '?' until it reported here.
    const repl = n.isReplicating === true ? 'yes' : n.isReplicating === false ? 'NO' : '?';
    process.stdout.write(`${String(n.id).padEnd(38)}${String(n.state).padEnd(9)}${(n.isLive ? 'yes' : 'no').padEnd(6)}${(((n.activeShare as number) * 100).toFixed(1) + '%').padEnd(8)}${repl.padEnd(6)}${String(n.address)}\n`);
  }
  if (nodes.some((n) => n.isReplicating === false)) process.stdout.write('nodes with repl NO are not on the peer plane: they keep no replicas and refuse majority writes (see their log)\n');
  if (events.length > 0) {
    process.stdout.write('recent events:\n');
    for (const e of events) process.stdout.write(`  ${eventLine(e)}\n`);
  }
}

/** `pandakv cluster …` */
export async function clusterMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    manager: { type: 'string' },
    credentials: { type: 'string' },
    'manager-key': { type: 'string' },
    'tls-ca': { type: 'string' },
    stop: { type: 'boolean' },
    graceful: { type: 'boolean' },
    redundancy: { type: 'string' },
    'timeout-ms': { type: 'string' },
    json: { type: 'boolean' },
    limit: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const [command, arg, ...rest] = positionals;
  if (values.help || command === undefined) {
    if (command !== undefined && !Object.hasOwn(COMMAND_USAGE, command)) throw new UsageError(`unknown cluster command "${command}" (commands: ${Object.keys(COMMAND_USAGE).join(', ')})`);
    process.stdout.write(command === undefined ? CLUSTER_USAGE : COMMAND_USAGE[command]!);
    if (command === undefined && !values.help) {
      process.stderr.write('pandakv cluster: a command is needed\n');
      return 2;
    }
    return 0;
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const bases = String(values.manager ?? process.env.PANDAKV_MANAGER ?? 'http://127.0.0.1:7070').split(',').map((b) => b.trim());
  for (const base of bases) {
    if (!/^https?:\/\/[^\s/]+/.test(base) || !URL.canParse(base)) throw new UsageError(`--manager must be http://host:port (or a comma list of them), got "${base}"`);
  }
  const timeoutMs = numberArg(values, 'timeout-ms', (n) => n > 0) ?? 30_000;
  const managerKeys = parseManagerKeys(values['manager-key']);
  const credentialsPath = values.credentials ?? process.env.PANDAKV_CREDENTIALS;
  if (managerKeys !== null && (credentialsPath === undefined || credentialsPath === '')) throw new UsageError('--manager-key needs --credentials FILE');
  const auth = credentialsPath === undefined || credentialsPath === '' ? null : { credentials: loadCredentialsArg(String(credentialsPath)), managerKeys };
  const ca = tlsArgs({ 'tls-ca': values['tls-ca'] }).tlsCa ?? null;
  const api = new AdminClient(bases, auth, ca);
  const needNode = (): string => {
    if (arg === undefined) throw new UsageError(`${command} needs a NODE (id, id prefix or address)`);
    return arg;
  };
  let answer: Answer;
  switch (command) {
    case 'status':
      answer = await api.call('GET', '/api/status');
      if (answer.status !== 200) fail(answer);
      if (values.json) process.stdout.write(`${JSON.stringify(answer.body, null, 2)}\n`);
      else {
        // A manager without the events route (older) still gets its status printed.
        const events = await api.call('GET', '/api/events?limit=10');
        printStatus(answer.body, events.status === 200 ? eventsOf(events.body) : []);
      }
      return 0;
    case 'events': {
      const limit = numberArg(values, 'limit', (n) => Number.isInteger(n) && n >= 0 && n <= 100_000) ?? 20;
      answer = await api.call('GET', `/api/events?limit=${limit}`);
      if (answer.status !== 200) fail(answer);
      if (values.json) process.stdout.write(`${JSON.stringify(answer.body, null, 2)}\n`);
      else for (const e of eventsOf(answer.body)) process.stdout.write(`${eventLine(e)}\n`);
      return 0;
    }
    case 'add': answer = await api.call('POST', '/api/nodes/add', { node: needNode() }); break;
    case 'remove': answer = await api.call('POST', '/api/nodes/remove', { node: needNode() }); break;
    case 'failover': answer = await api.call('POST', '/api/nodes/failover', { node: needNode(), ...(values.graceful ? { graceful: true } : {}) }); break;
    case 'split': answer = await api.call('POST', '/api/split'); break;
    case 'rebalance': answer = await api.call('POST', values.stop ? '/api/rebalance/stop' : '/api/rebalance'); break;
    case 'set': {
      const r = numberArg(values, 'redundancy', (n) => Number.isInteger(n) && n >= 1 && n <= 8);
      if (r === undefined) throw new UsageError('set needs --redundancy R');
      answer = await api.call('POST', '/api/settings', { redundancy: r });
      break;
    }
    default:
      throw new UsageError(`unknown cluster command "${command}"`);
  }
  if (answer.status !== 200) fail(answer);
  if (values.json) process.stdout.write(`${JSON.stringify(answer.body, null, 2)}\n`);
  else {
    const b = answer.body as { epoch?: number; rev?: number; movedUnits?: number; warnings?: string[]; batch?: string; rolledBackUnits?: number; moves?: { unitsMoved?: number; unitsLeft?: number } };
    if (values.stop) {
      const batch = b.batch === 'rolled-back' ? `batch in flight rolled back (${b.rolledBackUnits ?? 0} units)` : b.batch === 'finished' ? 'batch in flight finished' : 'no batch in flight';
      process.stdout.write(`rebalance stopped: ${batch}; ${b.moves?.unitsMoved ?? 0} units moved, ${b.moves?.unitsLeft ?? 0} left\n`);
    } else process.stdout.write(`${command}: map epoch ${b.epoch}, rev ${b.rev}, ${b.movedUnits ?? 0} unit moves\n`);
    for (const w of b.warnings ?? []) process.stdout.write(`warning: ${w}\n`);
  }
  if (!values.stop) await follow(api, command, timeoutMs);
  return 0;
}
