package tables

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	icebergio "github.com/apache/iceberg-go/io"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Warehouse properties for S3 locations. The keys are iceberg-go's
// (io.S3EndpointURL and friends), so the same property map configures an
// external engine's FileIO; PropS3PathStyle is Iceberg Java's key.
const (
	PropS3Endpoint  = icebergio.S3EndpointURL     // "s3.endpoint", e.g. http://127.0.0.1:9000
	PropS3Region    = icebergio.S3Region          // "s3.region", default us-east-1
	PropS3AccessKey = icebergio.S3AccessKeyID     // "s3.access-key-id"
	PropS3SecretKey = icebergio.S3SecretAccessKey // "s3.secret-access-key"
	PropS3Session   = icebergio.S3SessionToken    // "s3.session-token"
	// PropS3PathStyle selects path-style bucket addressing ("true" by
	// default when an endpoint is set, as MinIO wants).
	PropS3PathStyle = "s3.path-style-access"
)

// ErrWarehouse reports a bad warehouse location or properties.
var ErrWarehouse = errors.New("tables: bad warehouse")

// Warehouse is where tables live: a local directory (dev) or an S3 bucket
// prefix (production, MinIO). Table locations are
// <warehouse>/<domain>/<table>. A Warehouse holds no open resources (there
// is nothing to close) and is safe for concurrent use.
type Warehouse struct {
	location string // without trailing slash
	props    map[string]string
	fs       icebergio.IO
}

// OpenWarehouse opens the warehouse at location: "file:///abs/dir" or a
// plain path (made absolute) for a local directory, "s3://bucket/prefix"
// for S3. A local warehouse's location, and so every table, metadata and
// data file location it writes, is a file URI (file:///abs/dir), except
// for a directory whose path contains '%', '?' or '#' (see
// localLocation); tables written earlier with bare paths stay readable,
// and their next Write moves them to the URI form. For S3, props carries the PropS3* settings; they are also kept
// for the IO of every table. ctx bounds nothing yet (reserved for probing
// the store).
//
// S3 access uses minio-go rather than iceberg-go's io/gocloud/s3, whose
// AWS SDK and gocloud modules are not in logmesh's module graph; the IO
// below implements iceberg-go's io.IO, ReadFileIO and WriteFileIO.
func OpenWarehouse(ctx context.Context, location string, props map[string]string) (*Warehouse, error) {
	_ = ctx
	if location == "" {
		return nil, fmt.Errorf("%w: empty location", ErrWarehouse)
	}
	w := &Warehouse{props: maps.Clone(props)}
	if w.props == nil {
		w.props = map[string]string{}
	}
	switch {
	case strings.HasPrefix(location, "s3://") || strings.HasPrefix(location, "s3a://"):
		u, err := url.Parse(location)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("%w: %q: want s3://bucket/prefix", ErrWarehouse, location)
		}
		fs, err := newS3IO(w.props)
		if err != nil {
			return nil, err
		}
		w.fs = fs
		w.location = "s3://" + u.Host + strings.TrimRight(u.Path, "/")
	case strings.HasPrefix(location, "file://"):
		u, err := url.Parse(location)
		if err != nil || (u.Host != "" && u.Host != "localhost") || !strings.HasPrefix(u.Path, "/") {
			return nil, fmt.Errorf("%w: %q: want file:///absolute/dir", ErrWarehouse, location)
		}
		w.fs = icebergio.LocalFS{}
		w.location = localLocation(u.Path)
	case strings.Contains(location, "://"):
		return nil, fmt.Errorf("%w: %q: unsupported scheme (want file://, s3:// or a path)", ErrWarehouse, location)
	default:
		abs, err := filepath.Abs(location)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrWarehouse, location, err)
		}
		w.fs = icebergio.LocalFS{}
		w.location = localLocation(filepath.ToSlash(abs))
	}
	return w, nil
}

// localLocation returns the location of a local warehouse directory (an
// absolute, slash-separated path): the file URI file:///abs/dir, so that
// other engines (Spark's Hadoop FileIO, DuckDB, PyIceberg) resolve table,
// metadata and data file locations without guessing a file system.
//
// The URI is not percent-encoded, because engines disagree: iceberg-go
// decodes file URIs (url.Parse), Hadoop's Path takes them literally. A
// literal URI reads the same in both unless the path holds '%', '?' or
// '#', so a directory whose path does keeps bare-path locations (as all
// local warehouses had before), which every engine reads as a local path.
func localLocation(dir string) string {
	dir = strings.TrimRight(dir, "/") // the root becomes "": tables at file:///<domain>/<table>
	if strings.ContainsAny(dir, "%?#") {
		return dir
	}
	if dir != "" && !strings.HasPrefix(dir, "/") { // a Windows drive: file:///C:/dir
		dir = "/" + dir
	}
	return "file://" + dir
}

// bareLocation returns the bare-path form of a file URI location that
// localLocation made (file:///abs/dir → /abs/dir), and any other location
// as it is. Tables written before locations were URIs have bare paths.
func bareLocation(loc string) string {
	p, ok := strings.CutPrefix(loc, "file://")
	if !ok {
		return loc
	}
	if len(p) >= 3 && p[0] == '/' && p[2] == ':' { // /C:/dir
		p = p[1:]
	}
	return p
}

// Location returns the warehouse location, without a trailing slash.
func (w *Warehouse) Location() string { return w.location }

// TableLocation returns the location of a table: <warehouse>/<domain>/<table>.
func (w *Warehouse) TableLocation(domain, tbl string) string {
	return w.location + "/" + domain + "/" + tbl
}

// IO returns the warehouse's file IO. It is shared and safe for
// concurrent use; it has nothing to close.
func (w *Warehouse) IO() icebergio.IO { return w.fs }

// fsF is the table.FSysF of every table of the warehouse.
func (w *Warehouse) fsF(context.Context) (icebergio.IO, error) { return w.fs, nil }

// writeIO returns the warehouse IO as a WriteFileIO.
func (w *Warehouse) writeIO() (icebergio.WriteFileIO, error) {
	wfs, ok := w.fs.(icebergio.WriteFileIO)
	if !ok {
		return nil, fmt.Errorf("%w: IO %T cannot write", ErrWarehouse, w.fs)
	}
	return wfs, nil
}

// newS3Client builds a minio-go client from warehouse properties.
func newS3Client(props map[string]string) (*minio.Client, error) {
	endpoint := props[PropS3Endpoint]
	secure := true
	host := "s3.amazonaws.com"
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("%w: %s=%q: want http(s)://host:port", ErrWarehouse, PropS3Endpoint, endpoint)
		}
		host, secure = u.Host, u.Scheme != "http"
	}
	lookup := minio.BucketLookupAuto
	if endpoint != "" {
		lookup = minio.BucketLookupPath
	}
	if v, ok := props[PropS3PathStyle]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s=%q: %w", ErrWarehouse, PropS3PathStyle, v, err)
		}
		lookup = minio.BucketLookupDNS
		if b {
			lookup = minio.BucketLookupPath
		}
	}
	region := props[PropS3Region]
	if region == "" {
		region = "us-east-1"
	}
	var creds *credentials.Credentials
	if ak := props[PropS3AccessKey]; ak != "" {
		creds = credentials.NewStaticV4(ak, props[PropS3SecretKey], props[PropS3Session])
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.IAM{}})
	}
	cl, err := minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: region, BucketLookup: lookup})
	if err != nil {
		return nil, fmt.Errorf("%w: s3 client: %w", ErrWarehouse, err)
	}
	return cl, nil
}
