package platform

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/logmesh/logmesh/examples"
	"github.com/logmesh/logmesh/mesh"
	"github.com/logmesh/logmesh/tables"
	"github.com/logmesh/logmesh/processors/ingest"
)

// ExampleMesh returns the embedded example mesh (examples/mesh.yaml).
func ExampleMesh() (*mesh.Mesh, error) {
	data, err := examples.FS.ReadFile("mesh.yaml")
	if err != nil {
		return nil, err
	}
	return mesh.Parse(data, "examples/mesh.yaml", ".")
}

// SeedLanding copies the example files into an empty or missing landing
// directory, so a first `logmesh dev` has files to load.
func SeedLanding(dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil
	}
	return fs.WalkDir(examples.FS, "landing", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := examples.FS.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(path, "landing/")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
}

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
// s3://bucket/prefix.
func OpenWarehouse(ctx context.Context, location string, s3 S3) (*tables.Warehouse, error) {
	props := map[string]string{}
	if rest, ok := strings.CutPrefix(location, "s3://"); ok {
		bucket, _, _ := strings.Cut(rest, "/")
		if err := ensureBucket(ctx, s3, bucket); err != nil {
			return nil, fmt.Errorf("platform: warehouse %s: %w", location, err)
		}
		scheme := "https://"
		if s3.Insecure {
			scheme = "http://"
		}
		props[tables.PropS3Endpoint] = scheme + s3.Endpoint
		props[tables.PropS3AccessKey] = s3.AccessKey
		props[tables.PropS3SecretKey] = s3.SecretKey
		if s3.Region != "" {
			props[tables.PropS3Region] = s3.Region
		}
	} else {
		if err := os.MkdirAll(location, 0o755); err != nil {
			return nil, fmt.Errorf("platform: warehouse: %w", err)
		}
		abs, err := filepath.Abs(location)
		if err != nil {
			return nil, err
		}
		location = abs
	}
	wh, err := tables.OpenWarehouse(ctx, location, props)
	if err != nil {
		return nil, fmt.Errorf("platform: warehouse %s: %w", location, err)
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
