//go:build tools

// Package internal pins modules that packages import while they are being
// written, so go mod tidy keeps them. See docs/decisions/0002-dependencies.md.
package internal

import (
	_ "github.com/apache/iceberg-go/catalog"
	_ "github.com/apache/iceberg-go/table"
	_ "github.com/cockroachdb/pebble/v2"
	_ "github.com/duckdb/duckdb-go/v2"
	_ "github.com/goccy/go-yaml"
	_ "github.com/hamba/avro/v2"
	_ "github.com/minio/minio-go/v7"
	_ "github.com/parquet-go/parquet-go"
	_ "github.com/twmb/franz-go/pkg/sr"
	_ "github.com/twmb/franz-go/plugin/kslog"
)
