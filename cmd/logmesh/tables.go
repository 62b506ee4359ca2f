package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/processors/pointers"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/query"
	"github.com/logmesh/logmesh/tables"
)

// s3Flags are the flags that say how to reach the object store of s3://
// landing and warehouse locations. Their defaults come from the
// environment, so a shell set up for the AWS CLI or a MinIO needs none.
type s3Flags struct {
	endpoint, accessKey, secretKey, region string
	insecure                               bool
}

// addS3Flags registers the S3 flags on fs; dev, land, tables and query share
// them.
func addS3Flags(fs *flag.FlagSet) *s3Flags {
	f := &s3Flags{}
	fs.StringVar(&f.endpoint, "s3-endpoint", envOr("LOGMESH_S3_ENDPOINT", os.Getenv("AWS_ENDPOINT_URL_S3")),
		"S3 endpoint host:port, or an http(s):// URL (default $LOGMESH_S3_ENDPOINT, then $AWS_ENDPOINT_URL_S3, then AWS)")
	fs.StringVar(&f.accessKey, "s3-access-key", os.Getenv("AWS_ACCESS_KEY_ID"), "S3 access key (default $AWS_ACCESS_KEY_ID)")
	fs.StringVar(&f.secretKey, "s3-secret-key", os.Getenv("AWS_SECRET_ACCESS_KEY"), "S3 secret key (default $AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&f.region, "s3-region", os.Getenv("AWS_REGION"), "S3 region (default $AWS_REGION, then us-east-1)")
	fs.BoolVar(&f.insecure, "s3-insecure", false, "plain HTTP to the S3 endpoint (a local MinIO); implied by an http:// endpoint")
	return f
}

// config returns the flags as a platform.S3. An endpoint may be given as a
// URL, as AWS_ENDPOINT_URL_S3 is: an http:// scheme means plain HTTP. With
// no endpoint, AWS S3 itself.
func (f *s3Flags) config() (platform.S3, error) {
	s := platform.S3{Endpoint: f.endpoint, AccessKey: f.accessKey, SecretKey: f.secretKey, Region: f.region, Insecure: f.insecure}
	if strings.Contains(s.Endpoint, "://") {
		u, err := url.Parse(s.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || strings.Trim(u.Path, "/") != "" {
			return platform.S3{}, fmt.Errorf("--s3-endpoint %q: want host:port or http(s)://host:port: %w", s.Endpoint, errUsage)
		}
		s.Endpoint = u.Host
		s.Insecure = s.Insecure || u.Scheme == "http"
	}
	if s.Endpoint == "" {
		s.Endpoint = "s3.amazonaws.com"
	}
	return s, nil
}

// openWarehouse opens a warehouse location: a local directory (not created
// if missing: the read-only commands must not make one) or s3://bucket/prefix.
func openWarehouse(ctx context.Context, location string, s3 *s3Flags) (*tables.Warehouse, error) {
	if !strings.HasPrefix(location, "s3://") {
		abs, err := filepath.Abs(location)
		if err != nil {
			return nil, err
		}
		return tables.OpenWarehouse(ctx, abs, nil)
	}
	cfg, err := s3.config()
	if err != nil {
		return nil, err
	}
	return platform.OpenWarehouse(ctx, location, cfg)
}

// located fills in a location flag left empty with the platform's own, as
// the last LocationsDefined on the log records it (and the S3 endpoint
// with it, unless the S3 flags name one), else with def. which is
// "landing" or "warehouse".
func (g global) located(ctx context.Context, which, flagValue, def string, s3 *s3Flags) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	conn, err := g.conn()
	if err != nil {
		return "", err
	}
	codec, _, err := g.codec()
	if err != nil {
		return "", err
	}
	loc, ok, err := platform.ReadLocations(ctx, conn, codec, g.topics)
	if err != nil || !ok {
		return def, err
	}
	v := loc.Warehouse
	if which == "landing" {
		v = loc.Landing
	}
	if strings.HasPrefix(v, "s3://") && s3.endpoint == "" && loc.S3Endpoint != "" {
		s3.endpoint, s3.insecure = loc.S3Endpoint, s3.insecure || loc.S3Insecure
		if s3.region == "" {
			s3.region = loc.S3Region
		}
	}
	g.log.Debug("using the platform's "+which, "location", v, "defined_by", loc.DefinedBy)
	return v, nil
}

// catalog rebuilds the table catalog from the log: the pointers projection
// over every domain, and the warehouse (the platform's unless given). The
// caller closes the returned pointers.
func (g global) catalog(ctx context.Context, warehouse string, s3 *s3Flags) (*tables.Catalog, *pointers.Pointers, []string, error) {
	codec, _, err := g.codec()
	if err != nil {
		return nil, nil, nil, err
	}
	conn, err := g.reach(ctx, "to read the tables")
	if err != nil {
		return nil, nil, nil, err
	}
	if warehouse, err = g.located(ctx, "warehouse", warehouse, "./.logmesh/warehouse", s3); err != nil {
		return nil, nil, nil, err
	}
	ptrs, err := pointers.ReadPointersAt(ctx, conn, codec, g.topics, g.at)
	if err != nil {
		return nil, nil, nil, g.unreachableRegistry(ctx, err, "to read the tables", "")
	}
	wh, err := openWarehouse(ctx, warehouse, s3)
	if err != nil {
		ptrs.Close()
		return nil, nil, nil, err
	}
	cat, err := tables.NewCatalog(wh, ptrs, tables.NewMemPointers())
	if err != nil {
		ptrs.Close()
		return nil, nil, nil, err
	}
	names, err := ptrs.Tables(ctx)
	return cat, ptrs, names, err
}

// tablesFlags registers the flags of the command that lists the tables with
// their current versions.
func tablesFlags(fs *flag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print a JSON array")
	warehouse := fs.String("warehouse", "", "the warehouse the tables live in: DIR or s3://bucket/prefix (default: the platform's)")
	s3 := addS3Flags(fs)
	return func(ctx context.Context, g global, in *cmdInput) error {
		stdout := in.stdout
		cat, ptrs, names, err := g.catalog(ctx, *warehouse, s3)
		if err != nil {
			return err
		}
		defer ptrs.Close()
		retired, err := g.retiredTables(ctx)
		if err != nil {
			return err
		}
		type row struct {
			Name     string `json:"name"`
			Version  int64  `json:"version"`
			Rows     int64  `json:"rows"`
			SchemaID int    `json:"schema_id"`
			Location string `json:"location"`
			Metadata string `json:"metadata_location"`
			// Retired says which feed, retired when, loaded the table: it
			// stays readable, and no file is loaded into it any more.
			Retired string `json:"retired,omitempty"`
		}
		out := []row{}
		for _, n := range names {
			info, err := cat.Info(ctx, n)
			if err != nil {
				return fmt.Errorf("tables: %s: %w", n, err)
			}
			out = append(out, row{info.Name, info.Version, info.Rows, info.SchemaID, info.Location, info.MetadataLocation, retired[n]})
		}
		if *asJSON {
			return printJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tVERSION\tROWS\tSCHEMA ID\tSTATUS\tLOCATION")
		for _, r := range out {
			status := "live"
			if r.Retired != "" {
				status = "retired (" + r.Retired + ")"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", r.Name, r.Version, r.Rows, r.SchemaID, status, r.Location)
		}
		return tw.Flush()
	}
}

// retiredTables returns the tables whose feeds are all retired (as of the
// global --at), each with "feed F at T".
func (g global) retiredTables(ctx context.Context) (map[string]string, error) {
	codec, _, err := g.codec()
	if err != nil {
		return nil, err
	}
	conn, err := g.conn()
	if err != nil {
		return nil, err
	}
	defs, err := platform.ReadDefinitionsAt(ctx, conn, codec, g.topics, g.at)
	if err != nil {
		return nil, fmt.Errorf("tables: definitions: %w", err)
	}
	out, live := map[string]string{}, map[string]bool{}
	for k, d := range defs {
		if k.Kind != definitions.KindFeed || d.Feed == nil {
			continue
		}
		if !d.Retired {
			live[d.Feed.Table] = true
			continue
		}
		out[d.Feed.Table] = "feed " + d.Name + " at " + d.At.Format(time.RFC3339)
	}
	for t := range live {
		delete(out, t)
	}
	return out, nil
}

// queryFlags registers the flags of the command that runs SQL over the
// tables' current (or --as-of) snapshots.
func queryFlags(fs *flag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print a JSON array of objects")
	asCSV := fs.Bool("csv", false, "print CSV")
	asOf := fs.Int64("as-of", 0, "read every table as of this version (0: current)")
	warehouse := fs.String("warehouse", "", "the warehouse the tables live in: DIR or s3://bucket/prefix (default: the platform's)")
	cache := fs.String("cache", "", "where files of an S3 warehouse are downloaded to (default <user cache dir>/logmesh/files)")
	s3 := addS3Flags(fs)
	return func(ctx context.Context, g global, in *cmdInput) error {
		sqls, stdout := in.args, in.stdout
		cat, ptrs, names, err := g.catalog(ctx, *warehouse, s3)
		if err != nil {
			return err
		}
		defer ptrs.Close()
		fc := &tables.FileCache{IO: cat.Warehouse().IO(), Dir: *cache}
		var regs []query.Table
		for _, n := range names {
			files, err := cat.Files(ctx, n, *asOf)
			if err != nil {
				return fmt.Errorf("query: %s: %w", n, err)
			}
			local := make([]string, 0, len(files))
			for _, f := range files {
				p, err := fc.Local(ctx, f)
				if err != nil {
					return fmt.Errorf("query: %s: %w", n, err)
				}
				local = append(local, p)
			}
			regs = append(regs, query.Table{Name: n, Files: local})
		}
		eng, err := query.Open(ctx)
		if err != nil {
			return err
		}
		defer eng.Close()
		if err := eng.Register(ctx, regs); err != nil {
			return err
		}
		res, err := eng.Query(ctx, sqls[0])
		if err != nil {
			return err
		}
		switch {
		case *asJSON:
			return query.WriteJSON(stdout, res)
		case *asCSV:
			return query.WriteCSV(stdout, res)
		default:
			return query.WriteTable(stdout, res)
		}
	}
}
