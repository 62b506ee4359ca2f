#!/usr/bin/env bash
# A real Apache Spark 3.5 for tests: pyspark from PyPI in a Python venv and
# Apache Iceberg's Spark runtime jar from Maven Central, nothing else (no
# Spark tarball, no --packages download at run time). Spark runs in local
# mode inside the pyspark process; the Iceberg REST catalog client and the
# Hadoop FileIO for file:// tables come with those two (the REST client is in
# the runtime jar, Hadoop's client jars are in pyspark's jars/).
#
#   deploy/spark/spark.sh install   venv + jar into .cache/ (idempotent)
#   deploy/spark/spark.sh python    print the venv's python (after install)
#   deploy/spark/spark.sh jar       print the Iceberg runtime jar's path (after install)
#   deploy/spark/spark.sh version   print "pyspark X iceberg Y"
#
# Environment:
#   LOGMESH_SPARK_CACHE   where the venv and the jar go (default deploy/spark/.cache)
#   LOGMESH_SPARK_PYTHON  the Python that makes the venv (default python3; 3.8 to 3.11)
#   JAVA_HOME             Java 17 (or 11) to run Spark with (default: java on PATH)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The pins: one place to change.
PYSPARK_VERSION="3.5.9"
PY4J_VERSION="0.10.9.9"          # what pyspark 3.5.9 requires (>=0.10.9.7,<0.10.9.10)
ICEBERG_VERSION="1.12.0"
ICEBERG_ARTIFACT="org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:$ICEBERG_VERSION"

CACHE="${LOGMESH_SPARK_CACHE:-$HERE/.cache}"
VENV="$CACHE/venv"
JARS="$CACHE/jars"
JAR="$JARS/iceberg-spark-runtime-3.5_2.12-$ICEBERG_VERSION.jar"
STAMP="$CACHE/.installed"
PYTHON="${LOGMESH_SPARK_PYTHON:-python3}"
# maven-dependency-plugin pinned, as in deploy/kafka: Maven 3.8's default is ancient.
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

log() { echo "spark.sh: $*" >&2; }
die() { log "$*"; exit 1; }

java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    echo "$JAVA_HOME/bin/java"
  else
    command -v java || die "java not found (Spark 3.5 needs Java 17 or 11; set JAVA_HOME or put java on PATH)"
  fi
}

check_java() {
  local j v
  j="$(java_bin)"
  v="$("$j" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  case "$v" in
    11|17) ;;
    1.*|9|10) die "Spark 3.5 with Iceberg $ICEBERG_VERSION needs Java 11 or 17, $j is $v" ;;
    *) log "warning: $j is Java $v; Spark 3.5 supports Java 8, 11 and 17 (set JAVA_HOME to a Java 17)" ;;
  esac
}

check_python() {
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set LOGMESH_SPARK_PYTHON)"
  local v
  v="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  case "$v" in
    3.8|3.9|3.10|3.11) ;;
    *) log "warning: pyspark $PYSPARK_VERSION supports Python 3.8 to 3.11, $PYTHON is $v" ;;
  esac
}

installed_stamp() {
  echo "pyspark=$PYSPARK_VERSION py4j=$PY4J_VERSION iceberg=$ICEBERG_VERSION python=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)"
}

is_installed() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(installed_stamp)" ] && [ -x "$VENV/bin/python" ] && [ -f "$JAR" ]
}

install_venv() {
  local t0=$SECONDS pylog="$CACHE/pip-install.log"
  log "installing pyspark $PYSPARK_VERSION into $VENV (pip, PyPI)"
  # A venv is not relocatable: build it in place; the stamp, written last,
  # says it is whole.
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || die "$PYTHON -m venv failed"
  if ! "$VENV/bin/python" -m pip install --no-input --disable-pip-version-check \
      "pyspark==$PYSPARK_VERSION" "py4j==$PY4J_VERSION" </dev/null >"$pylog" 2>&1; then
    tail -n 40 "$pylog" >&2
    rm -rf "$VENV"
    die "pip failed to install pyspark $PYSPARK_VERSION (full output: $pylog)"
  fi
  local got
  got="$("$VENV/bin/python" -c 'import pyspark; print(pyspark.__version__)')"
  [ "$got" = "$PYSPARK_VERSION" ] || die "venv has pyspark $got, want $PYSPARK_VERSION"
  log "pyspark $PYSPARK_VERSION installed ($(du -sh "$VENV" | cut -f1)) in $((SECONDS - t0))s"
}

install_jar() {
  local t0=$SECONDS mvnlog="$CACHE/mvn-install.log" tmp="$CACHE/jars.tmp.$$"
  command -v mvn >/dev/null || die "mvn not found (Maven 3.8+ fetches the Iceberg runtime from Maven Central)"
  log "fetching $ICEBERG_ARTIFACT into $JARS (Maven)"
  rm -rf "$tmp"
  # The runtime jar is shaded and self-contained: no transitive jars.
  if ! mvn -B --no-transfer-progress -Dstyle.color=never \
      "$DEP_PLUGIN:copy" -Dartifact="$ICEBERG_ARTIFACT" -Dtransitive=false \
      -DoutputDirectory="$tmp" </dev/null >"$mvnlog" 2>&1; then
    tail -n 40 "$mvnlog" >&2
    rm -rf "$tmp"
    die "mvn failed to fetch $ICEBERG_ARTIFACT (full output: $mvnlog)"
  fi
  local f="$tmp/$(basename "$JAR")"
  [ -f "$f" ] || { rm -rf "$tmp"; die "$(basename "$JAR") missing after mvn"; }
  # It must hold the classes the test configures: the catalog and the REST client.
  "$PYTHON" - "$f" <<'EOF' || { rm -rf "$tmp"; die "$f is not the Iceberg Spark runtime"; }
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
for c in ("org/apache/iceberg/spark/SparkCatalog.class", "org/apache/iceberg/rest/RESTCatalog.class"):
    if c not in names:
        sys.exit("missing " + c)
EOF
  rm -rf "$JARS"
  mv "$tmp" "$JARS"
  log "Iceberg $ICEBERG_VERSION runtime jar ($(du -h "$JAR" | cut -f1)) in $((SECONDS - t0))s"
}

cmd_install() {
  check_python
  if is_installed; then
    log "pyspark $PYSPARK_VERSION and Iceberg $ICEBERG_VERSION already installed in $CACHE"
    return 0
  fi
  check_java
  mkdir -p "$CACHE"
  rm -f "$STAMP"
  local t0=$SECONDS
  if [ ! -x "$VENV/bin/python" ] || [ "$("$VENV/bin/python" -c 'import pyspark; print(pyspark.__version__)' 2>/dev/null)" != "$PYSPARK_VERSION" ]; then
    install_venv
  fi
  [ -f "$JAR" ] || install_jar
  installed_stamp >"$STAMP"
  log "installed in $((SECONDS - t0))s"
}

require_installed() {
  is_installed || die "pyspark $PYSPARK_VERSION / Iceberg $ICEBERG_VERSION not installed: run '$0 install' first"
}

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

case "${1:-}" in
  install) cmd_install ;;
  python) require_installed; echo "$VENV/bin/python" ;;
  jar) require_installed; echo "$JAR" ;;
  version) echo "pyspark $PYSPARK_VERSION iceberg $ICEBERG_VERSION" ;;
  *) usage ;;
esac
