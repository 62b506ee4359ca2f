// Package tables keeps logmesh's Apache Iceberg tables (format v2): a
// warehouse (a local directory, or S3/MinIO), an iceberg-go
// catalog.Catalog whose commits are TableCommitted events, and the
// loader's write path (parquet-go data files, append and copy-on-write
// upsert, idempotent by batch id).
//
// # Event-sourced pointers
//
// The catalog stores nothing itself. Where a table's current metadata is
// comes from Pointers, a projection of TableCommitted events; a commit
// writes <table>/metadata/<version>-<uuid>.metadata.json (version zero-
// padded to five digits, as iceberg-go names it) and hands a
// TableCommitted to a Committer, which makes it durable (produces it to
// Kafka). Versions count from 1. MemPointers is the in-memory fold and
// test double.
//
// # Layout
//
//	<warehouse>/<domain>/<table>/metadata/00001-<uuid>.metadata.json
//	<warehouse>/<domain>/<table>/metadata/snap-*.avro, *-m0.avro (iceberg-go)
//	<warehouse>/<domain>/<table>/data/<batch id>-<n>.parquet
//	<warehouse>/<domain>/<table>/data/<batch id>-<n>-f<k>.parquet (source k of a Batch)
//
// Every location a local warehouse writes — table, metadata JSON,
// manifest list, manifest, data file — is an absolute file URI
// (file:///abs/dir/...), so Spark, DuckDB or PyIceberg resolve it without
// guessing a file system. Tables written before that have bare paths;
// they stay readable, and their next Write moves the table location to
// the URI (files already written keep their bare paths, which resolve
// as local paths).
//
// # Schema and data files
//
// The Iceberg schema has the contract's fields in order, with ids 1, 2,
// ...; an upsert table's primary key is its identifier-field-ids when
// Iceberg allows it (required, not float or double; see
// Contract.PrimaryKey), set on tables created earlier by their next
// upsert Write. Data files have the same columns in the same order with
// the same Parquet field ids (readers may map by id or name), are
// zstd-compressed and PLAIN-encoded (levels RLE): Iceberg's vectorized
// reader in Spark reads only PLAIN and dictionary pages, and parquet-go's
// default for strings, DELTA_LENGTH_BYTE_ARRAY, is neither. They are
// registered with Transaction.AddFiles (append) or ReplaceDataFiles
// (upsert), so a snapshot's file list alone is the table: no delete files.
//
// # Attribution
//
// A Write reports what became of the batch's rows: RowsAdded are in the
// new version, RowsSuperseded lost their key to a newer row (already in
// the table, or later in the batch), and when the Rows implement
// SourceRows, WriteResult.Sources splits both per source (per file of a
// batch). The counts are kept in the snapshot summary, so a deduplicated
// Write returns them too.
//
// # Batches in parts
//
// Catalog.Begin starts a Batch of an append table: its rows come from
// sources, each kept or dropped at its end, and Commit commits the kept
// ones as one version (WriteResult.Sources per kept source). A dropped
// source's rows are in no referenced data file and its own data files are
// removed, which lets the loader validate and write a file in one pass
// and still leave out a file it rejects at its end (docs/decisions/0005).
//
// # Guarantees and limits
//
//   - One writer per table (logmesh keys batches by table). A commit
//     against a pointer that moved fails with ErrStalePointer, which wraps
//     iceberg-go's table.ErrCommitFailed; tables created here set
//     commit.retry.num-retries=0 so iceberg-go does not replay the commit
//     (a replay would bypass the batch-id check).
//   - Append streams: memory is about one Parquet row group per write
//     (for a Batch, two: its shared files' and its open source's own,
//     plus the first 4 MiB of values of that source).
//     Upsert holds the batch's distinct keys and winning rows in memory
//     (bounded by the batch size) and streams existing files one at a time,
//     reading each candidate file twice (find, then rewrite).
//   - Schema evolution is not supported yet: a contract whose schema
//     differs from the table's returns ErrSchemaMismatch.
//   - S3 goes through minio-go (s3IO), not iceberg-go's io/gocloud/s3,
//     whose AWS SDK and gocloud modules are not in logmesh's go.mod. The
//     warehouse properties use iceberg-go's keys (s3.endpoint,
//     s3.access-key-id, ...), so an external engine reads the same tables
//     with the same settings.
package tables
