#!/bin/sh
# test.sh runs the console's browser tests in headless Chromium, installing
# Chromium first when it is absent, and says where the screenshots are.
set -eu
cd "$(dirname "$0")/../.."
LOGMESH_CHROMIUM=$(deploy/chromium/install.sh | tail -n 1)
export LOGMESH_CHROMIUM
export LOGMESH_BROWSER=1
LOGMESH_ARTIFACTS=${LOGMESH_ARTIFACTS:-$PWD/.artifacts/browser}
export LOGMESH_ARTIFACTS
mkdir -p "$LOGMESH_ARTIFACTS"
echo "chromium: $LOGMESH_CHROMIUM"
status=0
go test -count=1 -run 'Browser' ./processors/catalog/ ./cmd/logmesh/ || status=$?
echo "screenshots: $LOGMESH_ARTIFACTS"
exit $status
