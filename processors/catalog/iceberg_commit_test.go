package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/registry"
	"github.com/logmesh/logmesh/tables"
)

// writeMesh: own.sales, enterprise-visible, granted to a, own.returns and
// own.fresh (whose contract the registry does not hold yet); no table yet.
const writeMesh = `domains:
  - name: own
  - name: a
  - name: b
  - name: c
  - name: d
products:
  - {name: sales, domain: own, visibility: enterprise, inputs: ["topic:t"], transform: "SELECT 1",
     output: {schema: {type: record, name: Sale, fields: [{name: id, type: string}, {name: n, type: long}]}}}
  - {name: returns, domain: own, inputs: ["topic:t"], transform: "SELECT 1",
     output: {schema: {type: record, name: Sale, fields: [{name: id, type: string}, {name: n, type: long}]}}}
  - {name: fresh, domain: own, inputs: ["topic:t"], transform: "SELECT 1",
     output: {schema: {type: record, name: Sale, fields: [{name: id, type: string}, {name: n, type: long}]}}}
grants:
  - {product: own.sales, to: a}
`

const salesContract = `{"type":"record","name":"Sale","fields":[{"name":"id","type":"string"},{"name":"n","type":"long"}]}`

// writeRig is a catalog with a real registry (logmesh's, which enforces
// compatibility) holding own.sales's contract, and a record of the last
// commit request iceberg-go sent.
type writeRig struct {
	*rig
	url string

	mu         sync.Mutex
	lastCommit []byte
}

func newWriteRig(t *testing.T) *writeRig {
	t.Helper()
	ctx := context.Background()
	// own.old has a version but no product declares it.
	r := newRigMesh(t, catalog.Rules{}, writeMesh, func(r *rig) { r.commit("own.old", 1, t0.Add(time.Minute)) })
	reg, err := registry.New(ctx, r.cluster.Client(t), registry.Topic(kafkatest.Unique("schemas")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	rs := httptest.NewServer(reg.Handler())
	t.Cleanup(rs.Close)
	src, err := sr.NewClient(sr.URLs(rs.URL))
	if err != nil {
		t.Fatal(err)
	}
	for _, tbl := range []string{"own.sales", "own.returns"} {
		if _, err := src.CreateSchema(ctx, platform.ContractSubject(tbl), sr.Schema{Schema: salesContract, Type: sr.TypeAvro}); err != nil {
			t.Fatal(err)
		}
	}
	wh, err := tables.OpenWarehouse(ctx, r.wh, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens := catalog.Tokens{}
	for _, p := range principals[:len(principals)-1] {
		tokens[catalog.HashToken("tok-"+p)] = p
	}
	srv, err := catalog.New(proc.Config{Conn: r.cluster.Conn(), Topics: r.names, Clock: func() time.Time { return judgedAt }},
		r.codec, wh, catalog.WithTokens(tokens), catalog.WithContracts(platform.CatalogContracts(src, func() time.Time { return judgedAt })),
		catalog.TransactionalID(kafkatest.Unique("catalog-txn")))
	if err != nil {
		t.Fatal(err)
	}
	wr := &writeRig{rig: r}
	h := srv.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost && strings.HasPrefix(req.URL.Path, "/iceberg/v1/namespaces/own/tables/") {
			b, _ := io.ReadAll(req.Body)
			wr.mu.Lock()
			wr.lastCommit = b
			wr.mu.Unlock()
			req.Body = io.NopCloser(bytes.NewReader(b))
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(hs.Close)
	wr.url = hs.URL
	r.url = hs.URL // r.call goes to this server
	return wr
}

func (w *writeRig) client(principal string) *rest.Catalog {
	w.t.Helper()
	cat, err := rest.NewCatalog(context.Background(), "logmesh", w.url+"/iceberg", rest.WithOAuthToken("tok-"+principal))
	if err != nil {
		w.t.Fatal(err)
	}
	return cat
}

// facts returns the facts on domain's bus.
func (w *writeRig) facts(domain string) []events.Event {
	w.t.Helper()
	var out []events.Event
	for _, rec := range kafkatest.ReadAll(w.t, w.cluster.Brokers, w.names.Domain(domain)) {
		ev, err := w.codec.Decode(context.Background(), rec.Value)
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func factsOf[T events.Event](evs []events.Event) []T {
	var out []T
	for _, ev := range evs {
		if e, ok := ev.(T); ok {
			out = append(out, e)
		}
	}
	return out
}

// salesCommits are the TableCommitted of own.sales in evs.
func salesCommits(evs []events.Event) []*events.TableCommitted {
	var out []*events.TableCommitted
	for _, tc := range factsOf[*events.TableCommitted](evs) {
		if tc.Table == "own.sales" {
			out = append(out, tc)
		}
	}
	return out
}

// iceErr decodes an Iceberg error body.
func iceErr(t *testing.T, body string) (typ, msg string) {
	t.Helper()
	var e struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an Iceberg error body: %v\n%s", err, body)
	}
	return e.Error.Type, e.Error.Message
}

func salesRows(t *testing.T, ids ...string) arrow.Table {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}, {Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for i, id := range ids {
		b.Field(0).(*array.StringBuilder).Append(id)
		b.Field(1).(*array.Int64Builder).Append(int64(i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
}

func totalRecords(t *testing.T, tbl *table.Table) string {
	t.Helper()
	s := tbl.CurrentSnapshot()
	if s == nil || s.Summary == nil {
		return "no snapshot"
	}
	return s.Summary.Properties["total-records"]
}

// An outside engine writes a product's table through the catalog:
// iceberg-go's REST client, with the owner's token, creates own.sales,
// appends rows and commits; the commit is a TableCommitted and a
// ProductRefreshed on own's bus, and LoadTable serves the new snapshot.
// A replay of the same commit, another domain's token, a schema that
// breaks the contract and an undeclared table are refused.
func TestIcebergCommit(t *testing.T) {
	ctx := context.Background()
	w := newWriteRig(t)
	own := w.client("own")
	ident := table.Identifier{"own", "sales"}
	sch := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.String, Required: true},
		iceberg.NestedField{ID: 2, Name: "n", Type: iceberg.PrimitiveTypes.Int64, Required: true})

	if _, err := own.CreateTable(ctx, ident, sch); err != nil {
		t.Fatalf("own creates own.sales: %v", err)
	}
	if _, err := own.CreateTable(ctx, ident, sch); !errors.Is(err, icecat.ErrTableAlreadyExists) {
		t.Errorf("own creates own.sales again: %v, want AlreadyExists", err)
	}
	tbl, err := own.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	tx := tbl.NewTransaction()
	rows := salesRows(t, "k1", "k2", "k3")
	defer rows.Release()
	if err := tx.AppendTable(ctx, rows, 1024, nil); err != nil {
		t.Fatal(err)
	}
	committed, err := tx.Commit(ctx)
	if err != nil {
		t.Fatalf("own commits an append: %v", err)
	}
	if got := totalRecords(t, committed); got != "3" {
		t.Errorf("the committed table has %s records, want 3", got)
	}
	w.mu.Lock()
	replay := string(w.lastCommit)
	w.mu.Unlock()

	// The facts: version 1 (create) and version 2 (append) of own.sales,
	// and one ProductRefreshed, for version 2.
	evs := w.facts("own")
	tcs := salesCommits(evs)
	if len(tcs) != 2 || tcs[0].Operation != "create" || tcs[1].Version != 2 || tcs[1].Operation != "append" ||
		tcs[1].RowsAdded != 3 || tcs[1].RowsTotal != 3 || tcs[1].DataFilesAdded != 1 || tcs[1].SnapshotID != committed.CurrentSnapshot().SnapshotID {
		t.Fatalf("TableCommitted on own's bus: %+v", tcs)
	}
	prs := factsOf[*events.ProductRefreshed](evs)
	if len(prs) != 1 || prs[0].Product != "own.sales" || prs[0].Version != 2 || prs[0].RowsTotal != 3 ||
		prs[0].SnapshotID != tcs[1].SnapshotID || prs[0].Envelope.CausationID != tcs[1].Envelope.EventID || prs[0].Visibility != events.VisibilityEnterprise {
		t.Fatalf("ProductRefreshed on own's bus: %+v", prs)
	}

	// LoadTable serves the new version, to the owner and to a grantee.
	for _, p := range []string{"own", "a"} {
		got, err := w.client(p).LoadTable(ctx, ident)
		if err != nil {
			t.Fatalf("%s loads own.sales: %v", p, err)
		}
		if got.MetadataLocation() != tcs[1].MetadataLocation || totalRecords(t, got) != "3" {
			t.Errorf("%s loads own.sales at %s with %s records; want %s with 3", p, got.MetadataLocation(), totalRecords(t, got), tcs[1].MetadataLocation)
		}
		at, err := got.Scan().ToArrowTable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if at.NumRows() != 3 {
			t.Errorf("%s scans %d rows, want 3", p, at.NumRows())
		}
		at.Release()
	}

	// The same CommitTableRequest again: its requirement (the main branch
	// at the old snapshot) fails, nothing is applied twice.
	status, body, _ := w.call("own", "POST", "/iceberg/v1/namespaces/own/tables/sales", replay)
	if typ, _ := iceErr(t, body); status != 409 || typ != "CommitFailedException" {
		t.Errorf("replayed commit: %d %s, want 409 CommitFailedException", status, body)
	}
	if got, err := own.LoadTable(ctx, ident); err != nil || totalRecords(t, got) != "3" || got.MetadataLocation() != tcs[1].MetadataLocation {
		t.Errorf("after the replay own.sales is at %v, %v", got, err)
	}
	if n := len(salesCommits(w.facts("own"))); n != 2 {
		t.Errorf("%d TableCommitted after the replay, want 2", n)
	}

	// Domain a reads own.sales (a grant) but may not write it.
	status, body, _ = w.call("a", "POST", "/iceberg/v1/namespaces/own/tables/sales", `{"requirements":[],"updates":[{"action":"set-properties","updates":{"k":"v"}}]}`)
	if typ, _ := iceErr(t, body); status != 403 || typ != "ForbiddenException" {
		t.Errorf("a commits to own.sales: %d %s, want 403 ForbiddenException", status, body)
	}
	denied := false
	for _, d := range w.denied() {
		denied = denied || d.Principal == "a" && d.Action == "commit-table" && d.Resource == "own.sales" && d.API == "iceberg-rest"
	}
	if !denied {
		t.Errorf("no AccessDenied of a's commit: %+v", w.denied())
	}
	if _, err := w.client("a").CreateTable(ctx, table.Identifier{"own", "sales"}, sch); err == nil || !strings.Contains(err.Error(), "orbidden") {
		t.Errorf("a creates own.sales: %v, want forbidden", err)
	}

	// A schema that changes n from long to string breaks the contract:
	// refused with the registry's reason.
	bad := `{"type":"record","name":"Sale","fields":[{"name":"id","type":"string"},{"name":"n","type":"string"}]}`
	reasons, err := registry.CheckCompatibility(registry.LevelBackward, bad, []string{salesContract})
	if err != nil || len(reasons) == 0 {
		t.Fatalf("the registry's verdict on the bad schema: %v, %v", reasons, err)
	}
	breaking := `{"requirements":[{"type":"assert-current-schema-id","current-schema-id":0}],"updates":[
		{"action":"add-schema","schema":{"type":"struct","schema-id":1,"fields":[{"id":1,"name":"id","type":"string","required":true},{"id":2,"name":"n","type":"string","required":true}]}},
		{"action":"set-current-schema","schema-id":-1}]}`
	status, body, _ = w.call("own", "POST", "/iceberg/v1/namespaces/own/tables/sales", breaking)
	if typ, msg := iceErr(t, body); status != 400 || typ != "BadRequestException" || !strings.Contains(msg, reasons[0]) {
		t.Errorf("a breaking schema: %d %s, want 400 with the registry's reason %q", status, body, reasons[0])
	}

	// An optional field keeps the contract: accepted, and recorded as a
	// SchemaChanged as apply records one.
	optional := `{"requirements":[{"type":"assert-current-schema-id","current-schema-id":0}],"updates":[
		{"action":"add-schema","schema":{"type":"struct","schema-id":1,"fields":[{"id":1,"name":"id","type":"string","required":true},{"id":2,"name":"n","type":"long","required":true},{"id":3,"name":"note","type":"string","required":false}]}},
		{"action":"set-current-schema","schema-id":-1}]}`
	status, body, hdr := w.call("own", "POST", "/iceberg/v1/namespaces/own/tables/sales", optional)
	if status != 200 || !strings.Contains(body, `"metadata-location"`) || hdr.Get(catalog.PositionHeader) == "" {
		t.Fatalf("an optional field: %d %s", status, body)
	}
	evs = w.facts("own")
	if tcs := salesCommits(evs); len(tcs) != 3 || tcs[2].Operation != "schema" || tcs[2].SchemaID != 1 {
		t.Errorf("TableCommitted of the schema change: %+v", tcs)
	}
	if scs := factsOf[*events.SchemaChanged](evs); len(scs) != 1 || scs[0].Table != "own.sales" || !strings.Contains(strings.Join(scs[0].Changes, ","), "add optional field note") {
		t.Errorf("SchemaChanged: %+v", scs)
	}
	if prs := factsOf[*events.ProductRefreshed](evs); len(prs) != 1 {
		t.Errorf("%d ProductRefreshed after a schema-only commit, want still 1", len(prs))
	}

	// A table no product declares.
	status, body, _ = w.call("own", "POST", "/iceberg/v1/namespaces/own/tables/nope", `{"requirements":[],"updates":[]}`)
	if typ, _ := iceErr(t, body); status != 404 || typ != "NoSuchTableException" {
		t.Errorf("commit to own.nope: %d %s, want 404 NoSuchTableException", status, body)
	}
	// One that exists without a product: 403, recorded.
	status, body, _ = w.call("governance", "POST", "/iceberg/v1/namespaces/own/tables/old", `{"requirements":[],"updates":[]}`)
	if typ, _ := iceErr(t, body); status != 403 || typ != "ForbiddenException" {
		t.Errorf("commit to own.old: %d %s, want 403 ForbiddenException", status, body)
	}
	denied = false
	for _, d := range w.denied() {
		denied = denied || d.Principal == catalog.Governance && d.Resource == "own.old"
	}
	if !denied {
		t.Errorf("no AccessDenied of the commit to own.old")
	}
	// iceberg-go reads any 404 of a create as "no such namespace"; the
	// body says which.
	if _, err := own.CreateTable(ctx, table.Identifier{"own", "nope"}, sch); err == nil || !strings.Contains(err.Error(), "NoSuchTableException") {
		t.Errorf("create own.nope: %v, want NoSuchTableException", err)
	}
}

// A created table's schema must keep the product's contract.
func TestIcebergCreateChecksContract(t *testing.T) {
	w := newWriteRig(t)
	sch := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.String, Required: true},
		iceberg.NestedField{ID: 2, Name: "n", Type: iceberg.PrimitiveTypes.String, Required: true})
	_, err := w.client("governance").CreateTable(context.Background(), table.Identifier{"own", "sales"}, sch)
	if err == nil || !strings.Contains(err.Error(), "breaks the contract") {
		t.Fatalf("create with n as a string: %v, want the contract refused", err)
	}
	if n := len(salesCommits(w.facts("own"))); n != 0 {
		t.Errorf("%d TableCommitted after a refused create", n)
	}
	// A table whose subject has no version is judged against the
	// product's declared contract.
	if _, err := w.client("own").CreateTable(context.Background(), table.Identifier{"own", "fresh"}, sch); err == nil ||
		!strings.Contains(err.Error(), "breaks the contract") {
		t.Errorf("create own.fresh with n as a string: %v, want the contract refused", err)
	}
	good := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.String, Required: true},
		iceberg.NestedField{ID: 2, Name: "n", Type: iceberg.PrimitiveTypes.Int64, Required: true})
	if _, err := w.client("own").CreateTable(context.Background(), table.Identifier{"own", "fresh"}, good); err != nil {
		t.Errorf("create own.fresh with its contract's schema: %v", err)
	}
}

// A transaction commits several tables' changes at once or none of them.
func TestIcebergTransaction(t *testing.T) {
	ctx := context.Background()
	w := newWriteRig(t)
	sch := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.String, Required: true},
		iceberg.NestedField{ID: 2, Name: "n", Type: iceberg.PrimitiveTypes.Int64, Required: true})
	own := w.client("own")
	for _, name := range []string{"sales", "returns"} {
		if _, err := own.CreateTable(ctx, table.Identifier{"own", name}, sch); err != nil {
			t.Fatal(err)
		}
	}
	change := func(name string, schemaID int) string {
		return `{"identifier":{"namespace":["own"],"name":"` + name + `"},"requirements":[{"type":"assert-current-schema-id","current-schema-id":` +
			fmt.Sprint(schemaID) + `}],"updates":[{"action":"set-properties","updates":{"owner":"own"}}]}`
	}
	versions := func() map[string]int {
		out := map[string]int{}
		for _, tc := range factsOf[*events.TableCommitted](w.facts("own")) {
			out[tc.Table]++
		}
		return out
	}
	status, body, _ := w.call("own", "POST", "/iceberg/v1/transactions/commit", `{"table-changes":[`+change("sales", 0)+","+change("returns", 7)+`]}`)
	if typ, _ := iceErr(t, body); status != 409 || typ != "CommitFailedException" {
		t.Errorf("a transaction with a stale change: %d %s, want 409 CommitFailedException", status, body)
	}
	if got := versions(); got["own.sales"] != 1 || got["own.returns"] != 1 {
		t.Errorf("versions after a failed transaction: %v, want one each", got)
	}
	status, body, _ = w.call("a", "POST", "/iceberg/v1/transactions/commit", `{"table-changes":[`+change("sales", 0)+`]}`)
	if typ, _ := iceErr(t, body); status != 403 || typ != "ForbiddenException" {
		t.Errorf("a's transaction: %d %s, want 403", status, body)
	}
	status, body, hdr := w.call("own", "POST", "/iceberg/v1/transactions/commit", `{"table-changes":[`+change("sales", 0)+","+change("returns", 0)+`]}`)
	if status != 204 || hdr.Get(catalog.PositionHeader) == "" {
		t.Fatalf("a transaction: %d %s", status, body)
	}
	if got := versions(); got["own.sales"] != 2 || got["own.returns"] != 2 {
		t.Errorf("versions after the transaction: %v, want two each", got)
	}
	for _, name := range []string{"sales", "returns"} {
		tbl, err := own.LoadTable(ctx, table.Identifier{"own", name})
		if err != nil || tbl.Properties()["owner"] != "own" {
			t.Errorf("own.%s after the transaction: %v, %v", name, tbl, err)
		}
	}
}

// Who may write a product's table, written out: the owner and governance,
// never a grantee or anyone else.
func TestRulesWriteTable(t *testing.T) {
	p := &definitions.Product{Owner: "own", Visibility: events.VisibilityEnterprise, OutputTable: "own.sales"}
	want := map[string]bool{"own": true, catalog.Governance: true, "a": false, "b": false, "d": false, catalog.Anonymous: false}
	for principal, ok := range want {
		got, why := catalog.Rules{OwnerGrants: true}.WriteTable(principal, p)
		if got != ok || (!got && why == "") {
			t.Errorf("WriteTable(%s) = %v %q, want %v with a reason when refused", principal, got, why, ok)
		}
	}
}
