import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { parseFeedMessage } from '../../../../cluster/manager/dashboard/feed-message.js';
import { dashboardOptions } from '../../../../cluster/manager/dashboard/options.js';

const test = suite('dashboard - feed messages from the page');

const token = 'ab'.repeat(32);

test('the two messages a page may send are parsed', () => {
  assert.equal(parseFeedMessage(JSON.stringify({ t: 'auth', token })), { t: 'auth', token });
  assert.equal(parseFeedMessage(JSON.stringify({ t: 'follow', unit: 7 })), { t: 'follow', unit: 7 });
  assert.equal(parseFeedMessage(JSON.stringify({ t: 'follow', unit: null })), { t: 'follow', unit: null });
});

test('anything else is refused', () => {
  const bad = [
    '', 'null', '[]', '"auth"', '{', '{"t":"auth"}', JSON.stringify({ t: 'auth', token: 'xyz' }), JSON.stringify({ t: 'auth', token: token + '00' }),
    JSON.stringify({ t: 'auth', token, extra: 1 }), JSON.stringify({ t: 'follow' }), JSON.stringify({ t: 'follow', unit: -1 }),
    JSON.stringify({ t: 'follow', unit: 1.5 }), JSON.stringify({ t: 'follow', unit: 2 ** 32 }), JSON.stringify({ t: 'follow', unit: '3' }),
    JSON.stringify({ t: 'follow', unit: 1, x: 2 }), JSON.stringify({ t: 'hello' }), JSON.stringify({ t: '__proto__' }), '{"__proto__":{"t":"auth"}}',
    'x'.repeat(10_000),
  ];
  for (const b of bad) assert.is(parseFeedMessage(b), null, b.slice(0, 60));
});

test('options take their defaults and refuse nonsense', () => {
  const o = dashboardOptions({ pushIntervalMs: 50 });
  assert.is(o.pushIntervalMs, 50);
  assert.is(o.maxClients, 32);
  assert.throws(() => dashboardOptions({ maxClients: -1 }));
  assert.throws(() => dashboardOptions({ authTimeoutMs: 1.5 }));
});

test.run();
