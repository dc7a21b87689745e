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
  assert.equal(parseFeedMessage(JSON.stringify({ t: 'follow', unit: 7, key: 'user:42' })), { t: 'follow', unit: 7, key: 'user:42' });
  const longest = 'é'.repeat(125);
  assert.equal(parseFeedMessage(JSON.stringify({ t: 'follow', unit: 0, key: longest })), { t: 'follow', unit: 0, key: longest }, '250 bytes of UTF-8');
});

test('anything else is refused', () => {
  const bad = [
    '', 'null', '[]', '"auth"', '{', '{"t":"auth"}', JSON.stringify({ t: 'auth', token: 'xyz' }), JSON.stringify({ t: 'auth', token: token + '00' }),
    JSON.stringify({ t: 'auth', token, extra: 1 }), JSON.stringify({ t: 'follow' }), JSON.stringify({ t: 'follow', unit: -1 }),
    JSON.stringify({ t: 'follow', unit: 1.5 }), JSON.stringify({ t: 'follow', unit: 2 ** 32 }), JSON.stringify({ t: 'follow', unit: '3' }),
    JSON.stringify({ t: 'follow', unit: 1, x: 2 }), JSON.stringify({ t: 'hello' }), JSON.stringify({ t: '__proto__' }), '{"__proto__":{"t":"auth"}}',
    'x'.repeat(10_000),
    // A followed key: 1 to 250 bytes of well-formed UTF-8, only with a unit.
    JSON.stringify({ t: 'follow', unit: 1, key: '' }), JSON.stringify({ t: 'follow', unit: 1, key: 'k'.repeat(251) }),
    JSON.stringify({ t: 'follow', unit: 1, key: 'é'.repeat(126) }), JSON.stringify({ t: 'follow', unit: 1, key: 5 }),
    JSON.stringify({ t: 'follow', unit: 1, key: null }), JSON.stringify({ t: 'follow', unit: null, key: 'k' }),
    JSON.stringify({ t: 'follow', key: 'k', x: 1 }), '{"t":"follow","unit":1,"key":"\\ud800"}',
    JSON.stringify({ t: 'follow', unit: 1, key: 'k', x: 1 }),
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
