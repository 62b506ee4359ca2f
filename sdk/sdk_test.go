package sdk_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/examples"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/sdk"
)

// Progress is committed only after the handler returned: a handler that
// fails stops Run, and the same refresh comes again on the next Run; once
// handled, it does not.
func TestCommitAfterHandler(t *testing.T) {
	ctx := context.Background()
	d, err := platform.StartDev(ctx, exampleDev(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cfg := sdk.Config{Domain: "wealth", Kafka: sdk.Kafka{Brokers: d.Embedded.Kafka.Brokers}, Registry: d.Env.Config.RegistryURL}
	c, err := sdk.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("not now")
	var first string
	err = c.Run(ctx, func(_ context.Context, r *sdk.Refresh) error {
		first = r.Envelope.EventID
		return boom
	})
	if !errors.Is(err, boom) || first == "" {
		t.Fatalf("Run with a failing handler: %v (saw %q)", err, first)
	}
	var again []string
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = c.Run(runCtx, func(_ context.Context, r *sdk.Refresh) error {
		again = append(again, r.Envelope.EventID)
		files, err := r.Files(runCtx)
		if err != nil || len(files) == 0 {
			t.Errorf("files of %s v%d: %v %v", r.Product, r.Version, files, err)
		}
		cancel()
		return nil
	})
	if err != nil || len(again) == 0 || again[0] != first {
		t.Fatalf("after the failure: %v, refreshes %v, want %s first", err, again, first)
	}
	// Handled and committed: a third Run starts after it, with the next
	// refresh — the one a newly landed file makes, if none came before.
	land := filepath.Join(d.Env.Config.Landing, "trades", "trades-2026-11-26.csv")
	csv := "trade_id,account,isin,side,qty,price,traded_at,note\nT0100,AC1001,US0378331005,BUY,5,190.0,2026-11-26T09:30:00Z,\n"
	if err := os.WriteFile(land, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var next string
	if err := c.Run(runCtx, func(_ context.Context, r *sdk.Refresh) error {
		next = r.Envelope.EventID
		cancel()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if next == "" || next == first {
		t.Fatalf("the third Run saw %q; want a refresh after %s", next, first)
	}
}

// A Pattern filters the refreshes further; a bad one is refused by New.
func TestPattern(t *testing.T) {
	ctx := context.Background()
	_, err := sdk.New(ctx, sdk.Config{Domain: "research", Kafka: sdk.Kafka{Brokers: []string{"127.0.0.1:1"}},
		Registry: "http://127.0.0.1:1", Pattern: `{"rows_total": [{"numeric": [">", "zero"]}]}`})
	if err == nil || !strings.Contains(err.Error(), "rows_total") {
		t.Fatalf("New with a bad pattern: %v, want an error naming rows_total", err)
	}
	d, err := platform.StartDev(ctx, exampleDev(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// research receives trades and securities; it asks for securities only.
	c, err := sdk.New(ctx, sdk.Config{Domain: "research", Kafka: sdk.Kafka{Brokers: d.Embedded.Kafka.Brokers},
		Registry: d.Env.Config.RegistryURL, Group: "research.pattern",
		Pattern: map[string]any{"event": []any{"ProductRefreshed"}, "product": []any{map[string]any{"suffix": ".securities"}}}})
	if err != nil {
		t.Fatal(err)
	}
	// Once the inbox holds both refreshes, run until the group has
	// committed past both (the last offsets of a partition are the
	// router's transaction markers, which nobody commits past).
	brokers := d.Embedded.Kafka.Brokers
	deadline := time.Now().Add(2 * time.Minute)
	codec := d.Env.Codec
	var recs []*kgo.Record
	both := func() bool {
		recs = kafkatest.ReadAll(t, brokers, c.Inbox())
		seen := map[string]bool{}
		for _, r := range recs {
			if ev, err := codec.Decode(ctx, r.Value); err == nil {
				if pr, ok := ev.(*events.ProductRefreshed); ok {
					seen[pr.Product] = true
				}
			}
		}
		return seen["raw.trades"] && seen["raw.securities"]
	}
	for !both() {
		if time.Now().After(deadline) {
			t.Fatal("research's inbox never held the refreshes of trades and securities")
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := map[int32]int64{}
	for _, r := range recs {
		after[r.Partition] = max(after[r.Partition], r.Offset+1)
	}
	adm := kadm.NewClient((&kafkatest.Cluster{Brokers: brokers}).Client(t))
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	caughtUp := make(chan struct{})
	go func() {
		defer cancel()
		for runCtx.Err() == nil {
			committed, err := adm.FetchOffsets(runCtx, "research.pattern")
			done := err == nil
			for p, off := range after {
				o, ok := committed.Lookup(c.Inbox(), p)
				done = done && ok && o.At >= off
			}
			if done {
				close(caughtUp)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var got []string
	if err := c.Run(runCtx, func(_ context.Context, r *sdk.Refresh) error {
		got = append(got, r.Product)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-caughtUp:
	default:
		t.Fatalf("the client did not commit past the inbox's refreshes; handed over %v", got)
	}
	if len(got) != 1 || got[0] != "raw.securities" {
		t.Fatalf("refreshes handed over: %v, want raw.securities only", got)
	}
}

// exampleDev is a dev platform's configuration on the example mesh, with
// its files, in a fresh data directory.
func exampleDev(t *testing.T) platform.DevConfig {
	t.Helper()
	m, err := examples.Mesh()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := examples.SeedLanding(filepath.Join(dir, "landing")); err != nil {
		t.Fatal(err)
	}
	return platform.DevConfig{Config: platform.Config{DataDir: dir, Mesh: m,
		PlanInterval: 300 * time.Millisecond, ScanInterval: 200 * time.Millisecond}, KafkaPort: -1, RegistryPort: -1}
}
