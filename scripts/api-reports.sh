#!/usr/bin/env bash
# API reports (report.api.md) of the five plugin packages; extra arguments
# (e.g. --ci) go to each run. The common package exports the client generated
# from the OpenAPI spec, whose request types carry no TSDoc: there, and only
# there, undocumented exports are allowed.
set -euo pipefail
cd "$(dirname "$0")/.."
yarn backstage-repo-tools api-reports -o ae-wrong-input-file-type --validate-release-tags "$@" \
  plugins/kube-delivery plugins/kube-delivery-backend plugins/scaffolder-backend-module-kube-delivery \
  plugins/catalog-backend-module-kube-delivery-file-locations
yarn backstage-repo-tools api-reports -o ae-wrong-input-file-type,ae-undocumented --validate-release-tags "$@" \
  plugins/kube-delivery-common
