package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Source is a landing area in an S3 bucket (AWS S3, MinIO, or any
// S3-compatible store), optionally under a key prefix; keys are relative to
// the prefix. Object.Version is the object's ETag. It is safe for concurrent
// use and holds no resources to close.
type S3Source struct {
	cl     *minio.Client
	bucket string
	prefix string
}

var _ Source = (*S3Source)(nil)

// S3Option configures an S3Source.
type S3Option func(*s3Config)

type s3Config struct {
	creds  *credentials.Credentials
	secure bool
	region string
	create bool
}

// S3Credentials sets static access and secret keys. By default the
// credentials come from the environment: AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY, then MINIO_ROOT_USER / MINIO_ROOT_PASSWORD.
func S3Credentials(accessKey, secretKey string) S3Option {
	return func(c *s3Config) { c.creds = credentials.NewStaticV4(accessKey, secretKey, "") }
}

// S3Secure sets whether to use HTTPS. Default true; a local MinIO on
// 127.0.0.1 needs S3Secure(false).
func S3Secure(secure bool) S3Option { return func(c *s3Config) { c.secure = secure } }

// S3Region sets the region. Default "" (the client discovers it).
func S3Region(region string) S3Option { return func(c *s3Config) { c.region = region } }

// S3CreateBucket sets whether NewS3Source creates the bucket when it is
// missing. Default false: a missing bucket is an error.
func S3CreateBucket(create bool) S3Option { return func(c *s3Config) { c.create = create } }

// NewS3Source returns a Source over bucket at endpoint ("host:port", no
// scheme). prefix, if not empty, is a slash-separated folder in the bucket
// ("landing" or "landing/"); keys are relative to it. NewS3Source checks
// that the bucket exists (creating it with S3CreateBucket(true)), so ctx
// bounds a network round trip.
func NewS3Source(ctx context.Context, endpoint, bucket, prefix string, opts ...S3Option) (*S3Source, error) {
	cfg := s3Config{secure: true}
	for _, o := range opts {
		o(&cfg)
	}
	if endpoint == "" || bucket == "" {
		return nil, errors.New("ingest: NewS3Source: endpoint and bucket are required")
	}
	if strings.Contains(endpoint, "://") {
		return nil, fmt.Errorf("ingest: NewS3Source: endpoint %q must be host:port without a scheme (see S3Secure)", endpoint)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := ValidKey(prefix); err != nil {
			return nil, fmt.Errorf("ingest: NewS3Source: prefix: %w", err)
		}
		prefix += "/"
	}
	if cfg.creds == nil {
		cfg.creds = credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.EnvMinio{}})
	}
	cl, err := minio.New(endpoint, &minio.Options{Creds: cfg.creds, Secure: cfg.secure, Region: cfg.region})
	if err != nil {
		return nil, fmt.Errorf("ingest: S3 client for %s: %w", endpoint, err)
	}
	ok, err := cl.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("ingest: bucket %s at %s: %w", bucket, endpoint, err)
	}
	if !ok {
		if !cfg.create {
			return nil, fmt.Errorf("ingest: bucket %s at %s does not exist", bucket, endpoint)
		}
		if err := cl.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: cfg.region}); err != nil {
			// Another process may have created it meanwhile.
			if ok, err2 := cl.BucketExists(ctx, bucket); err2 != nil || !ok {
				return nil, fmt.Errorf("ingest: create bucket %s at %s: %w", bucket, endpoint, err)
			}
		}
	}
	return &S3Source{cl: cl, bucket: bucket, prefix: prefix}, nil
}

// Name returns the bucket name.
func (s *S3Source) Name() string { return s.bucket }

// Bucket returns the bucket name; it marks S3Source as an object store.
func (s *S3Source) Bucket() string { return s.bucket }

// List returns every object under the prefix, recursively, skipping
// "folder" markers, temporary names (see IsTemp) and keys that are not
// valid (see ValidKey).
func (s *S3Source) List(ctx context.Context) ([]Object, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine on an early return
	var out []Object
	for oi := range s.cl.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, fmt.Errorf("ingest: listing s3://%s/%s: %w", s.bucket, s.prefix, oi.Err)
		}
		key := strings.TrimPrefix(oi.Key, s.prefix)
		if strings.HasSuffix(key, "/") || IsTemp(key) || ValidKey(key) != nil {
			continue
		}
		out = append(out, Object{
			Key:         key,
			Size:        oi.Size,
			ModTime:     oi.LastModified,
			Version:     strings.Trim(oi.ETag, `"`),
			ContentType: oi.ContentType,
		})
	}
	return out, nil
}

// Open starts a GET of the object; the caller closes the reader. A missing
// object gives an error wrapping fs.ErrNotExist.
func (s *S3Source) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	obj, err := s.cl.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.wrap("open", key, err)
	}
	// GetObject is lazy; Stat makes a missing object an error here.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s.wrap("open", key, err)
	}
	return obj, nil
}

// Put uploads size bytes from r under key with a content type derived from
// the key (see ContentType). S3 makes an object visible only when its upload
// completes. size < 0 means unknown (a multipart upload).
func (s *S3Source) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	ct := ContentType(key)
	if ct == "" {
		ct = "application/octet-stream"
	}
	if _, err := s.cl.PutObject(ctx, s.bucket, s.prefix+key, r, size, minio.PutObjectOptions{ContentType: ct}); err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

func (s *S3Source) wrap(op, key string, err error) error {
	if minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
		return fmt.Errorf("ingest: %s s3://%s/%s%s: %w (%w)", op, s.bucket, s.prefix, key, fs.ErrNotExist, err)
	}
	return fmt.Errorf("ingest: %s s3://%s/%s%s: %w", op, s.bucket, s.prefix, key, err)
}
