#!/usr/bin/env bash
# make fuzz: Schemathesis against the real server (gunicorn, 2 workers, fresh SQLite file,
# generated token, a free port on 127.0.0.1). Exits non-zero on any finding.
# Knobs: FUZZ_EXAMPLES (default 100), FUZZ_SEED (default 42), FUZZ_TIME (seconds, optional),
# FUZZ_WORKERS (server workers, default 2), FUZZ_TENANT (a tenant name: fuzz that tenant's base
# URL with its own token instead of the default tenant's), FUZZ_SCHEMAS_DIR (the server's
# SCIM_SCHEMAS_DIR, default examples/schemas; empty for none). The fuzzer reads the spec the
# server publishes, so the declared extensions and read-only resource types are fuzzed too.
# FUZZ_BACKEND=postgres: the server stores in a new PostgreSQL database on SCIM_TEST_POSTGRES's
# server (tests/backends.py), dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
examples=${FUZZ_EXAMPLES:-100}
seed=${FUZZ_SEED:-42}
work=$(mktemp -d)
token=$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(24))')
port=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port/scim/v2"
db="$work/scim.db"
if [ "${FUZZ_BACKEND:-sqlite}" = postgres ]; then
  db=$("$BIN/python" -c 'from tests import backends; print(backends.create())')
fi
schemas_dir=${FUZZ_SCHEMAS_DIR-examples/schemas}
ready="$base/ServiceProviderConfig"
if [ -n "${FUZZ_TENANT:-}" ]; then
  # The admin command makes the file, the tenant and its token before the server starts.
  tenant_json=$(SCIM_JOURNAL="$work/scim.journal" "$BIN/python" -m app.tenants add "$FUZZ_TENANT" --db "$db" --json)
  token=$(echo "$tenant_json" | "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)["token"])')
  base="$base/tenants/$FUZZ_TENANT"
fi

events_token=$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(24))')

# With FUZZ_TENANT, the default tenant's SCIM_TOKEN differs from the tenant's token, so the run
# also shows that the tenant's token opens its tenant only. Security events are on (poll, HS256),
# so every write path appends its events while fuzzed, and a long poll that finds nothing waits
# a fifth of a second rather than 20 s.
env -u SCIM_BASE_URL SCIM_DB="$db" SCIM_JOURNAL="$work/scim.journal" SCIM_TOKEN="${FUZZ_TENANT:+default-tenant-unused-}$token" \
  SCIM_SCHEMAS_DIR="$schemas_dir" \
  SCIM_EVENTS_TOKEN="$events_token" SCIM_EVENTS_SECRET="$events_token$token" \
  SCIM_EVENTS_LONG_POLL_SECONDS=0.2 \
  "$BIN/gunicorn" --workers "${FUZZ_WORKERS:-2}" --bind "127.0.0.1:$port" --no-control-socket \
  --worker-class app.worker.ScimWorker "app.main:create_app()" > "$work/server.log" 2>&1 &
server=$!
stop() {
  kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
  if [ "$db" != "$work/scim.db" ]; then
    "$BIN/python" -c 'import sys; from tests import backends; backends.drop(sys.argv[1])' "$db"
  fi
}
trap stop EXIT

for _ in $(seq 100); do
  if "$BIN/python" -c "import urllib.request as u; u.urlopen('$ready', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; echo "server did not start"; exit 1; }
  sleep 0.2
done

mkdir -p reports
# The SCIM token for every operation, the events token for the poll endpoint (the last block of
# schemathesis.toml, which this copy extends). The spec is the one the server publishes, with
# the declared extensions.
config="$work/schemathesis.toml"
{ echo "headers = { Authorization = \"Bearer $token\" }"; cat schemathesis.toml
  echo "headers = { Authorization = \"Bearer $events_token\" }"; } > "$config"
args=(--config-file "$config" run "$base/openapi.json" --url "$base"
      --checks all --max-examples "$examples" --seed "$seed" --generation-database none
      --report junit --report-junit-path reports/schemathesis.xml --no-color)
if [ -n "${FUZZ_TIME:-}" ]; then args+=(--max-time "$FUZZ_TIME"); fi
status=0
SCIM_TOKEN="$token" "$BIN/st" "${args[@]}" || status=$?
if grep -q "Traceback" "$work/server.log"; then
  echo "--- server log has tracebacks:"; grep -B2 -A20 "Traceback" "$work/server.log" | head -80
  status=1
fi
rm -rf "$work"
exit "$status"
