#!/usr/bin/env bash
# Runs the portal on this machine: the local Kubernetes control plane
# (packages/devcluster), the backend on an embedded SQLite database under
# .data/, and the app at http://localhost:3000.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KD_ROOT"

yarn install --immutable
yarn devcluster up
# The kubeDelivery environments of the local cluster and the Backstage
# Kubernetes plugin's read-only account; tokens stay in files.
yarn devcluster app-config > app-config.local.yaml
mkdir -p .data
echo
echo "Starting Backstage: open http://localhost:3000 (backend on http://localhost:7007)"
if [ "${KUBE_DELIVERY_SEED:-1}" = 1 ]; then
  # Once the backend answers, seeds the demo through the plugin's API with the
  # static CI token (idempotent: a no-op once seeded). KUBE_DELIVERY_SEED=0 skips it.
  node -r @backstage/cli/config/nodeTransform.cjs scripts/demo-seed.ts &
fi
exec yarn start
