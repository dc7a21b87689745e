"""Drive Debian's python3-pymemcache against the proxy's memcached port and print one JSON
line: what each step returned. Usage: pymemcache-run.py HOST PORT USER PASSWORD KEYPREFIX."""
import json
import sys

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError

host, port, user, password, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
out = {}
c = Client((host, port), connect_timeout=20, timeout=30)


def login():
    # memcached's ASCII authentication: the first set on a connection carries "user password".
    # pymemcache sends it with noreply by default, as it does every set.
    c.set('auth', '%s %s' % (user, password))


login()
k = prefix + ':k'
out['set'] = c.set(k, 'v1', noreply=False)
out['get'] = c.get(k).decode()
out['add_existing'] = c.add(k, 'x', noreply=False)
out['replace'] = c.replace(k, 'v2', noreply=False)
out['append'] = c.append(k, '-a', noreply=False)
out['prepend'] = c.prepend(k, 'p-', noreply=False)
value, cas = c.gets(k)
out['gets'] = value.decode()
out['cas_ok'] = c.cas(k, 'v3', cas, noreply=False)
out['cas_stale'] = c.cas(k, 'v4', cas, noreply=False)
out['set_counter'] = c.set(prefix + ':n', '10', noreply=False)
out['incr'] = c.incr(prefix + ':n', 5, noreply=False)
out['decr'] = c.decr(prefix + ':n', 20, noreply=False)
out['touch'] = c.touch(k, 300, noreply=False)
out['get_many'] = {key: v.decode() for key, v in c.get_many([k, prefix + ':n', prefix + ':missing']).items()}
out['delete'] = c.delete(prefix + ':n', noreply=False)
out['version'] = c.version().decode()
out['stats_has_commands'] = b'pandakv_proxy_memcached_commands_total' in c.stats()
try:
    out['flush_all'] = c.flush_all(noreply=False)
except MemcacheClientError as e:
    out['flush_all'] = 'refused: %s' % e.args[0].decode()
    # pymemcache drops its connection after an error answer; the new one logs in again.
    login()
out['get_after_flush'] = None if c.get(k) is None else c.get(k).decode()
c.close()
print(json.dumps(out))
