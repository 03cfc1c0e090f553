#!/usr/bin/env bash
# Runs the portal on this machine: the local Kubernetes control plane
# (packages/devcluster), the backend on an embedded SQLite database under
# .data/, and the app at http://localhost:3000.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KD_ROOT"

yarn install --immutable
yarn devcluster up
# The kubeDelivery environments of the local cluster; tokens stay in files.
yarn devcluster app-config > app-config.local.yaml
mkdir -p .data
echo
echo "Starting Backstage: open http://localhost:3000 (backend on http://localhost:7007)"
exec yarn start
