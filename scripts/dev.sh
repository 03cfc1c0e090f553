#!/usr/bin/env bash
# Runs the portal on this machine: the local Kubernetes control plane
# (packages/devcluster) with its data plane (Traefik, the pod runner), the
# backend on an embedded SQLite database under .data/, and the app at
# http://localhost:3000.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KD_ROOT"

yarn install --immutable
yarn devcluster up
# The kubeDelivery environments of the local cluster and the Backstage
# Kubernetes plugin's read-only account; tokens stay in files. Written again
# on every start; your own settings go in app-config.local.yaml, loaded last,
# which this script never writes (README: "Your own settings in the demo").
yarn devcluster app-config > app-config.devcluster.yaml
configs=(--config "$KD_ROOT/app-config.yaml" --config "$KD_ROOT/app-config.devcluster.yaml")
if [ -f app-config.local.yaml ]; then
  configs+=(--config "$KD_ROOT/app-config.local.yaml")
fi
mkdir -p .data

# The static CI token (app-config.yaml has no default): one random token per
# checkout, kept in .data/ci-token (git-ignored), unless you set your own.
if [ -z "${KUBE_DELIVERY_CI_TOKEN:-}" ]; then
  if [ ! -s .data/ci-token ]; then
    (umask 077 && node -p 'require("crypto").randomBytes(24).toString("base64url")' > .data/ci-token)
  fi
  KUBE_DELIVERY_CI_TOKEN="$(cat .data/ci-token)"
fi
export KUBE_DELIVERY_CI_TOKEN
# The demo seed (below) plays a whole pipeline with that token: the shop in
# dev, test and production, a routing rule and a certificate in dev. The
# shipped grant of subject ci (app-config.yaml: reads, releases, deploys to
# dev and test) is widened here, for this local demo only.
export APP_CONFIG_kubeDelivery_servicePrincipals='[{"subject":"ci","permissions":["kube-delivery.read","kube-delivery.release.create","kube-delivery.deployment.create","kube-delivery.route.update","kube-delivery.certificate.update"]}]'
echo
echo "Starting Backstage: open http://localhost:3000 (backend on http://localhost:7007)"
# `yarn devcluster up` also started Traefik (the environments' Gateways on 127.0.0.1:80
# and :443) and the pod runner, which answers for the frontend's pods.
echo "Real traffic once seeded: curl -s --resolve dev.boutique.example:80:127.0.0.1 http://dev.boutique.example/"
echo "  and the branch: add --cookie shop_session-id=demo-myfeature-session (README: The demo)"
if [ "${KUBE_DELIVERY_SEED:-1}" = 1 ]; then
  # Once the backend answers, seeds the demo through the plugin's API with the
  # static CI token (idempotent: a no-op once seeded). KUBE_DELIVERY_SEED=0 skips it.
  node -r @backstage/cli/config/nodeTransform.cjs scripts/demo-seed.ts &
fi
exec yarn start "${configs[@]}"
