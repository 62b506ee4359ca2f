#!/usr/bin/env bash
# Runs the Go tests against a real MinIO server (see README.md).
#
#   deploy/minio/test.sh                                   go test -race -count=1 ./...
#   deploy/minio/test.sh ./processors/ingest/ -run S3      go test -race -count=1 <your args>
#
# Builds MinIO if needed, starts a fresh server on LOGMESH_MINIO_PORT
# (default 19000), runs the tests with LOGMESH_TEST_S3_* pointing at it (tests
# that need S3 skip without them), stops the server on exit (also on failure
# or Ctrl-C) and exits with the tests' status.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
MINIO="$HERE/minio.sh"
PORT="${LOGMESH_MINIO_PORT:-19000}"

"$MINIO" install
# A server left over from an earlier run in this checkout: start from nothing.
"$MINIO" stop >/dev/null 2>&1 || true

cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -s "$HERE/.run/minio.log" ]; then
    mkdir -p "$HERE/.cache"
    cp "$HERE/.run/minio.log" "$HERE/.cache/last-test-minio.log" 2>/dev/null || true
    echo "test.sh: MinIO log kept in $HERE/.cache/last-test-minio.log" >&2
  fi
  "$MINIO" stop || true
  echo "test.sh: go test exit status $rc" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$MINIO" start "$PORT"
eval "$("$MINIO" env)"

if [ $# -eq 0 ]; then
  set -- ./...
fi
echo "test.sh: LOGMESH_TEST_S3_ENDPOINT=$LOGMESH_TEST_S3_ENDPOINT go test -race -count=1 $*" >&2
cd "$ROOT"
go test -race -count=1 "$@"
