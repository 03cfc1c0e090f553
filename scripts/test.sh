#!/usr/bin/env bash
# The project's test command: unit and integration tests on the real parts.
# Starts the local Kubernetes control plane (packages/devcluster) and a
# PostgreSQL server for the database tests, runs every Jest project once, and
# stops what it started. Extra arguments go to Jest (e.g. a path filter).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KD_ROOT"

yarn install --immutable >/dev/null

started_cluster=0
started_pg=0
cleanup() {
  [ "$started_pg" = 1 ] && scripts/postgres.sh stop || true
  [ "$started_cluster" = 1 ] && yarn devcluster down >/dev/null 2>&1 || true
}
trap cleanup EXIT

# A cluster that was already running (e.g. for scripts/dev.sh) is left running.
if ! yarn devcluster status >/dev/null 2>&1; then
  started_cluster=1
fi
yarn devcluster up

# PostgreSQL: the store and migration tests run on SQLite and on PostgreSQL.
# Without a server those PostgreSQL cases cannot run: say so loudly, and fail in CI.
if [ -z "${KD_TEST_POSTGRES_URL:-}" ]; then
  scripts/postgres.sh running || started_pg=1
  if KD_TEST_POSTGRES_URL=$(scripts/postgres.sh start); then
    :
  elif [ "${CI:-}" = true ]; then
    echo "PostgreSQL is required in CI" >&2
    exit 1
  else
    echo "WARNING: no PostgreSQL server (apt-get install postgresql): the PostgreSQL cases will fail." >&2
  fi
fi
export KD_TEST_POSTGRES_URL

results=$(mktemp -t kd-jest-XXXXXX.json)
status=0
CI=true yarn backstage-cli repo test --ci --runInBand --json --outputFile="$results" "$@" || status=$?

# The runner's summary as one plain line, read by CI.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  // A suite that fails to load runs no test: it counts as failed here, and is named.
  const unloaded = r.testResults.filter(t => t.status === "failed" && t.assertionResults.length === 0);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + unloaded.length} failed, ${r.numPendingTests + r.numTodoTests} skipped, ${unloaded.length} suites failed to load`);
  for (const t of unloaded) console.log(`  did not load: ${t.name}`);
' "$results" || status=1
rm -f "$results"
exit $status
