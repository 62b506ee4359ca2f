package tables

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func TestCatalogInterface(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	sc := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.String, Required: true})
	tbl, err := f.cat.CreateTable(ctx, table.Identifier{"fi", "bonds"}, sc)
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Location() != f.cat.Warehouse().Location()+"/fi/bonds" {
		t.Errorf("location %s", tbl.Location())
	}
	if _, err := f.cat.CreateTable(ctx, table.Identifier{"fi", "bonds"}, sc); !errors.Is(err, catalog.ErrTableAlreadyExists) {
		t.Errorf("create twice: %v", err)
	}
	ev := f.ptr.Committed()[0]
	if ev.Version != 1 || ev.Operation != "create" || ev.SnapshotID != 0 || ev.Envelope.Domain != "fi" {
		t.Errorf("create event %+v", ev)
	}
	// A metadata-only commit through an iceberg-go transaction.
	loaded, err := f.cat.LoadTable(ctx, table.Identifier{"fi", "bonds"})
	if err != nil {
		t.Fatal(err)
	}
	tx := loaded.NewTransaction()
	if err := tx.SetProperties(iceberg.Properties{"owner": "fi"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := f.cat.Info(ctx, "fi.bonds")
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != 2 || f.ptr.Committed()[1].Operation != "metadata" {
		t.Errorf("info %+v, event %+v", info, f.ptr.Committed()[1])
	}
	f.write(t, appendContract, "b1", trade("a", 1, 0))

	var names []string
	for id, err := range f.cat.ListTables(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.Join(id, "."))
	}
	if !slices.Equal(names, []string{"fi.bonds", "raw.trades"}) {
		t.Errorf("tables %v", names)
	}
	names = nil
	for id, err := range f.cat.ListTables(ctx, table.Identifier{"raw"}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.Join(id, "."))
	}
	if !slices.Equal(names, []string{"raw.trades"}) {
		t.Errorf("raw tables %v", names)
	}
	ns, err := f.cat.ListNamespaces(ctx, nil)
	if err != nil || fmt.Sprint(ns) != "[[fi] [raw]]" {
		t.Errorf("namespaces %v %v", ns, err)
	}
	if ok, err := f.cat.CheckNamespaceExists(ctx, table.Identifier{"raw"}); !ok || err != nil {
		t.Errorf("raw exists: %v %v", ok, err)
	}
	if ok, err := f.cat.CheckTableExists(ctx, table.Identifier{"raw", "nope"}); ok || err != nil {
		t.Errorf("raw.nope exists: %v %v", ok, err)
	}
	if _, err := f.cat.LoadTable(ctx, table.Identifier{"raw", "nope"}); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Errorf("load missing: %v", err)
	}
	if _, err := f.cat.Info(ctx, "raw.nope"); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Errorf("info missing: %v", err)
	}
	if _, err := f.cat.Files(ctx, "raw.trades", 9); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Errorf("files of a missing version: %v", err)
	}
	if err := f.cat.DropTable(ctx, table.Identifier{"raw", "trades"}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("drop: %v", err)
	}
	if _, err := f.cat.RenameTable(ctx, table.Identifier{"raw", "trades"}, table.Identifier{"raw", "x"}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("rename: %v", err)
	}
	if f.cat.CatalogType() != CatalogType {
		t.Error("catalog type")
	}
}

func TestFileURLWarehouse(t *testing.T) {
	dir := t.TempDir()
	wh, err := OpenWarehouse(t.Context(), "file://"+dir+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if wh.Location() != "file://"+dir {
		t.Fatalf("location %s", wh.Location())
	}
	ptr := NewMemPointers()
	cat, err := NewCatalog(wh, ptr, ptr, TargetFileSize(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Write(t.Context(), "raw.trades", appendContract, "b1", rowsOf(trade("a", 1, 0), trade("b", 2, 0))); err != nil {
		t.Fatal(err)
	}
	rowsEqual(t, readTable(t, cat, "raw.trades", 0), [][]any{trade("a", 1, 0), trade("b", 2, 0)})
	for _, bad := range []string{"", "gs://b/x", "file://host/x", "s3://"} {
		if _, err := OpenWarehouse(t.Context(), bad, nil); !errors.Is(err, ErrWarehouse) {
			t.Errorf("OpenWarehouse(%q): %v", bad, err)
		}
	}
}

// TestS3 runs against a real S3 or MinIO when LOGMESH_TEST_S3_ENDPOINT,
// _ACCESS_KEY, _SECRET_KEY and _BUCKET are set.
func TestS3(t *testing.T) {
	endpoint := os.Getenv("LOGMESH_TEST_S3_ENDPOINT")
	if endpoint == "" {
		t.Skip("LOGMESH_TEST_S3_ENDPOINT not set")
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = "http://" + endpoint // deploy/minio serves plain HTTP on 127.0.0.1
	}
	props := map[string]string{
		PropS3Endpoint:  endpoint,
		PropS3AccessKey: os.Getenv("LOGMESH_TEST_S3_ACCESS_KEY"),
		PropS3SecretKey: os.Getenv("LOGMESH_TEST_S3_SECRET_KEY"),
	}
	bucket := os.Getenv("LOGMESH_TEST_S3_BUCKET")
	if bucket == "" {
		bucket = "logmesh-tables-test"
		u, _ := url.Parse(endpoint)
		mc, err := minio.New(u.Host, &minio.Options{Secure: u.Scheme == "https",
			Creds: credentials.NewStaticV4(props[PropS3AccessKey], props[PropS3SecretKey], "")})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := mc.BucketExists(t.Context(), bucket); err != nil {
			t.Fatal(err)
		} else if !ok {
			if err := mc.MakeBucket(t.Context(), bucket, minio.MakeBucketOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	loc := fmt.Sprintf("s3://%s/logmesh-test-%d", bucket, time.Now().UnixNano())
	wh, err := OpenWarehouse(t.Context(), loc, props)
	if err != nil {
		t.Fatal(err)
	}
	ptr := NewMemPointers()
	cat, err := NewCatalog(wh, ptr, ptr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Write(t.Context(), "raw.trades", upsertContract, "b1", rowsOf(trade("a", 1, 0), trade("b", 2, 0))); err != nil {
		t.Fatal(err)
	}
	res, err := cat.Write(t.Context(), "raw.trades", upsertContract, "b2", rowsOf(trade("a", 3, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 2 || res.RowsTotal != 2 || res.RowsDeleted != 1 {
		t.Fatalf("result %+v", res)
	}
	rowsEqual(t, readTable(t, cat, "raw.trades", 0), [][]any{trade("a", 3, 1), trade("b", 2, 0)})
	tbl, err := cat.LoadTable(t.Context(), table.Identifier{"raw", "trades"})
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan().ToArrowTable(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	rowsEqual(t, arrowRows(t, at), [][]any{trade("a", 3, 1), trade("b", 2, 0)})
}
