import { suite } from '../../helpers/suite.js';
import { ETCD_BACKEND, FILE_BACKEND } from './cfg-fixtures.js';
import { KV_CASES } from './contract-kv.js';
import { LEASE_CASES } from './contract-lease.js';

// One contract, written once, run against every backend: callers must not be able to
// tell the stores apart except by speed and scale.
for (const backend of [FILE_BACKEND, ETCD_BACKEND]) {
  const test = suite(`cluster - cfg contract (${backend.name})`);
  for (const [name, body] of [...KV_CASES, ...LEASE_CASES]) {
    test(name, () => backend.run((ctx) => body(ctx, backend)));
  }
  test.run();
}
