package platform

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/logmesh/logmesh/processors/ingest"
	"github.com/logmesh/logmesh/tables"
)

// OpenLanding opens a landing area: a local directory (created if missing)
// or s3://bucket/prefix.
func OpenLanding(ctx context.Context, location string, s3 S3) (ingest.Source, error) {
	if rest, ok := strings.CutPrefix(location, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		src, err := ingest.NewS3Source(ctx, s3.Endpoint, bucket, prefix,
			ingest.S3Credentials(s3.AccessKey, s3.SecretKey), ingest.S3Secure(!s3.Insecure),
			ingest.S3Region(s3.Region), ingest.S3CreateBucket(true))
		if err != nil {
			return nil, fmt.Errorf("platform: landing %s: %w", location, err)
		}
		return src, nil
	}
	if err := os.MkdirAll(location, 0o755); err != nil {
		return nil, fmt.Errorf("platform: landing: %w", err)
	}
	src, err := ingest.NewLocalSource(location)
	if err != nil {
		return nil, fmt.Errorf("platform: landing: %w", err)
	}
	return src, nil
}

// OpenWarehouse opens a warehouse: a local directory (created if missing) or
// s3://bucket/prefix (tables.Open).
func OpenWarehouse(ctx context.Context, location string, s3 S3) (*tables.Warehouse, error) {
	wh, err := tables.Open(ctx, location, s3)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	return wh, nil
}
