"""Apache Spark reads logmesh's Iceberg REST catalog as a domain would.

Spark (local[1], in this process) gets one catalog, `lm`, configured with
Iceberg's SparkCatalog, type rest, the catalog's URI and a domain's bearer
token; optionally a second one, `gov`, with governance's token. Then:

  1. SHOW NAMESPACES IN lm and SHOW TABLES IN lm.<ns> list exactly the
     namespaces and tables the domain may read;
  2. SELECT * FROM lm.<table> returns the expected rows (all versions' rows);
  3. the table's snapshots metadata table starts at the first version's
     snapshot, and SELECT ... VERSION AS OF <it> returns the first file's rows;
  4. SELECT * FROM lm.<denied> fails with Iceberg's ForbiddenException;
  5. (with --gov-token) governance reads <denied>'s rows, so 4 was about
     authorization, not a missing table;
  6. (with --write-table) the domain, owning that product, creates its
     table, INSERTs --write-sql's rows and commits them through the same
     catalog (no rows pass through logmesh), reads them back, and a second
     catalog with --other-token (a domain granted the product, not its
     owner) is refused the same INSERT with Iceberg's ForbiddenException.

Rows are compared as sorted "col1:col2:..." strings. Prints each check and a
closing "N passed, N failed" line; exits 1 if any check failed.

  python read_catalog.py --uri http://127.0.0.1:PORT/iceberg --token TOKEN \
      --jar iceberg-spark-runtime-3.5_2.12-X.jar --table raw.a --expect k1:1,k2:2,k3:3 \
      --first-snapshot ID --expect-first k1:1,k2:2 --namespaces raw --listed raw.a --denied raw.b \
      [--gov-token TOKEN --expect-denied k1:10]
"""

import argparse
import os
import shutil
import sys
import tempfile

from pyspark.sql import SparkSession

FORBIDDEN = "org.apache.iceberg.exceptions.ForbiddenException"


def rows_of(df):
    return sorted(":".join("" if v is None else str(v) for v in r) for r in df.collect())


def first_line(e):
    """The line of an exception's text that names it (py4j's starts with "An error occurred")."""
    lines = [ln.strip(": \t") for ln in str(e).splitlines() if ln.strip(": \t")]
    named = [ln for ln in lines if "Exception" in ln or "Error" in ln]
    return (named or lines or [type(e).__name__])[0][:300]


def parse_rows(s):
    return sorted(x for x in s.split(",") if x)


def catalog_conf(b, name, uri, token):
    p = "spark.sql.catalog." + name
    return (b.config(p, "org.apache.iceberg.spark.SparkCatalog")
            .config(p + ".type", "rest")
            .config(p + ".uri", uri)
            .config(p + ".token", token)
            # A static bearer token: say so, and never call an OAuth2 endpoint.
            .config(p + ".rest.auth.type", "oauth2")
            .config(p + ".token-refresh-enabled", "false")
            # Read every load from the catalog, not from the session's cache.
            .config(p + ".cache-enabled", "false"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--uri", required=True, help="the Iceberg REST catalog, http://HOST:PORT/iceberg")
    ap.add_argument("--token", required=True, help="the domain's bearer token")
    ap.add_argument("--jar", required=True, help="the iceberg-spark-runtime jar")
    ap.add_argument("--table", required=True, help="a table the domain may read, ns.name")
    ap.add_argument("--expect", required=True, help="its current rows, comma-separated a:b")
    ap.add_argument("--first-snapshot", required=True, type=int, help="its first version's snapshot id")
    ap.add_argument("--expect-first", required=True, help="its rows as of that snapshot")
    ap.add_argument("--namespaces", required=True, help="the namespaces SHOW NAMESPACES lists, comma-separated")
    ap.add_argument("--listed", required=True, help="the tables SHOW TABLES lists in --table's namespace, comma-separated")
    ap.add_argument("--denied", required=True, help="a table the domain may not read, ns.name")
    ap.add_argument("--gov-token", help="governance's token: it must read --denied")
    ap.add_argument("--expect-denied", help="--denied's rows as governance reads them")
    ap.add_argument("--write-table", help="a product's table the domain owns and commits to, ns.name")
    ap.add_argument("--write-columns", help="its CREATE TABLE columns, e.g. 'id string NOT NULL, total bigint NOT NULL'")
    ap.add_argument("--write-sql", help="the SELECT whose rows the domain INSERTs")
    ap.add_argument("--expect-written", help="--write-table's rows after the INSERT")
    ap.add_argument("--other-token", help="a token that may read --write-table but not commit to it")
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="logmesh-spark-")
    try:
        return run(a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(a, work):
    b = (SparkSession.builder.master("local[1]").appName("logmesh-read-catalog")
         .config("spark.jars", a.jar)
         .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
         .config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", "1")
         .config("spark.local.dir", os.path.join(work, "local"))
         .config("spark.sql.warehouse.dir", os.path.join(work, "spark-warehouse"))
         .config("spark.driver.extraJavaOptions", "-Dderby.system.home=" + work))
    b = catalog_conf(b, "lm", a.uri, a.token)
    if a.gov_token:
        b = catalog_conf(b, "gov", a.uri, a.gov_token)
    if a.other_token:
        b = catalog_conf(b, "other", a.uri, a.other_token)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    jvm = spark._jvm
    print("spark: Spark %s, %s, catalog lm = %s" % (
        spark.version, jvm.org.apache.iceberg.IcebergBuild.fullVersion(), a.uri), flush=True)

    passed, failed = [], []

    def check(name, fn):
        """fn returns (ok, what it saw); an exception is a failure too."""
        try:
            ok, detail = fn()
        except Exception as e:
            ok, detail = False, "raised " + first_line(e)
        (passed if ok else failed).append(name)
        print("spark: %s %s: %s" % ("PASS" if ok else "FAIL", name, detail), flush=True)

    ns = a.table.split(".")[0]
    table, denied = "lm." + a.table, "lm." + a.denied

    # 1. What the domain sees listed.
    def namespaces():
        got, want = sorted(r.namespace for r in spark.sql("SHOW NAMESPACES IN lm").collect()), parse_rows(a.namespaces)
        return got == want, "SHOW NAMESPACES IN lm = %s, want %s" % (got, want)

    def listed():
        got = sorted("%s.%s" % (r.namespace, r.tableName) for r in spark.sql("SHOW TABLES IN lm." + ns).collect())
        want = parse_rows(a.listed)
        return got == want, "SHOW TABLES IN lm.%s = %s, want %s" % (ns, got, want)

    # 2. The current rows.
    def read():
        got, want = rows_of(spark.sql("SELECT * FROM %s" % table)), parse_rows(a.expect)
        return got == want, "SELECT * FROM %s = %s, want %s" % (table, got, want)

    # How the table's files are read (the REST catalog's FileIO for file://).
    def fileio():
        io = spark._jsparkSession.sessionState().catalogManager().catalog("lm").icebergCatalog() \
            .loadTable(jvm.org.apache.iceberg.catalog.TableIdentifier.parse(a.table)).io()
        how = io.getClass().getName()
        if how.endswith("ResolvingFileIO"):
            how += " -> " + io.ioClass("file:///").getName()
        return True, "%s's files are read with %s" % (table, how)

    # 3. The first version's snapshot is the table's first, and time travel to it.
    def snapshots():
        snaps = spark.sql("SELECT snapshot_id, parent_id FROM %s.snapshots ORDER BY committed_at" % table).collect()
        ok = bool(snaps) and snaps[0].snapshot_id == a.first_snapshot and snaps[0].parent_id is None
        return ok, "%s.snapshots = %s, want %d first" % (table, [r.snapshot_id for r in snaps], a.first_snapshot)

    def time_travel():
        q = "SELECT * FROM %s VERSION AS OF %d" % (table, a.first_snapshot)
        got, want = rows_of(spark.sql(q)), parse_rows(a.expect_first)
        return got == want, "%s = %s, want %s" % (q, got, want)

    # 4. Not granted: Iceberg's ForbiddenException, from the catalog's 403.
    def refused():
        try:
            got = rows_of(spark.sql("SELECT * FROM %s" % denied))
        except Exception as e:  # py4j's Py4JJavaError carrying the Java exception
            text = str(e)
            line = next((ln.strip(": \t") for ln in text.splitlines() if FORBIDDEN in ln), first_line(e))
            return FORBIDDEN in text, "SELECT * FROM %s failed with %s" % (denied, line[:300])
        return False, "SELECT * FROM %s returned %s, want %s" % (denied, got, FORBIDDEN)

    # 5. Governance reads it: the refusal was about the grant, not a missing table.
    def governance():
        got, want = rows_of(spark.sql("SELECT * FROM gov.%s" % a.denied)), parse_rows(a.expect_denied or "")
        return got == want, "SELECT * FROM gov.%s = %s, want %s" % (a.denied, got, want)

    # 6. An engine's commit: the owner creates, writes and commits; another
    # domain may not.
    wt = "lm." + (a.write_table or "")

    def create():
        spark.sql("CREATE TABLE IF NOT EXISTS %s (%s) USING iceberg" % (wt, a.write_columns))
        return True, "CREATE TABLE %s (%s)" % (wt, a.write_columns)

    def insert():
        spark.sql("INSERT INTO %s %s" % (wt, a.write_sql))
        got, want = rows_of(spark.sql("SELECT * FROM %s" % wt)), parse_rows(a.expect_written)
        return got == want, "INSERT INTO %s %s, then SELECT * = %s, want %s" % (wt, a.write_sql, got, want)

    def write_refused():
        other = "other." + a.write_table
        try:
            spark.sql("INSERT INTO %s %s" % (other, a.write_sql))
        except Exception as e:
            text = str(e)
            line = next((ln.strip(": \t") for ln in text.splitlines() if FORBIDDEN in ln), first_line(e))
            return FORBIDDEN in text, "INSERT INTO %s failed with %s" % (other, line[:300])
        return False, "INSERT INTO %s was committed, want %s" % (other, FORBIDDEN)

    check("namespaces", namespaces)
    check("list", listed)
    check("read", read)
    check("fileio", fileio)
    check("snapshots", snapshots)
    check("time-travel", time_travel)
    check("denied", refused)
    if a.gov_token:
        check("governance", governance)
    if a.write_table:
        check("create", create)
        check("insert-commit", insert)
        if a.other_token:
            check("commit-denied", write_refused)

    spark.stop()
    print("spark: %d passed, %d failed" % (len(passed), len(failed)), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
