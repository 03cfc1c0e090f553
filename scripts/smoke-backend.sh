#!/usr/bin/env bash
# Starts the backend on a fresh SQLite directory and waits for
# /.backstage/health/v1/readiness to answer 200, then stops it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KD_ROOT"

data_dir=$(mktemp -d -t kd-smoke-XXXXXX)
log="$data_dir/backend.log"
# The CI token has no default: a random one for this run.
KUBE_DELIVERY_CI_TOKEN="$(openssl rand -hex 24)" KUBE_DELIVERY_DATA_DIR="$data_dir" \
  setsid yarn workspace backend start >"$log" 2>&1 &
pid=$!
stop() { kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT

for _ in $(seq 1 180); do
  code=$(curl -s -o /dev/null -w '%{http_code}' http://localhost:7007/.backstage/health/v1/readiness || true)
  if [ "$code" = 200 ]; then
    echo "backend ready: /.backstage/health/v1/readiness answered 200"
    exit 0
  fi
  # A plugin that fails to start leaves the process answering 503: say why now.
  if grep -q "Backend startup failed" "$log"; then
    echo "backend startup failed:" >&2
    grep -A3 "Backend startup failed" "$log" | head -20 >&2
    exit 1
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "backend exited before it was ready:" >&2
    tail -50 "$log" >&2
    exit 1
  fi
  sleep 1
done
echo "backend not ready after 180s:" >&2
tail -50 "$log" >&2
exit 1
