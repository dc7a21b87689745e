import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { LeaseHandle, type LeaseHost } from '../../../../cluster/manager/cfg/lease-handle.js';
import { ErrorCode, KvError } from '../../../../shared/errors.js';
import { rejection, withDeadline } from '../../../helpers/deadline.js';

const test = suite('cluster - cfg lease handle');

class ScriptedHost implements LeaseHost {
  refreshes = 0;
  revokes = 0;
  isExpired = false;
  async refreshLease(id: string): Promise<number> {
    this.refreshes++;
    if (this.isExpired) throw KvError.notFound(`lease ${id} expired`);
    return 60_000;
  }
  async revokeLease(): Promise<void> {
    this.revokes++;
  }
}

function lost(handle: LeaseHandle, ms: number): Promise<Error> {
  return withDeadline(new Promise<Error>((resolve) => { handle.once('lost', resolve); }), ms, 'lost');
}

test('a refresh that finds the lease expired ends it and emits lost once', async () => {
  const host = new ScriptedHost();
  const handle = new LeaseHandle('7', 60_000, host, false, Date.now());
  await handle.keepAlive();
  host.isExpired = true;
  const gone = lost(handle, 1000);
  assert.is((await rejection(handle.keepAlive())).code, ErrorCode.NOT_FOUND);
  assert.is((await gone as KvError).code, ErrorCode.NOT_FOUND);
  assert.ok(handle.isEnded);
  assert.is((await rejection(handle.keepAlive())).code, ErrorCode.NOT_FOUND);
  assert.is(host.refreshes, 2, 'an ended lease is not refreshed again');
});

test('with a local deadline a lease that is never refreshed is declared lost after its TTL', async () => {
  const host = new ScriptedHost();
  const handle = new LeaseHandle('8', 30, host, true, Date.now());
  const err = await lost(handle, 2000) as KvError;
  assert.is(err.code, ErrorCode.TIMEOUT);
  await handle.revoke();
  assert.is(host.revokes, 0, 'revoking a lost lease does not call the store');
});

test('revoke ends the lease without emitting lost and is idempotent', async () => {
  const host = new ScriptedHost();
  const handle = new LeaseHandle('9', 60_000, host, true, Date.now());
  let lostCount = 0;
  handle.on('lost', () => { lostCount++; });
  handle.startKeepAlive(1000);
  await handle.revoke();
  await handle.revoke();
  assert.equal([host.revokes, lostCount, handle.isEnded], [1, 0, true]);
  assert.throws(() => handle.startKeepAlive(0), (e: Error & { code?: string }) => e.code === ErrorCode.INVALID_ARGUMENT);
});

test.run();
