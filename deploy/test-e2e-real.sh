#!/usr/bin/env bash
# The ingestion end-to-end suite (cmd/logmesh TestE2E*) against a real Apache
# Kafka broker and a real MinIO server at once: landing bucket, warehouse
# bucket and every topic on real services. Both are installed if needed,
# started fresh, and stopped on exit.
#
#   deploy/test-e2e-real.sh [go test -run pattern]   default: TestE2E
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
KAFKA="$HERE/kafka/kafka.sh"
MINIO="$HERE/minio/minio.sh"
KPORT="${LOGMESH_KAFKA_PORT:-19092}"
MPORT="${LOGMESH_MINIO_PORT:-19000}"

"$KAFKA" install
"$MINIO" install
"$KAFKA" stop >/dev/null 2>&1 || true
"$MINIO" stop >/dev/null 2>&1 || true
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "test-e2e-real.sh: failed (exit $rc); tail of the broker log:" >&2
    "$KAFKA" logs 40 >&2 || true
  fi
  "$KAFKA" stop || true
  "$MINIO" stop || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$KAFKA" start "$KPORT"
"$MINIO" start "$MPORT"
eval "$("$MINIO" env)"
export LOGMESH_TEST_BROKERS="127.0.0.1:$KPORT"
cd "$ROOT"
echo "test-e2e-real.sh: LOGMESH_TEST_BROKERS=$LOGMESH_TEST_BROKERS LOGMESH_TEST_S3_ENDPOINT=$LOGMESH_TEST_S3_ENDPOINT" >&2
go test -race -count=1 -p 1 -v -run "${1:-TestE2E}" ./cmd/logmesh/
