#!/usr/bin/env bash
# minio.sh — a real MinIO server on 127.0.0.1 for logmesh's S3 test suites.
#
#   minio.sh install        build MinIO into deploy/minio/.cache/bin (skipped if built)
#   minio.sh start [PORT]   start it in the background (default port 19000; console on PORT+1)
#   minio.sh stop           stop it and remove its data (deploy/minio/.run)
#   minio.sh status         say whether it runs and answers
#   minio.sh env            print the LOGMESH_TEST_S3_* exports for the test suites
#
# The credentials are fixed test credentials; the server listens on loopback only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
BIN_DIR="$here/.cache/bin"
BIN="$BIN_DIR/minio"
RUN_DIR="$here/.run"
PID_FILE="$RUN_DIR/minio.pid"
PORT_FILE="$RUN_DIR/port"
LOG_FILE="$RUN_DIR/minio.log"
ACCESS_KEY="logmesh-test"
SECRET_KEY="logmesh-test-secret"
DEFAULT_PORT=19000

die() { echo "minio.sh: $*" >&2; exit 1; }

port() {
	if [[ -f "$PORT_FILE" ]]; then cat "$PORT_FILE"; else echo "${1:-$DEFAULT_PORT}"; fi
}

running() {
	[[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

live() {
	[[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/minio/health/live" || true)" == 200 ]]
}

cmd_install() {
	if [[ -x "$BIN" ]]; then
		echo "minio.sh: $BIN already built"
		return
	fi
	command -v go >/dev/null || die "go is not on PATH"
	mkdir -p "$BIN_DIR"
	echo "minio.sh: building minio@$MINIO_VERSION (several minutes) ..."
	local start=$SECONDS
	# Outside the logmesh module, so its go.mod and go.work do not apply.
	(cd "$BIN_DIR" && GOWORK=off GOFLAGS= GOBIN="$BIN_DIR" go install "github.com/minio/minio@$MINIO_VERSION")
	echo "minio.sh: built $BIN in $((SECONDS - start))s"
}

cmd_start() {
	local p="${1:-$DEFAULT_PORT}"
	[[ "$p" =~ ^[0-9]+$ ]] || die "bad port $p"
	[[ -x "$BIN" ]] || die "$BIN is missing; run: $0 install"
	if running; then
		echo "minio.sh: already running (pid $(cat "$PID_FILE"), port $(port))"
		return
	fi
	mkdir -p "$RUN_DIR/data"
	echo "$p" >"$PORT_FILE"
	MINIO_ROOT_USER="$ACCESS_KEY" MINIO_ROOT_PASSWORD="$SECRET_KEY" \
	MINIO_BROWSER=off MINIO_UPDATE=off \
		nohup "$BIN" server "$RUN_DIR/data" --quiet \
		--address "127.0.0.1:$p" --console-address "127.0.0.1:$((p + 1))" \
		>"$LOG_FILE" 2>&1 </dev/null &
	echo $! >"$PID_FILE"
	local deadline=$((SECONDS + 60))
	until live "$p"; do
		if ! running; then
			tail -n 40 "$LOG_FILE" >&2 || true
			die "minio exited during start"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 40 "$LOG_FILE" >&2 || true
			die "minio did not answer http://127.0.0.1:$p/minio/health/live within 60s"
		fi
		sleep 0.5
	done
	echo "minio.sh: running on 127.0.0.1:$p (pid $(cat "$PID_FILE"))"
}

cmd_stop() {
	if running; then
		local pid
		pid="$(cat "$PID_FILE")"
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -9 "$pid" 2>/dev/null || true
		echo "minio.sh: stopped (pid $pid)"
	fi
	rm -rf "$RUN_DIR"
}

cmd_status() {
	if running && live "$(port)"; then
		echo "minio.sh: running on 127.0.0.1:$(port) (pid $(cat "$PID_FILE"))"
	elif running; then
		echo "minio.sh: process $(cat "$PID_FILE") runs but does not answer on port $(port)"
		return 1
	else
		echo "minio.sh: not running"
		return 1
	fi
}

cmd_env() {
	echo "export LOGMESH_TEST_S3_ENDPOINT=127.0.0.1:$(port "${1:-}") LOGMESH_TEST_S3_ACCESS_KEY=$ACCESS_KEY LOGMESH_TEST_S3_SECRET_KEY=$SECRET_KEY"
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start "${2:-}" ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env "${2:-}" ;;
*) die "usage: $0 install|start [PORT]|stop|status|env" ;;
esac
