package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/logmesh/logmesh/internal/platform"
)

// cmdDev runs the embedded platform until ctx ends (Ctrl-C).
func cmdDev(ctx context.Context, g global, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./.logmesh", "data directory (Kafka log, state)")
	kport := fs.Int("kafka-port", 9092, "embedded Kafka port on 127.0.0.1")
	rport := fs.Int("registry-port", 8081, "built-in schema registry port on 127.0.0.1")
	if _, err := interspersed(fs, args); err != nil {
		return err
	}
	p, err := platform.Start(ctx, platform.Config{
		DataDir: *data, KafkaPort: *kport, RegistryPort: *rport, Logger: g.log,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "logmesh dev: Kafka %s, registry %s, data %s — Ctrl-C to stop\n",
		p.Brokers[0], p.RegistryURL, *data)
	select {
	case <-ctx.Done():
		g.log.Info("stopping")
	case err = <-p.Err():
	}
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	return err
}
