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
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/term"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logview"
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

// replayFlags registers the flags of the command that rebuilds a projection
// from offset 0 in a fresh store and prints its digest; --twice folds the
// log twice and compares; --verify compares the rebuilt store with the live
// stores of running processes, partition by partition, each replayed to
// exactly the live store's offsets.
func replayFlags(fs *flag.FlagSet) runFunc {
	name := fs.String("projection", "audit", `the projection to rebuild (replay --list names them), or "all"`)
	list := fs.Bool("list", false, "list the projections and the topics each folds")
	twice := fs.Bool("twice", false, "fold the log twice into fresh stores and require equal digests")
	verify := fs.Bool("verify", false, "compare with the live stores of a running dev or run, per partition")
	admin := fs.String("admin", "http://127.0.0.1:8082", "admin endpoints of the running processes, comma-separated (with --verify)")
	progress := fs.Bool("progress", false, "print progress (records, events/s, ETA) to stderr; the default on a terminal")
	return func(ctx context.Context, g global, in *cmdInput) error {
		stdout, stderr := in.stdout, in.stderr
		if *list {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROJECTION\tTOPICS")
			for _, p := range platform.Projections() {
				fmt.Fprintf(tw, "%s\t%s\n", p.Name(), p.Topics(g.topics))
			}
			return tw.Flush()
		}
		var chosen []projections.Projection
		var names []string
		for _, p := range platform.Projections() {
			names = append(names, p.Name())
			if p.Name() == *name || *name == "all" {
				chosen = append(chosen, p)
			}
		}
		if len(chosen) == 0 {
			return fmt.Errorf("replay: unknown projection %q (%s, or all): %w", *name, strings.Join(names, ", "), errUsage)
		}
		if len(chosen) > 1 {
			if *twice {
				return fmt.Errorf("replay --twice takes one projection: %w", errUsage)
			}
			var errs []error
			verified := 0
			for _, p := range chosen {
				sub := []string{"--projection", p.Name(), "--admin", *admin}
				if *verify {
					sub = append(sub, "--verify")
				}
				if *progress {
					sub = append(sub, "--progress")
				}
				one := &command{name: "replay", flags: replayFlags}
				fs, run := one.flagSet()
				_, err := one.parse(fs, sub)
				if err == nil {
					err = run(ctx, g, &cmdInput{stdout: stdout, stderr: stderr})
				}
				switch {
				case errors.Is(err, errNoLiveStore):
					fmt.Fprintf(stdout, "%s: no live store at %s, not verified\n", p.Name(), *admin)
				case err != nil:
					errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
				default:
					verified++
				}
			}
			if *verify && verified == 0 && len(errs) == 0 {
				return fmt.Errorf("replay --verify: no live store of any projection at %s: %w", *admin, errNoLiveStore)
			}
			return errors.Join(errs...)
		}
		proj := chosen[0]
		codec, _, err := g.codec()
		if err != nil {
			return err
		}
		conn, err := g.reach(ctx, "to replay the log")
		if err != nil {
			return err
		}
		show := *progress || isTerminal(stderr)
		fold := func(ends map[state.TopicPartition]int64) (*state.Store, host.Progress, error) {
			if ends == nil {
				// The last stable offsets now: the fold's end, and its ETA.
				if ends, err = logEnds(ctx, conn, proj.Topics(g.topics)); err != nil {
					return nil, host.Progress{}, err
				}
			}
			st, err := state.Open("", &state.Options{FS: vfs.NewMem(), DisableWAL: true})
			if err != nil {
				return nil, host.Progress{}, err
			}
			opts := []host.Option{host.Sync(false)}
			if show {
				opts = append(opts, host.OnProgress(progressPrinter(stderr, proj.Name(), ends)))
			}
			prog, err := host.ReplayTo(ctx, proj, st, codec, conn, proj.Topics(g.topics), ends, opts...)
			if show {
				fmt.Fprintln(stderr)
			}
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
		return fmt.Errorf("replay --verify: no live store of %s at %s: %w", proj.Name(), strings.Join(admins, ", "), errNoLiveStore)
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

// errNoLiveStore: no admin endpoint serves a live store of the projection.
var errNoLiveStore = errors.New("no live store")

// isTerminal reports whether w is a terminal (not a pipe, a file or
// /dev/null, which is a character device too).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// logEnds returns the last stable offsets of the topics of set.
func logEnds(ctx context.Context, conn kafkaconn.Conn, set events.TopicSet) (map[state.TopicPartition]int64, error) {
	lv, err := logview.New(conn, set)
	if err != nil {
		return nil, err
	}
	defer lv.Close()
	ends, err := lv.Ends(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[state.TopicPartition]int64, len(ends))
	for tp, e := range ends {
		out[state.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}] = e
	}
	return out, nil
}

// progressPrinter prints a fold's progress on one line of w, at most twice
// a second: records, offsets done of the total to ends, events/s, ETA.
func progressPrinter(w io.Writer, name string, ends map[state.TopicPartition]int64) func(host.Progress) {
	var total int64
	for _, e := range ends {
		total += e
	}
	start, last := time.Now(), time.Time{}
	return func(p host.Progress) {
		if time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		var done int64
		for _, n := range p.Offsets {
			done += n
		}
		el := time.Since(start).Seconds()
		rate := float64(p.Records) / max(el, 1e-3)
		eta := "?"
		if done > 0 && total > done {
			eta = time.Duration(el * float64(total-done) / float64(done) * float64(time.Second)).Round(time.Second).String()
		} else if total <= done {
			eta = "0s"
		}
		fmt.Fprintf(w, "\r%s: %d records, offsets %d of %d, %.0f events/s, ETA %s   ", name, p.Records, done, total, rate, eta)
	}
}
