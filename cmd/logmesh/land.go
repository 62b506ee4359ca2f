package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/logmesh/logmesh/platform"
	"github.com/logmesh/logmesh/processors/ingest"
)

// landDoc is the help text of land.
const landDoc = `Copy files into the landing area, where the watcher lands them (FileLanded).
A FILE lands under PREFIX + its base name; the files of a DIR, walked
recursively, under PREFIX + their path relative to DIR ("/" separators;
hidden and temporary names are left out). Every path and key is checked
before anything is copied. Without --landing, the landing area is the
platform's, as the log records it (Kafka at --brokers). Progress goes to
stderr on a terminal; the summary line to stdout.`

// landFlags registers the flags of the command that copies files, and the
// files of folders, into the landing area.
func landFlags(fs *flag.FlagSet) runFunc {
	key := fs.String("key", "", "the landing key of the one FILE given (default: see --prefix)")
	prefix := fs.String("prefix", "", `put before every key, as given: end it with "/" for a folder, as in lab/ (default: none)`)
	landing := fs.String("landing", "", "the landing area: DIR or s3://bucket/prefix (default: the platform's, from the log)")
	timeout := fs.Duration("connect-timeout", 5*time.Second, "how long to wait for Kafka when reading the platform's landing area from the log")
	s3 := addS3Flags(fs)
	return func(ctx context.Context, g global, in *cmdInput) error {
		paths, stdout, stderr := in.args, in.stdout, in.stderr
		if *key != "" && *prefix != "" {
			return usageError("land: --key names one file, --prefix goes before many: give one of them")
		}
		// Every path, before Kafka or the landing area.
		plan, skipped, err := ingest.Plan(paths, ingest.KeyOptions{Key: *key, Prefix: *prefix})
		if err != nil {
			return err
		}
		for _, s := range skipped {
			fmt.Fprintf(stderr, "left out %s: %s\n", s.Path, s.Reason)
		}
		loc, err := landingLocation(ctx, g, *landing, *timeout, s3)
		if err != nil {
			return err
		}
		src, err := openLanding(ctx, loc, s3)
		if err != nil {
			return err
		}
		if ls, ok := src.(*ingest.LocalSource); ok {
			loc = ls.Dir()
		}
		var meter *landMeter
		var progress func(ingest.Progress)
		if isTerminal(stderr) {
			meter = newLandMeter(stderr, time.Now)
			progress = meter.update
		}
		keys, err := ingest.Copy(ctx, src, plan, progress)
		if meter != nil {
			meter.finish()
		}
		if err != nil {
			return fmt.Errorf("%w (the %d of %d files copied before it stay landed)", err, len(keys), len(plan))
		}
		fmt.Fprintln(stdout, landSummary(plan, loc, *prefix))
		return nil
	}
}

// landSummary is the line land prints when done: "landed N files (B
// bytes) under LOCATION/PREFIX", or "landed 1 file (B bytes) as
// LOCATION/KEY".
func landSummary(plan []ingest.Landing, location, prefix string) string {
	var bytes int64
	for _, l := range plan {
		bytes += l.Size
	}
	base := strings.TrimSuffix(location, "/") + "/"
	if len(plan) == 1 {
		return fmt.Sprintf("landed 1 file (%d bytes) as %s%s", bytes, base, plan[0].Key)
	}
	return fmt.Sprintf("landed %d files (%d bytes) under %s%s", len(plan), bytes, base, prefix)
}

// openLanding opens a landing area: an existing local directory or
// s3://bucket/prefix.
func openLanding(ctx context.Context, location string, s3 *s3Flags) (ingest.Source, error) {
	if !strings.HasPrefix(location, "s3://") {
		return ingest.NewLocalSource(location)
	}
	cfg, err := s3.config()
	if err != nil {
		return nil, err
	}
	return platform.OpenLanding(ctx, location, cfg)
}

// landingLocation returns the landing area: flagValue if it is set, else
// the platform's as the log records it, once Kafka has answered within
// timeout.
func landingLocation(ctx context.Context, g global, flagValue string, timeout time.Duration, s3 *s3Flags) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	const purpose, alt = "to read the platform's landing area", "--landing DIR"
	conn, err := g.conn()
	if err != nil {
		return "", err
	}
	if err := reachKafka(ctx, g, conn, timeout, purpose, alt); err != nil {
		return "", err
	}
	loc, err := g.located(ctx, "landing", "", "./.logmesh/landing", s3)
	return loc, g.unreachableRegistry(ctx, err, purpose, alt)
}

// landMeter shows Copy's progress on one line of a terminal: files done of
// the total, bytes, rate and ETA, at most five times a second and when the
// last file is done. It is not safe for concurrent use.
type landMeter struct{ *meter }

func newLandMeter(w io.Writer, now func() time.Time) *landMeter {
	return &landMeter{newMeter(w, now, 200*time.Millisecond)}
}

// update is an ingest.Copy progress function.
func (m *landMeter) update(p ingest.Progress) {
	finished := p.Files >= p.TotalFiles
	el, ok := m.due(finished)
	if !ok {
		return
	}
	rate := float64(p.Bytes) / el
	m.draw(fmt.Sprintf("landing: %d/%d files, %s of %s, %s/s, %.0f files/s, ETA %s",
		p.Files, p.TotalFiles, humanBytes(p.Bytes), humanBytes(p.TotalBytes), humanBytes(int64(rate)), float64(p.Files)/el,
		eta(p.Bytes, p.TotalBytes, el, finished)))
}

// humanBytes renders n bytes as "512 B", "3.1 KiB", "5.2 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
