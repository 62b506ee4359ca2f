package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections/definitions"
	"github.com/logmesh/logmesh/projections/pointers"
	"github.com/logmesh/logmesh/state"
	"github.com/logmesh/logmesh/tables"
)

// The write path of the Iceberg REST catalog: an outside engine (Spark,
// iceberg-go, pyiceberg) that writes a product's table commits through
// tables.Catalog, the one commit path the loader and the runner use, and
// the commit becomes facts on the log — a TableCommitted and the
// product's ProductRefreshed, in one Kafka transaction. Routing,
// orchestration, lineage and as-of then see the engine's commit as they
// see the loader's.

// ContractVerdict is the registry's judgement of a table schema as the
// next contract of the product that declares the table.
type ContractVerdict struct {
	// Subject is the registry subject of the table's contract; Level its
	// compatibility level.
	Subject, Level string
	// Compatible is the verdict; Reasons are the registry's messages when
	// it refuses.
	Compatible bool
	Reasons    []string
	// Changes are the field changes from the contract ("add optional
	// field y"); none when the schema says what the contract says.
	Changes []string
}

// Contracts judges a table schema against the contract of the product
// that declares the table, under the registry's compatibility for the
// table's subject, and records an accepted change. platform's
// (platform.CatalogContracts) is the check `logmesh apply` makes. It must
// be safe for concurrent use.
type Contracts interface {
	// Check judges schema, an Avro record schema (tables.AvroSchema of the
	// table's new schema), as the next contract of pp's table.
	Check(ctx context.Context, pp *events.ProductPublished, schema string) (ContractVerdict, error)
	// Record registers schema as the contract of pp's table and returns
	// the facts that record the change (a SchemaChanged), which the
	// catalog produces in the commit's transaction.
	Record(ctx context.Context, pp *events.ProductPublished, schema string) ([]events.Event, error)
}

// WithContracts checks the schema of every table created and every schema
// a commit adds with c. Without it the catalog refuses both (501): it
// cannot tell whether a schema keeps the product's contract.
func WithContracts(c Contracts) Option { return func(cfg *config) { cfg.contracts = c } }

// TransactionalID sets the Kafka transactional id of the catalog's
// commits; every running catalog needs its own. Default
// "logmesh-catalog-" plus a random id, new for each Server.
func TransactionalID(id string) Option { return func(c *config) { c.txnID = id } }

// WriteTable decides whether principal may create or commit to the table
// of product p: its owner or governance, whatever the grants (a grant is
// a share to read).
func (Rules) WriteTable(principal string, p *definitions.Product) (bool, string) {
	switch principal {
	case Governance, p.Owner:
		return true, ""
	case Anonymous:
		return false, "no valid bearer token"
	}
	return false, fmt.Sprintf("only the owning domain, %s, or governance writes the table of a product (a grant shares it to read)", p.Owner)
}

// iceError is an error answered with an Iceberg error type of its own.
type iceError struct {
	status int
	typ    string
	msg    string
}

func (e *iceError) Error() string { return e.msg }

// commitRequest is Iceberg's CommitTableRequest.
type commitRequest struct {
	Identifier *struct {
		Namespace []string `json:"namespace"`
		Name      string   `json:"name"`
	} `json:"identifier"`
	Requirements table.Requirements `json:"requirements"`
	Updates      table.Updates      `json:"updates"`
}

// createRequest is Iceberg's CreateTableRequest.
type createRequest struct {
	Name          string                 `json:"name"`
	Location      string                 `json:"location"`
	Schema        *iceberg.Schema        `json:"schema"`
	PartitionSpec *iceberg.PartitionSpec `json:"partition-spec"`
	WriteOrder    *table.SortOrder       `json:"write-order"`
	StageCreate   bool                   `json:"stage-create"`
	Properties    iceberg.Properties     `json:"properties"`
}

// tableTarget is the table a write names, once it is allowed.
type tableTarget struct {
	name    string
	ident   table.Identifier
	product *definitions.Definition
	pub     *events.ProductPublished
	cur     pointers.Pointer
	exists  bool
	// extra are facts to produce with the table's commit (a SchemaChanged).
	extra []events.Event
}

// writeTarget decides principal's write (action create-table or
// commit-table) of table ns.name in sn. A table no live product declares
// is a 404 (NoSuchTableException) when it does not exist and a 403 when
// it does (a retired product's table):
// tables change only as their product's. Another domain than the owner
// (governance aside) gets a 403; every 403 is an AccessDenied.
func (s *Server) writeTarget(ctx context.Context, sn *snapshot, principal, action, ns, name string) (*tableTarget, error) {
	if strings.Contains(ns, "\x1f") {
		return nil, &iceError{http.StatusNotFound, "NoSuchTableException", "no table " + strings.ReplaceAll(ns, "\x1f", ".") + "." + name}
	}
	t := &tableTarget{name: ns + "." + name, ident: table.Identifier{ns, name}}
	cur, exists, err := pointers.Current(sn.st, t.name)
	if err != nil {
		return nil, err
	}
	t.cur, t.exists = cur, exists
	d, ok := sn.productOfTable(t.name)
	switch {
	case !ok && !exists:
		return nil, &iceError{http.StatusNotFound, "NoSuchTableException",
			fmt.Sprintf("no table %s: no live product declares it as its output (declare the product in a mesh file and `logmesh apply` it)", t.name)}
	case !ok:
		return nil, s.forbidden(ctx, principal, action, t.name, "iceberg-rest",
			"no live product declares the table as its output: it changes only by its producer's commits")
	}
	if ok, why := s.cfg.rules.WriteTable(principal, d.Product); !ok {
		return nil, s.forbidden(ctx, principal, action, t.name, "iceberg-rest", why)
	}
	t.product = d
	if _, t.pub, err = history(sn, d); err != nil {
		return nil, err
	}
	return t, nil
}

// schemaChange is a schema that keeps the contract and changes it: it is
// registered, and recorded as a SchemaChanged, with its commit.
type schemaChange struct {
	t    *tableTarget
	avro string
}

// checkSchema judges sch against the contract of t's product; it returns
// the change to record (nil if sch says what the contract says), or the
// error to answer (a 400 with the registry's reasons).
func (s *Server) checkSchema(ctx context.Context, t *tableTarget, sch *iceberg.Schema) (*schemaChange, error) {
	if s.cfg.contracts == nil {
		return nil, &iceError{http.StatusNotImplemented, "UnsupportedOperationException",
			"this catalog was started without a schema registry: it cannot check a table schema against the product's contract"}
	}
	if t.pub == nil || t.pub.OutputSchema == nil {
		return nil, fmt.Errorf("product %s declares no output contract: %w", t.product.Name, ErrNotFound)
	}
	record := "Record"
	if sc, err := avro.ParseWithCache(*t.pub.OutputSchema, "", &avro.SchemaCache{}); err == nil {
		if rs, ok := sc.(*avro.RecordSchema); ok {
			record = rs.FullName()
		}
	}
	as, err := tables.AvroSchema(sch, record)
	if err != nil {
		return nil, &iceError{http.StatusBadRequest, "BadRequestException", fmt.Sprintf("schema %d of %s: %v", sch.ID, t.name, err)}
	}
	v, err := s.cfg.contracts.Check(ctx, t.pub, as)
	if err != nil {
		return nil, fmt.Errorf("checking the schema of %s with the registry: %w", t.name, err)
	}
	if !v.Compatible {
		return nil, &iceError{http.StatusBadRequest, "BadRequestException", fmt.Sprintf(
			"schema %d of %s breaks the contract of product %s: the registry refuses it under %s (subject %s): %s; changes: %s. "+
				"An incompatible change is a new major version: a new product with its own table",
			sch.ID, t.name, t.product.Name, v.Level, v.Subject, strings.Join(v.Reasons, "; "), strings.Join(orNone(v.Changes), "; "))}
	}
	if len(v.Changes) == 0 {
		return nil, nil
	}
	return &schemaChange{t: t, avro: as}, nil
}

// record registers the change and returns its facts.
func (s *Server) record(ctx context.Context, c *schemaChange) ([]events.Event, error) {
	evs, err := s.cfg.contracts.Record(ctx, c.t.pub, c.avro)
	if err != nil {
		return nil, fmt.Errorf("recording the schema of %s in the registry: %w", c.t.name, err)
	}
	return evs, nil
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"none"}
	}
	return s
}

// live calls fn with the live catalog caught up with the log, holding
// the store: a write decides on the latest state.
func (s *Server) live(ctx context.Context, fn func(*snapshot) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.view.CatchUp(ctx); err != nil {
		return fmt.Errorf("catalog: catching up with the log: %w", err)
	}
	return s.with(s.store, s.cfg.Clock(), fn)
}

// pendingCommit is one table's commit, checked and not yet made.
type pendingCommit struct {
	t       *tableTarget
	cat     *tables.Catalog
	req     commitRequest
	schemas []*schemaChange
	md      table.Metadata // after the commit
	loc     string
}

// prepareCommit checks principal's commit req to ns.name in sn before
// anything is written: who may (403), that the table exists (404),
// stale requirements (409 CommitFailedException), updates that do not
// apply (400, from a dry run of table.UpdateTableMetadata), then the
// contract of every schema it adds (400).
func (s *Server) prepareCommit(ctx context.Context, sn *snapshot, principal, ns, name string, req commitRequest, b *commitBatch) (*pendingCommit, error) {
	if id := req.Identifier; id != nil && (!slices.Equal(id.Namespace, []string{ns}) || id.Name != name) {
		return nil, &iceError{http.StatusBadRequest, "BadRequestException",
			fmt.Sprintf("the identifier %s.%s is not the table of the path, %s.%s", strings.Join(id.Namespace, "."), id.Name, ns, name)}
	}
	t, err := s.writeTarget(ctx, sn, principal, "commit-table", ns, name)
	if err != nil {
		return nil, err
	}
	if !t.exists {
		return nil, &iceError{http.StatusNotFound, "NoSuchTableException", fmt.Sprintf("no table %s yet: create it first", t.name)}
	}
	cat, err := tables.NewCatalog(s.wh, snapshotPointers{sn.st}, &tableCommitter{b: b, t: t}, tables.Clock(s.cfg.Clock))
	if err != nil {
		return nil, err
	}
	base, err := cat.LoadTable(ctx, t.ident)
	if err != nil {
		return nil, err
	}
	for _, rq := range req.Requirements {
		if err := rq.Validate(base.Metadata()); err != nil {
			return nil, &iceError{http.StatusConflict, "CommitFailedException",
				fmt.Sprintf("%s is at version %d: requirement %s failed: %v", t.name, t.cur.Version, rq.GetType(), err)}
		}
	}
	next, err := table.UpdateTableMetadata(base.Metadata(), req.Updates, t.cur.MetadataLocation)
	if err != nil {
		return nil, &iceError{http.StatusBadRequest, "BadRequestException", fmt.Sprintf("the updates of %s: %v", t.name, err)}
	}
	pc := &pendingCommit{t: t, cat: cat, req: req}
	for _, sch := range addedSchemas(base.Metadata(), next) {
		c, err := s.checkSchema(ctx, t, sch)
		if err != nil {
			return nil, err
		}
		if c != nil {
			pc.schemas = append(pc.schemas, c)
		}
	}
	return pc, nil
}

// commit makes pc's commit through tables.Catalog, its facts added to
// its batch (produced by the batch, not here).
func (s *Server) commit(ctx context.Context, pc *pendingCommit) error {
	var extra []events.Event
	for _, c := range pc.schemas {
		evs, err := s.record(ctx, c)
		if err != nil {
			return err
		}
		extra = append(extra, evs...)
	}
	pc.t.extra = extra
	md, loc, err := pc.cat.CommitTable(ctx, pc.t.ident, pc.req.Requirements, pc.req.Updates)
	switch {
	case errors.Is(err, tables.ErrStalePointer):
		return &iceError{http.StatusConflict, "CommitFailedException", err.Error()}
	case err != nil:
		return err
	}
	pc.md, pc.loc = md, loc
	return nil
}

// iceCommit is CommitTable (POST .../tables/{table}): the requirements
// are checked against the table's current version, so a replayed or
// concurrent commit fails with 409 CommitFailedException instead of
// applying twice; a schema it adds must keep the product's contract.
// The answer comes once the catalog has folded the commit: a LoadTable
// after it sees the new version.
func (s *Server) iceCommit(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	ns, name := r.PathValue("ns"), r.PathValue("table")
	var req commitRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	s.cmu.Lock() // one write at a time: check and produce are one step here
	defer s.cmu.Unlock()
	return s.live(ctx, func(sn *snapshot) error {
		b := &commitBatch{s: s}
		pc, err := s.prepareCommit(ctx, sn, principal, ns, name, req, b)
		if err != nil {
			return err
		}
		if err := s.commit(ctx, pc); err != nil {
			return err
		}
		if err := b.produce(ctx, sn); err != nil {
			return err
		}
		return answerCommit(w, b, pc.md, pc.loc)
	})
}

// transactionRequest is Iceberg's CommitTransactionRequest.
type transactionRequest struct {
	TableChanges []commitRequest `json:"table-changes"`
}

// iceTransaction is CommitTransaction (POST /v1/transactions/commit):
// the commits of several tables, each checked as CommitTable checks one,
// and all their facts in one Kafka transaction — all of them or none.
// Metadata files written for a transaction that then fails are garbage
// no version references.
func (s *Server) iceTransaction(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	var req transactionRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if len(req.TableChanges) == 0 {
		return &iceError{http.StatusBadRequest, "BadRequestException", "the transaction has no table-changes"}
	}
	seen := map[string]bool{}
	for i, c := range req.TableChanges {
		if c.Identifier == nil || len(c.Identifier.Namespace) != 1 || c.Identifier.Name == "" {
			return &iceError{http.StatusBadRequest, "BadRequestException", fmt.Sprintf("table-changes[%d] has no identifier {namespace: [domain], name}", i)}
		}
		n := c.Identifier.Namespace[0] + "." + c.Identifier.Name
		if seen[n] {
			return &iceError{http.StatusBadRequest, "BadRequestException", "the transaction changes " + n + " twice"}
		}
		seen[n] = true
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.live(ctx, func(sn *snapshot) error {
		b := &commitBatch{s: s}
		var pcs []*pendingCommit
		for _, c := range req.TableChanges {
			pc, err := s.prepareCommit(ctx, sn, principal, c.Identifier.Namespace[0], c.Identifier.Name, c, b)
			if err != nil {
				return err
			}
			pcs = append(pcs, pc)
		}
		for _, pc := range pcs {
			if err := s.commit(ctx, pc); err != nil {
				return err
			}
		}
		if err := b.produce(ctx, sn); err != nil {
			return err
		}
		w.Header().Set(PositionHeader, Position(b.pos))
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// iceCreate is CreateTable (POST .../tables): only for a table a live
// product declares, only once, with a schema that keeps the product's
// contract. Version 1 has no snapshot: it is a TableCommitted
// (operation "create") without a ProductRefreshed, since no data changed.
func (s *Server) iceCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	ns := r.PathValue("ns")
	var req createRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	switch {
	case req.Name == "":
		return &iceError{http.StatusBadRequest, "BadRequestException", "the request names no table (name)"}
	case req.Schema == nil:
		return &iceError{http.StatusBadRequest, "BadRequestException", "the request has no schema"}
	case req.StageCreate:
		return &iceError{http.StatusNotImplemented, "UnsupportedOperationException",
			"staged creates are not supported: create the table, then commit to it"}
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.live(ctx, func(sn *snapshot) error {
		t, err := s.writeTarget(ctx, sn, principal, "create-table", ns, req.Name)
		if err != nil {
			return err
		}
		if t.exists {
			return &iceError{http.StatusConflict, "AlreadyExistsException", fmt.Sprintf("table %s exists (version %d)", t.name, t.cur.Version)}
		}
		c, err := s.checkSchema(ctx, t, req.Schema)
		if err != nil {
			return err
		}
		if c != nil {
			if t.extra, err = s.record(ctx, c); err != nil {
				return err
			}
		}
		b := &commitBatch{s: s}
		cat, err := tables.NewCatalog(s.wh, snapshotPointers{sn.st}, &tableCommitter{b: b, t: t}, tables.Clock(s.cfg.Clock))
		if err != nil {
			return err
		}
		opts := []icecat.CreateTableOpt{icecat.WithProperties(req.Properties)}
		if req.Location != "" {
			opts = append(opts, icecat.WithLocation(req.Location))
		}
		if req.PartitionSpec != nil {
			opts = append(opts, icecat.WithPartitionSpec(req.PartitionSpec))
		}
		if req.WriteOrder != nil {
			opts = append(opts, icecat.WithSortOrder(*req.WriteOrder))
		}
		tbl, err := cat.CreateTable(ctx, t.ident, req.Schema, opts...)
		switch {
		case errors.Is(err, tables.ErrUnsupported):
			return &iceError{http.StatusBadRequest, "BadRequestException", err.Error()}
		case errors.Is(err, icecat.ErrTableAlreadyExists):
			return &iceError{http.StatusConflict, "AlreadyExistsException", err.Error()}
		case err != nil:
			return err
		}
		if err := b.produce(ctx, sn); err != nil {
			return err
		}
		return answerCommit(w, b, tbl.Metadata(), tbl.MetadataLocation())
	})
}

// answerCommit answers a table's new metadata once b has produced it
// and the view folded it, with the position that holds it.
func answerCommit(w http.ResponseWriter, b *commitBatch, md table.Metadata, loc string) error {
	raw, err := json.Marshal(md)
	if err != nil {
		return err
	}
	w.Header().Set(PositionHeader, Position(b.pos))
	writeJSON(w, http.StatusOK, map[string]any{"metadata-location": loc, "metadata": json.RawMessage(raw), "config": map[string]string{}})
	return nil
}

// addedSchemas returns the schemas of next that base does not have, and
// next's current schema if it changed to one base has (a rollback is a
// change of contract too).
func addedSchemas(base, next table.Metadata) []*iceberg.Schema {
	var out []*iceberg.Schema
	for _, sch := range next.Schemas() {
		if !slices.ContainsFunc(base.Schemas(), func(b *iceberg.Schema) bool { return b.ID == sch.ID }) {
			out = append(out, sch)
		}
	}
	if cur := next.CurrentSchema(); cur.ID != base.CurrentSchema().ID && !slices.Contains(out, cur) {
		out = append(out, cur)
	}
	return out
}

// decodeBody decodes a JSON request body (at most 32 MiB) into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<20)).Decode(v); err != nil {
		return &iceError{http.StatusBadRequest, "BadRequestException", "malformed request body: " + err.Error()}
	}
	return nil
}

// snapshotPointers is the tables.Pointers of a catalog store.
type snapshotPointers struct{ st *state.Store }

func (p snapshotPointers) Current(_ context.Context, name string) (tables.Pointer, bool, error) {
	c, ok, err := pointers.Current(p.st, name)
	return tables.Pointer{Version: c.Version, MetadataLocation: c.MetadataLocation, SnapshotID: c.SnapshotID}, ok, err
}

func (p snapshotPointers) At(_ context.Context, name string, version int64) (tables.Pointer, bool, error) {
	c, ok, err := pointers.At(p.st, name, version)
	return tables.Pointer{Version: c.Version, MetadataLocation: c.MetadataLocation, SnapshotID: c.SnapshotID}, ok, err
}

// commitBatch gathers the facts of one write — the TableCommitted of
// each table, the product's ProductRefreshed when the commit changed the
// snapshot, a SchemaChanged — and produces them in one Kafka
// transaction.
type commitBatch struct {
	s      *Server
	evs    []events.Event
	tables map[string]string // metadata location committed, by table
	pos    map[state.TopicPartition]int64
}

// tableCommitter is the tables.Committer of one table of a batch. Its
// Commit only adds the facts to the batch: the commit is durable when
// the batch's produce returns, which the write waits for before it
// answers.
type tableCommitter struct {
	b *commitBatch
	t *tableTarget
}

func (c *tableCommitter) Commit(_ context.Context, tc *events.TableCommitted) error {
	tc.Envelope.CorrelationID = events.DeriveID("iceberg-commit", tc.Table, fmt.Sprint(tc.Version))
	c.b.evs = append(c.b.evs, tc)
	if tc.SnapshotID != c.t.cur.SnapshotID && tc.SnapshotID != 0 {
		c.b.evs = append(c.b.evs, refreshedByCommit(c.t.product, tc))
	}
	c.b.evs = append(c.b.evs, c.t.extra...)
	if c.b.tables == nil {
		c.b.tables = map[string]string{}
	}
	c.b.tables[tc.Table] = tc.MetadataLocation
	return nil
}

// produce produces the batch in one transaction, then folds the log
// until the catalog (sn, whose store the caller holds) has every
// TableCommitted of it: Kafka writes a transaction's markers after
// EndTransaction returns, so the last stable offset may not have passed
// them yet, and the view waits until it has.
func (b *commitBatch) produce(ctx context.Context, sn *snapshot) error {
	recs, err := b.s.produceTxn(ctx, b.evs...)
	if err != nil {
		return err
	}
	ends := map[state.TopicPartition]int64{}
	for i, rec := range recs {
		if _, ok := b.evs[i].(*events.TableCommitted); ok {
			tp := state.TopicPartition{Topic: rec.Topic, Partition: rec.Partition}
			ends[tp] = max(ends[tp], rec.Offset+1)
		}
	}
	if _, err := b.s.view.CatchUpTo(ctx, ends); err != nil {
		return fmt.Errorf("catalog: catching up with the commit: %w", err)
	}
	for name, loc := range b.tables {
		if p, ok, err := pointers.Current(sn.st, name); err != nil {
			return err
		} else if !ok || p.MetadataLocation != loc {
			return fmt.Errorf("catalog: the commit of %s (%s) is on the log but another version is current in the catalog's view: "+
				"another writer committed the table at the same time", name, loc)
		}
	}
	cps, err := sn.st.Checkpoints()
	if err != nil {
		return err
	}
	b.pos = map[state.TopicPartition]int64{}
	for tp, c := range cps {
		if c.HasOffset {
			b.pos[tp] = c.Next
		}
	}
	return nil
}

// refreshedByCommit is the ProductRefreshed of product d for the version
// tc committed, as the loader and the runner make theirs: its id derived
// from the table and the version, caused by the TableCommitted.
func refreshedByCommit(d *definitions.Definition, tc *events.TableCommitted) *events.ProductRefreshed {
	at := tc.Envelope.OccurredAt
	return &events.ProductRefreshed{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("product-refreshed", tc.Table, fmt.Sprint(tc.Version)),
			OccurredAt:    at,
			Domain:        d.Product.Owner,
			CorrelationID: tc.Envelope.CorrelationID,
			CausationID:   tc.Envelope.EventID,
		},
		Product: d.Name, OwnerDomain: d.Product.Owner, Visibility: d.Product.Visibility, Table: tc.Table,
		Version: tc.Version, SnapshotID: tc.SnapshotID, MetadataLocation: tc.MetadataLocation, RowsTotal: tc.RowsTotal,
		DataAsOf: &at,
	}
}

// produceTxn produces evs, each on its topic, in one Kafka transaction,
// and returns their records, offsets set. On an error the transactional
// client is closed, and the next call opens a new one.
func (s *Server) produceTxn(ctx context.Context, evs ...events.Event) ([]*kgo.Record, error) {
	recs := make([]*kgo.Record, 0, len(evs))
	for _, ev := range evs {
		rec, err := s.codec.Record(ev)
		if err != nil {
			return nil, err
		}
		rec.Topic = s.cfg.Topics.For(ev)
		recs = append(recs, rec)
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if s.txn == nil {
		id := s.cfg.txnID
		if id == "" {
			id = "logmesh-catalog-" + events.NewID()
		}
		cl, err := s.conn.Client(append([]kgo.Opt{kgo.TransactionalID(id), kgo.TransactionTimeout(30 * time.Second)}, s.cfg.ClientOpts...)...)
		if err != nil {
			return nil, err
		}
		s.txn = cl
	}
	err := s.txn.BeginTransaction()
	if err != nil {
		err = fmt.Errorf("catalog: begin a transaction: %w", err)
	} else {
		err = s.txn.ProduceSync(ctx, recs...).FirstErr()
		commit := kgo.TryCommit
		if err != nil {
			commit = kgo.TryAbort
		}
		if eerr := s.txn.EndTransaction(ctx, commit); eerr != nil {
			err = errors.Join(err, fmt.Errorf("catalog: end the transaction: %w", eerr))
		}
	}
	if err != nil {
		s.txn.Close()
		s.txn = nil
		return nil, err
	}
	return recs, nil
}
