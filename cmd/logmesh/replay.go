package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/state"
)

// Errors that make replay exit non-zero.
var (
	errNondeterministic = errors.New("replay: two folds of the same log differ")
	errDiffers          = errors.New("replay: the rebuilt store differs from a live one")
)

// cmdReplay rebuilds a projection from offset 0 in a fresh store and prints
// its digest; --twice folds the log twice and compares; --verify compares
// the rebuilt store with the live stores of running processes, partition by
// partition, each replayed to exactly the live store's offsets.
func cmdReplay(ctx context.Context, g global, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("projection", "audit", "the projection to rebuild (replay --list names them)")
	list := fs.Bool("list", false, "list the projections and the topics each folds")
	twice := fs.Bool("twice", false, "fold the log twice into fresh stores and require equal digests")
	verify := fs.Bool("verify", false, "compare with the live stores of a running dev or run, per partition")
	admin := fs.String("admin", "http://127.0.0.1:8082", "admin endpoints of the running processes, comma-separated (with --verify)")
	if _, err := interspersed(fs, args); err != nil {
		return err
	}
	if *list {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROJECTION\tTOPICS")
		for _, p := range platform.Projections() {
			fmt.Fprintf(tw, "%s\t%s\n", p.Name(), p.Topics(g.topics))
		}
		return tw.Flush()
	}
	var proj projections.Projection
	var names []string
	for _, p := range platform.Projections() {
		names = append(names, p.Name())
		if p.Name() == *name {
			proj = p
		}
	}
	if proj == nil {
		return fmt.Errorf("replay: unknown projection %q (%s): %w", *name, strings.Join(names, ", "), errUsage)
	}
	codec, _, err := g.codec()
	if err != nil {
		return err
	}
	conn, err := g.conn()
	if err != nil {
		return err
	}
	fold := func(ends map[state.TopicPartition]int64) (*state.Store, host.Progress, error) {
		st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
		if err != nil {
			return nil, host.Progress{}, err
		}
		prog, err := host.ReplayTo(ctx, proj, st, codec, conn, proj.Topics(g.topics), ends, host.Sync(false))
		if err != nil {
			st.Close()
			return nil, prog, err
		}
		return st, prog, nil
	}
	if *verify {
		return verifyLive(ctx, proj, splitList(*admin), fold, stdout)
	}
	digest := func(ends map[state.TopicPartition]int64) ([32]byte, host.Progress, error) {
		st, prog, err := fold(ends)
		if err != nil {
			return [32]byte{}, prog, err
		}
		defer st.Close()
		d, err := st.DigestAll()
		return d, prog, err
	}
	d1, prog, err := digest(nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: folded %d records (%d poison) from offset 0; digest %s\n",
		*name, prog.Records, prog.Poison, hex.EncodeToString(d1[:]))
	if !*twice {
		return nil
	}
	// The second fold reads to where the first stopped, whatever was
	// appended since.
	d2, _, err := digest(prog.Offsets)
	if err != nil {
		return err
	}
	if d1 != d2 {
		fmt.Fprintf(stdout, "%s: second fold digest %s DIFFERS\n", *name, hex.EncodeToString(d2[:]))
		return errNondeterministic
	}
	fmt.Fprintf(stdout, "%s: second fold gives the same digest: deterministic\n", *name)
	return nil
}

// verifyLive compares every live store of proj served by the admin
// endpoints with a store rebuilt to the same offsets.
func verifyLive(ctx context.Context, proj projections.Projection, admins []string,
	fold func(map[state.TopicPartition]int64) (*state.Store, host.Progress, error), stdout io.Writer) error {
	client := &http.Client{Timeout: 30 * time.Second}
	var lives []platform.Checkpoints
	for _, base := range admins {
		base = strings.TrimRight(base, "/")
		var stores []platform.StoreInfo
		if err := getJSON(ctx, client, base+"/v1/stores", &stores); err != nil {
			return fmt.Errorf("replay --verify: %w (is logmesh dev or run serving its admin endpoint there?)", err)
		}
		for _, s := range stores {
			if s.Projection != proj.Name() {
				continue
			}
			var cp platform.Checkpoints
			if err := getJSON(ctx, client, base+"/v1/stores/"+s.Processor+"/checkpoints", &cp); err != nil {
				return fmt.Errorf("replay --verify: %w", err)
			}
			lives = append(lives, cp)
		}
	}
	if len(lives) == 0 {
		return fmt.Errorf("replay --verify: no live store of %s at %s", proj.Name(), strings.Join(admins, ", "))
	}
	differ := 0
	for _, live := range lives {
		ends := map[state.TopicPartition]int64{}
		for _, p := range live.Partitions {
			if p.HasOffset {
				ends[state.TopicPartition{Topic: p.Topic, Partition: p.Partition}] = p.Next
			}
		}
		st, prog, err := fold(ends)
		if err != nil {
			return fmt.Errorf("replay --verify: rebuild %s to the offsets of %s: %w", proj.Name(), live.Processor, err)
		}
		bad := 0
		for _, p := range live.Partitions {
			d, err := st.Digest(p.Topic, p.Partition)
			if err != nil {
				st.Close()
				return err
			}
			if hex.EncodeToString(d[:]) != p.Digest || !p.HasOffset {
				bad++
				fmt.Fprintf(stdout, "%s in %s: %s/%d at offset %d DIFFERS: live %s, rebuilt %s\n", proj.Name(), live.Processor,
					p.Topic, p.Partition, p.Next, p.Digest, hex.EncodeToString(d[:]))
			}
		}
		st.Close()
		differ += bad
		fmt.Fprintf(stdout, "%s in %s: %d partitions, %d records replayed, %d differ\n",
			proj.Name(), live.Processor, len(live.Partitions), prog.Records, bad)
	}
	if differ > 0 {
		return errDiffers
	}
	fmt.Fprintf(stdout, "%s: every live store equals the rebuilt one\n", proj.Name())
	return nil
}

func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, e.Error)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
