#!/bin/sh
# Installs the peer servers that `pandakv bench peers` measures PandaKV against:
# redis-server (+ redis-cli, for the 3-master Redis Cluster), nutcracker (twemproxy)
# and memcached. Debian/Ubuntu only; run as root (or through sudo).
#
# Never needed by `npm test`: the bench skips any contender whose binary is missing.
# The packages' own services are kept from starting (they would listen on fixed
# ports); the bench starts its own instances on free loopback ports.
set -eu

PACKAGES="redis-server redis-tools nutcracker memcached"

if [ "$(id -u)" -ne 0 ]; then
  exec sudo -- "$0" "$@"
fi

# invoke-rc.d consults policy-rc.d: exit 101 means "do not start services".
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$POLICY"
  chmod 755 "$POLICY"
  ADDED_POLICY=1
fi
remove_policy() {
  if [ "$ADDED_POLICY" -eq 1 ]; then rm -f "$POLICY"; fi
}
trap remove_policy EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PACKAGES

for bin in redis-server redis-cli nutcracker memcached; do
  path=$(command -v "$bin" || true)
  if [ -z "$path" ]; then
    echo "setup-peers: $bin not found after install" >&2
    exit 1
  fi
  echo "setup-peers: $bin -> $path"
done
