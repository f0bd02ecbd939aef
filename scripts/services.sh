#!/usr/bin/env bash
# Install what the test suite needs (PostgreSQL, Redis, Chromium, flite, Janus with its demo pages,
# iproute2, python3-venv) and start the services it uses: PostgreSQL (role/db "sitin") and Redis,
# on 127.0.0.1. Janus is not started here: each Janus test starts its own in a network namespace.
# Idempotent: safe to run when they are already up. Needs root (installs with apt-get if missing).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=()
command -v pg_ctlcluster >/dev/null || packages+=(postgresql)
command -v redis-server >/dev/null || packages+=(redis-server)
command -v chromium >/dev/null || packages+=(chromium)
command -v flite >/dev/null || packages+=(flite)
command -v janus >/dev/null || packages+=(janus)  # the Janus tests start it themselves
[ -f /usr/share/janus/demos/videoroomtest.html ] || packages+=(janus-demos)
command -v ip >/dev/null || packages+=(iproute2)  # network namespaces for the Janus tests
python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3-venv)  # Debian splits venv out
if ((${#packages[@]})); then
  echo "installing: ${packages[*]}"
  apt-get update -qq
  apt-get install -y -qq "${packages[@]}" >/dev/null
fi

run_dir=${SITIN_SERVICES_DIR:-/tmp/sitin-services}
mkdir -p "$run_dir"

pg_version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$pg_version main"; then
  pg_createcluster "$pg_version" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
  pg_ctlcluster "$pg_version" main start
fi
for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 && break; sleep 0.1; done
pg_isready -q -h 127.0.0.1 || { echo "PostgreSQL did not start" >&2; exit 1; }

psql_as_postgres() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_as_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = 'sitin'")" != 1 ]; then
  psql_as_postgres -c "CREATE ROLE sitin LOGIN PASSWORD 'sitin' CREATEDB"
fi
if [ "$(psql_as_postgres -c "SELECT 1 FROM pg_database WHERE datname = 'sitin'")" != 1 ]; then
  psql_as_postgres -c "CREATE DATABASE sitin OWNER sitin"
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
    --pidfile "$run_dir/redis.pid" --logfile "$run_dir/redis.log"
fi
for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG || { echo "Redis did not start" >&2; exit 1; }
echo "services up: PostgreSQL $pg_version on 127.0.0.1:5432 (sitin/sitin), Redis on 127.0.0.1:6379"
