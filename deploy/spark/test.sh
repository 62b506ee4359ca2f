#!/usr/bin/env bash
# Apache Spark reads and commits through logmesh's Iceberg REST catalog (see README.md).
#
#   deploy/spark/test.sh
#
# Installs pyspark + the Iceberg Spark runtime if needed (spark.sh install),
# builds logmesh, starts `logmesh dev` on free loopback ports with a small
# mesh (raw.a granted to domain wm, raw.b enterprise-visible but granted to
# nobody), lands files so raw.a has 2 versions and raw.b 1, then runs
# read_catalog.py: Spark with wm's token reads raw.a, time-travels to its
# first snapshot, and is refused raw.b with Iceberg's ForbiddenException;
# with governance's token it reads raw.b; then, as wm, creates its product
# wm.sums's table and INSERTs into it, committing through the catalog, and
# raw's same INSERT is refused. The commit must show as wm.sums version 2
# and read with `logmesh query`. Stops dev on exit (also on failure or
# Ctrl-C) and exits with the script's status.
#
# Environment: LOGMESH_SPARK_TIMEOUT (s to wait for each table version,
# default 180), LOGMESH_SPARK_KEEP=1 keeps the temporary directory.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SPARK="$HERE/spark.sh"
TIMEOUT="${LOGMESH_SPARK_TIMEOUT:-180}"

log() { echo "test.sh: $*" >&2; }
die() { log "$*"; exit 1; }

t_install=$SECONDS
"$SPARK" install
PY="$("$SPARK" python)"
JAR="$("$SPARK" jar)"
t_install=$((SECONDS - t_install))

TMP="$(mktemp -d "${TMPDIR:-/tmp}/logmesh-spark-test.XXXXXX")"
DATA="$TMP/data"
DEVLOG="$TMP/dev.log"
DEV_PID=""

stop_dev() {
  [ -n "$DEV_PID" ] || return 0
  if kill -0 "$DEV_PID" 2>/dev/null; then
    log "stopping logmesh dev (pid $DEV_PID)"
    kill -TERM "$DEV_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 60; i++)); do kill -0 "$DEV_PID" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$DEV_PID" 2>/dev/null; then
      log "logmesh dev still alive after 30s; sending KILL"
      kill -KILL "$DEV_PID" 2>/dev/null || true
    fi
  fi
  wait "$DEV_PID" 2>/dev/null || true
  DEV_PID=""
}

cleanup() {
  local rc=$?
  stop_dev
  if [ "$rc" -ne 0 ] && [ -s "$DEVLOG" ]; then
    mkdir -p "$HERE/.cache"
    cp "$DEVLOG" "$HERE/.cache/last-dev.log" 2>/dev/null || true
    log "last lines of the dev log (full log kept in $HERE/.cache/last-dev.log):"
    tail -n 40 "$DEVLOG" >&2 || true
  fi
  if [ "${LOGMESH_SPARK_KEEP:-}" = 1 ]; then
    log "kept $TMP"
  else
    rm -rf "$TMP"
  fi
  log "exit status $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Four free loopback ports, distinct.
read -r KPORT RPORT APORT HPORT < <("$PY" - <<'EOF'
import socket
socks = []
for _ in range(4):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*[s.getsockname()[1] for s in socks])
EOF
)

t_build=$SECONDS
log "building logmesh"
(cd "$ROOT" && go build -o "$TMP/logmesh" ./cmd/logmesh)
t_build=$((SECONDS - t_build))
t_test=$SECONDS
LM=("$TMP/logmesh" --brokers "127.0.0.1:$KPORT" --registry "http://127.0.0.1:$RPORT")

cat >"$TMP/mesh.yaml" <<'EOF'
# raw.a granted to wm; raw.b enterprise-visible, granted to nobody.
domains:
  - name: raw
  - name: wm
feeds:
  - {name: a, table: raw.a, key_pattern: "a/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: A, fields: [{name: id, type: string}, {name: v, type: long}]}}
  - {name: b, table: raw.b, key_pattern: "b/*.csv", format: csv, options: {header: true}, visibility: enterprise,
     schema: {type: record, name: B, fields: [{name: id, type: string}, {name: w, type: long}]}}
products:
  # Run by an engine that commits through the catalog: manual, so the
  # runner never runs it itself.
  - name: sums
    domain: wm
    visibility: enterprise
    inputs: [raw.a]
    trigger: manual
    transform: SELECT id, v * 10 AS total FROM a
    output: {schema: {type: record, name: Sums, fields: [{name: id, type: string}, {name: total, type: long}]}}
grants:
  - {product: raw.a, to: wm}
  - {product: wm.sums, to: raw}
EOF
printf 'id,v\nk1,1\nk2,2\n' >"$TMP/a1.csv"
printf 'id,v\nk3,3\n' >"$TMP/a2.csv"
printf 'id,w\nk1,10\n' >"$TMP/b1.csv"

log "starting logmesh dev: kafka $KPORT, registry $RPORT, admin $APORT, catalog $HPORT, data $DATA"
# No setsid: $! must be logmesh itself (setsid forks when it leads a group).
"$TMP/logmesh" dev --config "$TMP/mesh.yaml" --data "$DATA" \
  --kafka-port "$KPORT" --registry-port "$RPORT" --admin-addr "127.0.0.1:$APORT" --http-port "$HPORT" \
  --plan-interval 500ms --scan-interval 300ms >"$DEVLOG" 2>&1 </dev/null &
DEV_PID=$!

deadline=$((SECONDS + TIMEOUT))
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$HPORT/healthz" || true)" = 200 ] \
    && [ -s "$DATA/catalog-tokens.yaml" ]; do
  kill -0 "$DEV_PID" 2>/dev/null || die "logmesh dev exited during start"
  [ "$SECONDS" -lt "$deadline" ] || die "the catalog did not answer on 127.0.0.1:$HPORT within ${TIMEOUT}s"
  sleep 0.5
done
log "logmesh dev is up after $((SECONDS - t_test))s"

token() { sed -n "s/.*principal: $1, token: \([^ }]*\).*/\1/p" "$DATA/catalog-tokens.yaml"; }
WM_TOKEN="$(token wm)"
GOV_TOKEN="$(token governance)"
RAW_TOKEN="$(token raw)"
[ -n "$WM_TOKEN" ] && [ -n "$GOV_TOKEN" ] && [ -n "$RAW_TOKEN" ] || die "no wm, raw or governance token in $DATA/catalog-tokens.yaml"

# await TABLE VERSION: until `logmesh tables --json` shows TABLE at VERSION.
await() {
  local t=$1 v=$2 deadline=$((SECONDS + TIMEOUT)) out
  while :; do
    kill -0 "$DEV_PID" 2>/dev/null || die "logmesh dev exited"
    if out="$("${LM[@]}" tables --json 2>/dev/null)" && "$PY" -c '
import json, sys
t, v = sys.argv[1], int(sys.argv[2])
sys.exit(0 if any(r["name"] == t and r["version"] >= v for r in json.load(sys.stdin)) else 1)' "$t" "$v" <<<"$out"; then
      log "$t is at version $v"
      return 0
    fi
    [ "$SECONDS" -lt "$deadline" ] || { "${LM[@]}" files >&2 || true; die "$t never reached version $v within ${TIMEOUT}s"; }
    sleep 0.5
  done
}

"${LM[@]}" land "$TMP/a1.csv" --key a/1.csv >&2
"${LM[@]}" land "$TMP/b1.csv" --key b/1.csv >&2
await raw.a 1
await raw.b 1
# After version 1 is committed, so that the second file is a version of its own.
"${LM[@]}" land "$TMP/a2.csv" --key a/2.csv >&2
await raw.a 2
"${LM[@]}" tables --json >&2

# raw.a's first version's snapshot id, from the catalog's own API.
FIRST="$(curl -sf --max-time 10 -H "Authorization: Bearer $WM_TOKEN" "http://127.0.0.1:$HPORT/v1/tables/raw.a" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(next(v["snapshot_id"] for v in d["versions"] if v["version"] == 1))')" \
  || die "no version 1 of raw.a in the catalog's /v1/tables/raw.a"
log "raw.a version 1 is snapshot $FIRST"

log "running read_catalog.py (pyspark, local[1])"
t_spark=$SECONDS
t_spark_start=$SECONDS
rc=0
(cd "$TMP" && TMPDIR="$TMP" SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$PY" PYSPARK_DRIVER_PYTHON="$PY" "$PY" "$HERE/read_catalog.py" \
  --uri "http://127.0.0.1:$HPORT/iceberg" --token "$WM_TOKEN" --jar "$JAR" \
  --table raw.a --expect k1:1,k2:2,k3:3 --first-snapshot "$FIRST" --expect-first k1:1,k2:2 \
  --namespaces raw --listed raw.a --denied raw.b --gov-token "$GOV_TOKEN" --expect-denied k1:10 \
  --write-table wm.sums --write-columns 'id string NOT NULL, total bigint NOT NULL' \
  --write-sql 'SELECT id, v * 10 FROM lm.raw.a' --expect-written k1:10,k2:20,k3:30 --other-token "$RAW_TOKEN") || rc=$?
t_spark=$((SECONDS - t_spark))
if [ "$rc" -eq 0 ]; then
  # Spark's commits are facts on the log: the create is version 1, the
  # INSERT version 2, and logmesh's own reader sees the engine's rows.
  await wm.sums 2
  got="$("${LM[@]}" query --json 'SELECT sum(total) AS s, count(*) AS n FROM wm.sums')" || die "logmesh query of wm.sums failed"
  "$PY" -c '
import json, sys
rows = json.loads(sys.argv[1])
sys.exit(0 if rows and int(rows[0]["s"]) == 60 and int(rows[0]["n"]) == 3 else 1)' "$got" \
    || die "logmesh query of wm.sums = $got, want s 60 and n 3"
  log "logmesh query reads the engine's commit: $(tr -d ' \n' <<<"$got")"
fi
log "install ${t_install}s, build ${t_build}s, dev + ingestion $((t_spark_start - t_test))s, spark ${t_spark}s"
exit "$rc"
