package tables

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// tradeColumns are the fields of tradeSchema, in schema order.
var tradeColumns = []string{"id", "qty", "px", "ts", "day", "n", "f", "ok", "raw"}

// openParquet opens a local data file (a path or a file URI) with
// parquet-go alone.
func openParquet(t *testing.T, loc string) *parquet.File {
	t.Helper()
	fh, err := os.Open(bareLocation(loc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(fh, st.Size())
	if err != nil {
		t.Fatalf("%s: %v", loc, err)
	}
	return pf
}

func currentFiles(t *testing.T, cat *Catalog, name string) []string {
	t.Helper()
	files, err := cat.Files(t.Context(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("%s has no data files", name)
	}
	return files
}

func TestColumnsInSchemaOrder(t *testing.T) {
	f := newFixture(t)
	f.write(t, appendContract, "b1", trade("a", 1, 0), trade("b", 2, 0))
	f.write(t, upsertContract, "b2", trade("a", 3, 1)) // a rewritten file and a new one
	for _, loc := range currentFiles(t, f.cat, "raw.trades") {
		pf := openParquet(t, loc)
		var names []string
		for _, path := range pf.Schema().Columns() {
			names = append(names, strings.Join(path, "."))
		}
		if !slices.Equal(names, tradeColumns) {
			t.Errorf("%s: columns %v, want %v", loc, names, tradeColumns)
		}
		// The file's schema elements carry the Iceberg field ids 1, 2, ...
		// in the same order (element 0 is the root).
		for i, el := range pf.Metadata().Schema[1:] {
			if el.Name != tradeColumns[i] || el.FieldID != int32(i+1) {
				t.Errorf("%s: schema element %d is %s id %d, want %s id %d", loc, i+1, el.Name, el.FieldID, tradeColumns[i], i+1)
			}
		}
	}
	tbl, err := f.cat.LoadTable(t.Context(), table.Identifier{"raw", "trades"})
	if err != nil {
		t.Fatal(err)
	}
	for i, fd := range tbl.Schema().Fields() {
		if fd.Name != tradeColumns[i] || fd.ID != i+1 {
			t.Errorf("iceberg field %d is %s id %d, want %s id %d", i, fd.Name, fd.ID, tradeColumns[i], i+1)
		}
	}
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 0), [][]any{trade("a", 3, 1), trade("b", 2, 0)})
}

// metadataJSON is the part of a table metadata file the tests read, as
// another engine would.
type metadataJSON struct {
	Location        string `json:"location"`
	CurrentSchemaID int    `json:"current-schema-id"`
	Schemas         []struct {
		SchemaID           int   `json:"schema-id"`
		IdentifierFieldIDs []int `json:"identifier-field-ids"`
		Fields             []struct {
			ID       int    `json:"id"`
			Name     string `json:"name"`
			Required bool   `json:"required"`
		} `json:"fields"`
	} `json:"schemas"`
}

func readMetadata(t *testing.T, loc string) metadataJSON {
	t.Helper()
	b, err := os.ReadFile(bareLocation(loc))
	if err != nil {
		t.Fatal(err)
	}
	var md metadataJSON
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatalf("%s: %v", loc, err)
	}
	return md
}

// currentIdentifiers returns the identifier-field-ids of the current
// schema in a metadata file.
func currentIdentifiers(t *testing.T, md metadataJSON) []int {
	t.Helper()
	for _, s := range md.Schemas {
		if s.SchemaID == md.CurrentSchemaID {
			return s.IdentifierFieldIDs
		}
	}
	t.Fatalf("no schema %d in %+v", md.CurrentSchemaID, md)
	return nil
}

func TestIdentifierFieldIDs(t *testing.T) {
	cases := []struct {
		name string
		c    Contract
		want []int
	}{
		{"upsert by id", upsertContract, []int{1}},
		{"composite key, sorted ids", Contract{Schema: tradeSchema, PrimaryKey: []string{"n", "id"}, Ordering: "ts", Mode: ModeUpsert}, []int{1, 6}},
		{"nullable key field", Contract{Schema: tradeSchema, PrimaryKey: []string{"id", "px"}, Mode: ModeUpsert}, []int{}},
		{"float key field", Contract{Schema: tradeSchema, PrimaryKey: []string{"f"}, Mode: ModeUpsert}, []int{}},
		{"append with a key", Contract{Schema: tradeSchema, PrimaryKey: []string{"id"}}, []int{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			res := f.write(t, tc.c, "b1", trade("a", 1, 0), trade("b", 2, 0))
			md := readMetadata(t, res.MetadataLocation)
			if got := currentIdentifiers(t, md); !slices.Equal(got, tc.want) {
				t.Errorf("identifier-field-ids %v, want %v", got, tc.want)
			}
			// Iceberg requires identifier fields to be required.
			for _, s := range md.Schemas {
				for _, fd := range s.Fields {
					if slices.Contains(s.IdentifierFieldIDs, fd.ID) && !fd.Required {
						t.Errorf("identifier field %s is optional", fd.Name)
					}
				}
			}
			// A second write keeps the schema.
			res = f.write(t, tc.c, "b2", trade("c", 3, 0))
			if md := readMetadata(t, res.MetadataLocation); len(md.Schemas) != 1 || md.CurrentSchemaID != 0 {
				t.Errorf("second write changed the schema: %+v", md)
			}
		})
	}
}

// allowedEncodings are the encodings Iceberg's vectorized Parquet reader
// (Spark) reads: PLAIN and dictionary for values, RLE for levels.
var allowedEncodings = []format.Encoding{format.Plain, format.RLE, format.RLEDictionary, format.PlainDictionary}

func TestDataFileEncodings(t *testing.T) {
	// Small row groups and files, so that there are several of each.
	f := newFixture(t, TargetFileSize(16<<10), RowGroupSize(4<<10))
	var rows [][]any
	for i := range 3000 {
		rows = append(rows, trade(fmt.Sprintf("key-%05d", i), int64(i), i))
	}
	f.write(t, upsertContract, "b1", rows...)
	f.write(t, upsertContract, "b2", trade("key-00007", 7, 5000), trade("new", 1, 0)) // rewrites a file
	files := currentFiles(t, f.cat, "raw.trades")
	groups := 0
	for _, loc := range files {
		pf := openParquet(t, loc)
		for ri, rg := range pf.Metadata().RowGroups {
			groups++
			for _, cc := range rg.Columns {
				md := cc.MetaData
				col := strings.Join(md.PathInSchema, ".")
				for _, e := range md.Encoding {
					if !slices.Contains(allowedEncodings, e) {
						t.Errorf("%s row group %d column %s: encoding %s (all: %v)", loc, ri, col, e, md.Encoding)
					}
				}
				for _, st := range md.EncodingStats {
					if !slices.Contains(allowedEncodings, st.Encoding) {
						t.Errorf("%s row group %d column %s: %s page with encoding %s", loc, ri, col, st.PageType, st.Encoding)
					}
				}
			}
		}
	}
	if len(files) < 2 || groups < 3 {
		t.Fatalf("%d files, %d row groups: too few to be a test", len(files), groups)
	}
	if got := readTable(t, f.cat, "raw.trades", 0); len(got) != 3001 {
		t.Fatalf("%d rows read back", len(got))
	}
}

func TestLocalLocationsAreFileURIs(t *testing.T) {
	f := newFixture(t) // a bare directory path
	dir := filepath.ToSlash(f.dir)
	if want := "file://" + dir; f.cat.Warehouse().Location() != want {
		t.Fatalf("warehouse location %s, want %s", f.cat.Warehouse().Location(), want)
	}
	f.write(t, appendContract, "b1", trade("a", 1, 0), trade("b", 2, 0))
	f.write(t, upsertContract, "b2", trade("a", 3, 1), trade("c", 4, 0))
	prefix := "file://" + dir + "/raw/trades/"
	for _, ev := range f.ptr.Committed() {
		if !strings.HasPrefix(ev.MetadataLocation, prefix+"metadata/") {
			t.Errorf("version %d: metadata location %s", ev.Version, ev.MetadataLocation)
		}
		if p := ev.PreviousMetadataLocation; p != nil && !strings.HasPrefix(*p, prefix) {
			t.Errorf("version %d: previous metadata location %s", ev.Version, *p)
		}
	}
	info, err := f.cat.Info(t.Context(), "raw.trades")
	if err != nil {
		t.Fatal(err)
	}
	if md := readMetadata(t, info.MetadataLocation); md.Location != "file://"+dir+"/raw/trades" {
		t.Errorf("metadata location field %s", md.Location)
	}
	tbl, err := f.cat.LoadTable(t.Context(), table.Identifier{"raw", "trades"})
	if err != nil {
		t.Fatal(err)
	}
	fs := f.cat.Warehouse().IO()
	paths := 0
	for _, snap := range tbl.Metadata().Snapshots() {
		if !strings.HasPrefix(snap.ManifestList, prefix+"metadata/") {
			t.Errorf("snapshot %d: manifest list %s", snap.SnapshotID, snap.ManifestList)
		}
		manifests, err := snap.Manifests(fs)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range manifests {
			if !strings.HasPrefix(m.FilePath(), prefix+"metadata/") {
				t.Errorf("snapshot %d: manifest %s", snap.SnapshotID, m.FilePath())
			}
			entries, err := m.FetchEntries(fs, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				paths++
				if p := e.DataFile().FilePath(); !strings.HasPrefix(p, prefix+"data/") {
					t.Errorf("snapshot %d: data file %s", snap.SnapshotID, p)
				}
			}
		}
	}
	if paths < 3 {
		t.Fatalf("only %d manifest entries", paths)
	}
	rowsEqual(t, readTable(t, f.cat, "raw.trades", 0), [][]any{trade("a", 3, 1), trade("b", 2, 0), trade("c", 4, 0)})
}

func TestLocalLocation(t *testing.T) {
	cases := []struct{ dir, want string }{
		{"/tmp/wh", "file:///tmp/wh"},
		{"/tmp/wh/", "file:///tmp/wh"},
		{"/tmp/my wh:1", "file:///tmp/my wh:1"},
		{"/", "file://"},
		{"C:/wh", "file:///C:/wh"},
		{"/tmp/50%", "/tmp/50%"}, // ambiguous as a URI: bare path
		{"/tmp/a#b", "/tmp/a#b"},
		{"/tmp/a?b", "/tmp/a?b"},
	}
	for _, tc := range cases {
		got := localLocation(tc.dir)
		if got != tc.want {
			t.Errorf("localLocation(%q) = %q, want %q", tc.dir, got, tc.want)
		}
		if back, want := bareLocation(got+"/x"), strings.TrimRight(tc.dir, "/")+"/x"; back != want {
			t.Errorf("bareLocation(%q) = %q, want %q", got+"/x", back, want)
		}
	}
}

// TestBarePathTableUpgrades reads and writes a table as an earlier logmesh
// left it — bare-path locations, no identifier field ids — and checks that
// the next Write moves it to file URIs and sets its identifier fields
// while its old files stay readable.
func TestBarePathTableUpgrades(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	ptr := NewMemPointers()
	oldWH := &Warehouse{location: filepath.ToSlash(dir), props: map[string]string{}, fs: icebergio.LocalFS{}}
	oldCat, err := NewCatalog(oldWH, ptr, ptr)
	if err != nil {
		t.Fatal(err)
	}
	l, err := compile(upsertContract)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oldCat.CreateTable(ctx, table.Identifier{"raw", "trades"}, iceberg.NewSchema(0, l.ice.Fields()...)); err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		id   string
		rows [][]any
	}{{"old1", [][]any{trade("a", 1, 0), trade("b", 2, 0)}}, {"old2", [][]any{trade("c", 3, 0)}}} {
		// Append: this version sets identifier fields on upsert only.
		if _, err := oldCat.Write(ctx, "raw.trades", appendContract, b.id, rowsOf(b.rows...)); err != nil {
			t.Fatal(err)
		}
	}
	before, err := oldCat.Info(ctx, "raw.trades")
	if err != nil {
		t.Fatal(err)
	}
	if md := readMetadata(t, before.MetadataLocation); strings.HasPrefix(before.MetadataLocation, "file:") ||
		strings.HasPrefix(md.Location, "file:") || len(currentIdentifiers(t, md)) != 0 {
		t.Fatalf("not an old-style table: %s %+v", before.MetadataLocation, md)
	}
	oldFiles := currentFiles(t, oldCat, "raw.trades")

	wh, err := OpenWarehouse(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := NewCatalog(wh, ptr, ptr)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cat.Write(ctx, "raw.trades", upsertContract, "new1", rowsOf(trade("a", 4, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if res.RowsAdded != 1 || res.RowsDeleted != 1 || res.RowsTotal != 3 {
		t.Fatalf("result %+v", res)
	}
	uri := "file://" + filepath.ToSlash(dir) + "/raw/trades"
	md := readMetadata(t, res.MetadataLocation)
	if !strings.HasPrefix(res.MetadataLocation, uri+"/metadata/") || md.Location != uri {
		t.Errorf("not moved to %s: metadata %s, location %s", uri, res.MetadataLocation, md.Location)
	}
	if got := currentIdentifiers(t, md); !slices.Equal(got, []int{1}) || md.CurrentSchemaID != 1 || len(md.Schemas) != 2 {
		t.Errorf("identifier fields %v, schema %d of %d", got, md.CurrentSchemaID, len(md.Schemas))
	}
	if ev := ptr.Committed()[len(ptr.Committed())-1]; ev.SchemaID != 1 || ev.Operation != "overwrite" {
		t.Errorf("event %+v", ev)
	}
	// The file of a and b was rewritten under the URI (into one file with
	// the batch's row); c's old file is still referenced by its bare path.
	files := currentFiles(t, cat, "raw.trades")
	var bare, uris int
	for _, p := range files {
		switch {
		case strings.HasPrefix(p, uri+"/data/"):
			uris++
		case slices.Contains(oldFiles, p):
			bare++
		default:
			t.Errorf("unexpected file %s", p)
		}
	}
	if bare != 1 || uris != 1 {
		t.Errorf("files %v (old %v)", files, oldFiles)
	}
	want := [][]any{trade("a", 4, 1), trade("b", 2, 0), trade("c", 3, 0)}
	rowsEqual(t, readTable(t, cat, "raw.trades", 0), want)
	tbl, err := cat.LoadTable(ctx, table.Identifier{"raw", "trades"})
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	rowsEqual(t, arrowRows(t, at), want)
	// Old versions still read.
	rowsEqual(t, readTable(t, cat, "raw.trades", before.Version), [][]any{trade("a", 1, 0), trade("b", 2, 0), trade("c", 3, 0)})
	// Nothing left to upgrade.
	res, err = cat.Write(ctx, "raw.trades", upsertContract, "new2", rowsOf(trade("d", 5, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if md := readMetadata(t, res.MetadataLocation); len(md.Schemas) != 2 || md.CurrentSchemaID != 1 || md.Location != uri {
		t.Errorf("second write upgraded again: %+v", md)
	}
}
