#!/usr/bin/env bash
# Runs the Go tests against a real Apache Kafka broker (see README.md).
#
#   deploy/kafka/test.sh                      go test -race -count=1 -p 1 ./...
#   deploy/kafka/test.sh ./processors/... -run TestX   go test -race -count=1 -p 1 <your args>
#
# Installs Kafka if needed, starts a fresh broker on LOGMESH_KAFKA_PORT
# (default 19092), runs the tests with LOGMESH_TEST_BROKERS pointing at it,
# stops the broker on exit (also on failure or Ctrl-C) and exits with the
# tests' status.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
KAFKA="$HERE/kafka.sh"
PORT="${LOGMESH_KAFKA_PORT:-19092}"

"$KAFKA" install
# A broker left over from an earlier run in this checkout (killed before its
# trap ran) would hold stale topics and the port: start from nothing.
"$KAFKA" stop >/dev/null 2>&1 || true

cleanup() {
  local rc=$?
  local keep="$HERE/.cache/last-test-broker.log"
  if [ "$rc" -ne 0 ] && [ -s "$HERE/.run/logs/server.log" ]; then
    # stop removes .run/: keep the broker log, show its warnings and errors.
    cp "$HERE/.run/logs/server.log" "$keep" 2>/dev/null || true
    echo "test.sh: last broker warnings/errors (full log kept in $keep):" >&2
    grep -E '^\[[^]]*\] (WARN|ERROR|FATAL) ' "$keep" | tail -n 30 >&2 || true
  fi
  "$KAFKA" stop || true
  echo "test.sh: go test exit status $rc" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$KAFKA" start "$PORT"

if [ $# -eq 0 ]; then
  set -- ./...
fi
echo "test.sh: LOGMESH_TEST_BROKERS=127.0.0.1:$PORT go test -race -count=1 -p 1 $*" >&2
cd "$ROOT"
LOGMESH_TEST_BROKERS="127.0.0.1:$PORT" go test -race -count=1 -p 1 "$@"
