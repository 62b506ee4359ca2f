// Package sdk is what a domain's application needs to use the mesh: it
// consumes the domain's inbox (what the router delivered to it) in a
// consumer group, hands each refresh of a product to a handler as a typed
// event, lets the handler read the refreshed table version — its data
// files, or rows through SQL — without knowing the warehouse's layout, and
// commits the group's progress only after the handler returned.
//
// A handler that fails stops Run with its error, and the refresh is handed
// over again when the application restarts: processing is at least once,
// so handlers should be idempotent (a refresh's event id and version say
// which version it is). Any Confluent-compatible client can consume the same
// inbox topic; the values are Confluent-framed Avro with their schemas in
// the registry.
//
//	c, err := sdk.New(ctx, sdk.Config{Domain: "research", Kafka: sdk.Kafka{Brokers: []string{"127.0.0.1:9092"}},
//		Registry: "http://127.0.0.1:8081", Products: []string{"raw.trades"}})
//	err = c.Run(ctx, func(ctx context.Context, r *sdk.Refresh) error {
//		rows, err := r.Query(ctx, "SELECT count(*) AS n FROM raw.trades")
//		...
//	})
package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logview"
	"github.com/logmesh/logmesh/internal/pattern"
	"github.com/logmesh/logmesh/query"
	"github.com/logmesh/logmesh/tables"
)

// Kafka is the Kafka connection setting (kafkaconn.Config).
type Kafka = kafkaconn.Config

// S3 reaches an S3-compatible object store (tables.S3).
type S3 = tables.S3

// Config is how an application reaches its domain's inbox.
type Config struct {
	// Domain is the domain whose inbox the application reads. Required.
	Domain string
	// Kafka is the connection: brokers (required), client id, TLS, SASL,
	// as the logmesh command's global flags set them.
	Kafka Kafka
	// Registry is the schema registry's URL. Required.
	Registry string
	// Group is the consumer group. Default "<domain>.app".
	Group string
	// Products, when set, are the only products whose refreshes reach the
	// handler; the others are passed over (and committed).
	Products []string
	// Pattern, when set, is a content pattern in the style of EventBridge
	// (as in a mesh.yaml subscription) that a refresh must match as well:
	// JSON text, or the decoded value (maps, slices, strings, numbers). It
	// is matched against the fact as `logmesh tail --json` shows it, with
	// "event" its short name: {"product": [{"prefix": "raw."}],
	// "rows_total": [{"numeric": [">", 0]}]}.
	Pattern any
	// TopicPrefix is the installation's topic prefix. Default "logmesh".
	TopicPrefix string
	// Warehouse is where the tables are. Default: the platform's, as its
	// LocationsDefined on the log says.
	Warehouse string
	// S3 reaches an s3:// warehouse; its endpoint defaults to the
	// platform's.
	S3 S3
	// CacheDir holds local copies of S3 data files for Query. Default
	// <user cache dir>/logmesh/files.
	CacheDir string
	// Logger; the default discards.
	Logger *slog.Logger
}

// Client reads one domain's inbox. Create it with New, run it with Run.
type Client struct {
	cfg   Config
	conn  kafkaconn.Conn
	codec *events.Codec
	names events.Topics
	cat   *tables.Catalog
	match *pattern.Pattern // nil: every refresh
}

// New validates cfg, finds the warehouse and returns a Client.
func New(ctx context.Context, cfg Config) (*Client, error) {
	switch {
	case events.ValidDomain(cfg.Domain) != nil:
		return nil, fmt.Errorf("sdk: domain %q: %w", cfg.Domain, events.ValidDomain(cfg.Domain))
	case len(cfg.Kafka.Brokers) == 0:
		return nil, errors.New("sdk: no brokers")
	case cfg.Registry == "":
		return nil, errors.New("sdk: no registry")
	}
	if cfg.Group == "" {
		cfg.Group = cfg.Domain + ".app"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	conn, err := kafkaconn.New(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	srcl, err := sr.NewClient(sr.URLs(cfg.Registry))
	if err != nil {
		return nil, fmt.Errorf("sdk: registry: %w", err)
	}
	codec, err := events.NewCodec(events.SRRegistry(srcl))
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, conn: conn, codec: codec, names: events.Topics{Prefix: cfg.TopicPrefix}}
	if cfg.Pattern != nil {
		if c.match, err = compile(cfg.Pattern); err != nil {
			return nil, err
		}
	}
	if c.cfg.Warehouse == "" {
		loc, err := readLocations(ctx, conn, codec, c.names)
		switch {
		case err != nil:
			return nil, fmt.Errorf("sdk: the platform's locations: %w", err)
		case loc == nil:
			return nil, errors.New("sdk: no warehouse given, and the platform recorded none (is logmesh dev or run up?)")
		}
		c.cfg.Warehouse = loc.Warehouse
		if c.cfg.S3.Endpoint == "" {
			c.cfg.S3.Endpoint, c.cfg.S3.Insecure = deref(loc.S3Endpoint), loc.S3Insecure
			c.cfg.S3.Region = deref(loc.S3Region)
		}
	}
	wh, err := tables.Open(ctx, c.cfg.Warehouse, c.cfg.S3)
	if err != nil {
		return nil, err
	}
	// The catalog only reads, at the versions events name.
	if c.cat, err = tables.NewCatalog(wh, tables.NewMemPointers(), tables.NewMemPointers()); err != nil {
		return nil, err
	}
	return c, nil
}

// compile compiles Config.Pattern: JSON text or a decoded value.
func compile(p any) (*pattern.Pattern, error) {
	if text, ok := p.(string); ok {
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("sdk: Pattern is not JSON: %w", err)
		}
		p = v
	}
	m, err := pattern.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("sdk: Pattern: %w", err)
	}
	return m, nil
}

// Inbox returns the topic the client reads.
func (c *Client) Inbox() string { return c.names.Inbox(c.cfg.Domain) }

// Handler handles one refresh. An error stops Run; the refresh is not
// committed and comes again on the next Run.
type Handler func(ctx context.Context, r *Refresh) error

// Run hands every product refresh in the inbox to h, in each product's
// order, committing the group's position after each one h accepted, until
// ctx ends (nil) or h fails (its error). Facts other than refreshes, and
// refreshes of products not in Config.Products, are passed over.
func (c *Client) Run(ctx context.Context, h Handler) error {
	cl, err := c.conn.Client(
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.Inbox()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
	)
	if err != nil {
		return fmt.Errorf("sdk: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			cl.AllowRebalance()
			return nil
		}
		for _, fe := range fs.Errors() {
			c.cfg.Logger.Warn("fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		var herr error
		fs.EachRecord(func(rec *kgo.Record) {
			if herr != nil || ctx.Err() != nil {
				return
			}
			if herr = c.handle(ctx, rec, h); herr == nil {
				herr = c.commit(ctx, cl, rec)
			}
		})
		cl.AllowRebalance()
		if herr != nil {
			if ctx.Err() != nil {
				return nil
			}
			return herr
		}
	}
}

// commit records that h accepted rec. It runs even when ctx ended while h
// ran: the work is done, and handing the refresh out again would repeat it.
func (c *Client) commit(ctx context.Context, cl *kgo.Client, rec *kgo.Record) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := cl.CommitRecords(cctx, rec); err != nil {
		return fmt.Errorf("sdk: commit %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	return nil
}

func (c *Client) handle(ctx context.Context, rec *kgo.Record, h Handler) error {
	ev, err := c.codec.Decode(ctx, rec.Value)
	switch {
	case err != nil && events.IsPoison(err):
		c.cfg.Logger.Warn("passing over an undecodable record", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("sdk: decode %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	pr, ok := ev.(*events.ProductRefreshed)
	if !ok || len(c.cfg.Products) > 0 && !slices.Contains(c.cfg.Products, pr.Product) {
		return nil
	}
	if c.match != nil {
		doc, err := events.Document(pr)
		if err != nil {
			return fmt.Errorf("sdk: %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
		}
		if !c.match.Match(doc) {
			return nil
		}
	}
	if err := h(ctx, &Refresh{ProductRefreshed: pr, Partition: rec.Partition, Offset: rec.Offset, c: c}); err != nil {
		return fmt.Errorf("sdk: handler of %s version %d: %w", pr.Product, pr.Version, err)
	}
	return nil
}

// Refresh is one new version of a product, as the router delivered it.
type Refresh struct {
	*events.ProductRefreshed
	// Partition and Offset locate it in the inbox.
	Partition int32
	Offset    int64

	c *Client
}

// Files returns the data files (Parquet) of the refreshed version, sorted:
// together they are the table at that version.
func (r *Refresh) Files(ctx context.Context) ([]string, error) {
	return r.c.cat.FilesAt(ctx, r.Table, tables.Pointer{Version: r.Version, MetadataLocation: r.MetadataLocation, SnapshotID: r.SnapshotID})
}

// Query runs SQL with embedded DuckDB over the refreshed version, the table
// named by its name ("raw.trades"), and returns the rows as maps from
// column to value.
func (r *Refresh) Query(ctx context.Context, sql string) ([]map[string]any, error) {
	files, err := r.Files(ctx)
	if err != nil {
		return nil, err
	}
	fc := &tables.FileCache{IO: r.c.cat.Warehouse().IO(), Dir: r.c.cfg.CacheDir}
	local := make([]string, 0, len(files))
	for _, f := range files {
		p, err := fc.Local(ctx, f)
		if err != nil {
			return nil, err
		}
		local = append(local, p)
	}
	eng, err := query.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	if err := eng.Register(ctx, []query.Table{{Name: r.Table, Files: local}}); err != nil {
		return nil, err
	}
	res, err := eng.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(res.Rows))
	for _, row := range res.Rows {
		m := make(map[string]any, len(res.Columns))
		for i, col := range res.Columns {
			m[col] = row[i]
		}
		out = append(out, m)
	}
	return out, nil
}

// readLocations reads the central bus to its end and returns the latest
// LocationsDefined the platform recorded, or nil if none (the platform's
// own read is the definitions projection; an application needs only this
// one fact, and no processor code).
func readLocations(ctx context.Context, conn kafkaconn.Conn, codec *events.Codec, names events.Topics) (*events.LocationsDefined, error) {
	v, err := logview.New(conn, events.TopicNames(names.Central()))
	if err != nil {
		return nil, err
	}
	defer v.Close()
	var latest *events.LocationsDefined
	keep := func(_ *kgo.Record, ev events.Event) error {
		if l, ok := ev.(*events.LocationsDefined); ok && (latest == nil || !l.Envelope.OccurredAt.Before(latest.Envelope.OccurredAt)) {
			latest = l
		}
		return nil
	}
	if _, err := v.CatchUp(ctx, logview.Events(ctx, codec, keep, nil, events.NameLocationsDefined)); err != nil {
		return nil, err
	}
	return latest, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
