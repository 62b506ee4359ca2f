package tables

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 says how to reach an S3-compatible object store. Secrets are never
// recorded on the log.
type S3 struct {
	Endpoint  string // host:port, no scheme
	AccessKey string
	SecretKey string
	Region    string // default us-east-1
	Insecure  bool   // plain HTTP (a local MinIO)
}

// Open opens a warehouse location: a local directory (created if missing)
// or s3://bucket/prefix on the object store s3 names (the bucket created
// if missing).
func Open(ctx context.Context, location string, s3 S3) (*Warehouse, error) {
	props := map[string]string{}
	if rest, ok := strings.CutPrefix(location, "s3://"); ok {
		bucket, _, _ := strings.Cut(rest, "/")
		if err := ensureBucket(ctx, s3, bucket); err != nil {
			return nil, fmt.Errorf("tables: warehouse %s: %w", location, err)
		}
		scheme := "https://"
		if s3.Insecure {
			scheme = "http://"
		}
		props[PropS3Endpoint] = scheme + s3.Endpoint
		props[PropS3AccessKey] = s3.AccessKey
		props[PropS3SecretKey] = s3.SecretKey
		if s3.Region != "" {
			props[PropS3Region] = s3.Region
		}
	} else {
		if err := os.MkdirAll(location, 0o755); err != nil {
			return nil, fmt.Errorf("tables: warehouse: %w", err)
		}
		abs, err := filepath.Abs(location)
		if err != nil {
			return nil, err
		}
		location = abs
	}
	wh, err := OpenWarehouse(ctx, location, props)
	if err != nil {
		return nil, fmt.Errorf("tables: warehouse %s: %w", location, err)
	}
	return wh, nil
}

// ensureBucket creates bucket if it does not exist.
func ensureBucket(ctx context.Context, s3 S3, bucket string) error {
	mc, err := minio.New(s3.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, ""),
		Secure: !s3.Insecure, Region: s3.Region,
	})
	if err != nil {
		return err
	}
	ok, err := mc.BucketExists(ctx, bucket)
	if err != nil || ok {
		return err
	}
	err = mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: s3.Region})
	if err != nil && minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
		return nil
	}
	return err
}
