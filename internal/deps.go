//go:build tools

// Package internal pins modules that the substrate's packages import while
// they are being written, so go mod tidy keeps them.
package internal

import (
	_ "github.com/cockroachdb/pebble/v2"
	_ "github.com/hamba/avro/v2"
	_ "github.com/twmb/franz-go/pkg/sr"
	_ "github.com/twmb/franz-go/plugin/kslog"
)
