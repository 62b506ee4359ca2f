// Command research-app is an example domain application: it follows the
// research domain's inbox and, for each new version of raw.trades, counts
// the version's trades and their traded quantity per side, reading the
// table through the SDK without knowing where the warehouse is.
//
//	make run                                    # in one terminal
//	go run ./examples/research-app              # in another
//
// Flags: --brokers, --registry (the dev defaults), --domain, --product.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/logmesh/logmesh/sdk"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka brokers, comma-separated")
	registry := flag.String("registry", "http://127.0.0.1:8081", "schema registry URL")
	domain := flag.String("domain", "research", "the domain whose inbox to follow")
	product := flag.String("product", "raw.trades", "the product whose refreshes to read")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := sdk.Config{Domain: *domain, Kafka: sdk.Kafka{Brokers: strings.Split(*brokers, ",")}, Registry: *registry,
		Products: []string{*product}}
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "research-app:", err)
		os.Exit(1)
	}
}

// run follows the inbox until ctx ends, printing one summary per refresh.
func run(ctx context.Context, cfg sdk.Config, out io.Writer) error {
	c, err := sdk.New(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "following %s for %s\n", c.Inbox(), strings.Join(cfg.Products, ", "))
	return c.Run(ctx, func(ctx context.Context, r *sdk.Refresh) error {
		rows, err := r.Query(ctx, fmt.Sprintf(
			`SELECT side, count(*) AS trades, sum(qty) AS qty FROM %s GROUP BY side ORDER BY side`, r.Table))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s version %d (%d rows):", r.Product, r.Version, r.RowsTotal)
		for _, row := range rows {
			fmt.Fprintf(out, " %v %v trades, qty %v;", row["side"], row["trades"], row["qty"])
		}
		fmt.Fprintln(out)
		return nil
	})
}
