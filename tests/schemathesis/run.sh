#!/usr/bin/env bash
# Schemathesis (--checks all, 60 s) against the compiled binary's bot API: the OpenAPI
# document must say exactly what the server enforces. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==4.32.5"
fi

cargo build --locked --quiet
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key="schemathesis-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
HANDOFF_LISTEN="127.0.0.1:$port" HANDOFF_DATA_DIR="$data" HANDOFF_BOT__API_KEY="$key" \
  RUST_LOG=error target/debug/handoff &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.2
done

"$venv/bin/schemathesis" --config-file tests/schemathesis/schemathesis.toml \
  run "http://127.0.0.1:$port/api/v1/openapi.json" --checks all \
  -H "Authorization: Bearer $key" --max-time 60
