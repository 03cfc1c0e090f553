#!/usr/bin/env bash
# Fails when a production dependency of any workspace (transitive ones
# included) has a known advisory of high or critical severity.
#
# Asks the configured npm registry's audit endpoint through `yarn npm audit`
# (Yarn 4; `npmAuditRegistry` in .yarnrc.yml or the environment picks another
# registry for audits only). When that endpoint cannot answer, there is no
# advisory data to judge by: the script says so and fails rather than pass.
#
# Exit codes: 0 no high/critical advisory, 1 advisories found, 2 audit impossible.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KD_ROOT"
set +e

report=$(mktemp -t kd-audit-XXXXXX.json)
trap 'rm -f "$report"' EXIT
yarn npm audit --all --recursive --environment production --severity high --json >"$report" 2>&1
status=$?
set -e

# One NDJSON line per vulnerable package, its advisory (ID, Issue, Severity,
# Vulnerable Versions, Dependents) under "children".
summary=$(node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
  const found = lines.filter(line => {
    try { return JSON.stringify(JSON.parse(line)).includes("\"Severity\""); } catch { return false; }
  });
  console.log(found.map(line => line.slice(0, 600)).join("\n"));
' "$report")

if [ -n "$summary" ]; then
  echo "High or critical advisories in production dependencies:" >&2
  echo "$summary" >&2
  echo "Upgrade the packages named above (or pin a patched version with \"resolutions\" in package.json) and run yarn install." >&2
  exit 1
fi

if [ "$status" -ne 0 ]; then
  # Yarn failed without a report: the registry did not answer the audit request.
  cause=$(grep -oE 'Response code [0-9]+ \([^)]*\)|(connect|getaddrinfo|read) E[A-Z]+[^ ]*'  "$report" | head -n 2 || true)
  echo "Audit impossible: the npm registry's audit endpoint did not answer (${cause:-yarn npm audit exited with $status})." >&2
  echo "No advisory data means no verdict, so this check fails. Configure a registry that serves audits (npmAuditRegistry), or run it where the default registry is reachable." >&2
  exit 2
fi

echo "No high or critical advisories in the production dependencies of any workspace."
