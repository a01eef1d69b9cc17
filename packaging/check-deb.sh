#!/usr/bin/env bash
# Builds the .deb, installs it with dpkg, starts the installed binary with the packaged
# configuration and a temporary data dir, and checks /healthz (and `handoff healthcheck`).
set -euo pipefail
cd "$(dirname "$0")/.."

# What the package and this check need on a bare machine (dpkg -i does not fetch them).
missing=""
for tool in adduser curl runuser; do command -v "$tool" >/dev/null || missing=1; done
if [ -n "$missing" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq adduser curl util-linux ca-certificates >/dev/null
fi
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
cargo deb --locked
deb=$(ls -t target/debian/handoff_*.deb | head -1)
dpkg -i "$deb"
test -x /usr/bin/handoff
test -f /etc/handoff/handoff.toml
test -f /lib/systemd/system/handoff.service || test -f /usr/lib/systemd/system/handoff.service
getent passwd handoff >/dev/null

data=$(mktemp -d)
chown handoff:handoff "$data"
# A free port: a fixed one may be taken by whatever else runs on the machine.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
# As the service would run it: its own user, the packaged configuration.
runuser -u handoff -- env HANDOFF_DATA_DIR="$data" HANDOFF_LISTEN="127.0.0.1:$port" \
  /usr/bin/handoff serve --config /etc/handoff/handoff.toml >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz"
echo
HANDOFF_LISTEN="127.0.0.1:$port" /usr/bin/handoff --config /etc/handoff/handoff.toml healthcheck
grep -q "setup?token=" "$log"
kill -TERM $pid
# runuser reports the signal (143); what matters is that handoff stopped cleanly.
wait $pid || true
trap - EXIT
grep -q "handoff stopped" "$log"
echo "the .deb installs, starts and answers /healthz"
