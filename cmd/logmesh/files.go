package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/state"
)

// filesFlags registers the flags of the command that prints the file audit,
// rebuilt from the log or, with --catalog, read from the catalog's live
// store (a status then costs what the files at that status cost, not a
// replay of the log) as the token's principal may read it.
func filesFlags(fs *flag.FlagSet) runFunc {
	status := fs.String("status", "", "only files with this status: "+strings.Join(audit.Statuses(), ", "))
	asJSON := fs.Bool("json", false, "print a JSON array")
	api := addCatalogFlags(fs)
	return func(ctx context.Context, g global, in *cmdInput) error {
		stdout := in.stdout
		want := strings.ToUpper(*status)
		if want != "" && !slices.Contains(audit.Statuses(), want) {
			return fmt.Errorf("files: unknown status %q (%s): %w", *status, strings.Join(audit.Statuses(), ", "), errUsage)
		}
		var files []audit.File
		if api.url != "" {
			var err error
			if files, err = catalogFiles(ctx, api, want, g.at); err != nil {
				return fmt.Errorf("files: %w", err)
			}
		} else {
			all, err := auditFiles(ctx, g)
			if err != nil {
				return err
			}
			for _, f := range all {
				if want == "" || f.Status == want {
					files = append(files, f)
				}
			}
		}
		if *asJSON {
			return writeFilesJSON(stdout, files)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tSTATUS\tATTEMPT\tTABLE\tREAD\tWRITTEN\tREJECTED\tSUPERSEDED\tVERSION\tLANDED\tERROR")
		for _, f := range files {
			landed := ""
			if !f.LandedAt.IsZero() {
				landed = f.LandedAt.UTC().Format(time.RFC3339)
			}
			attempt := strconv.Itoa(int(events.Attempt(f.Attempt)))
			if f.Retry > f.Attempt {
				attempt += fmt.Sprintf(" (%d requested)", f.Retry)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", f.Key, f.Status, attempt, f.Table,
				f.RowsRead, f.RowsWritten, f.RowsRejected, f.RowsSuperseded, f.TableVersion, landed, f.Error)
		}
		return tw.Flush()
	}
}

// auditFiles folds the raw domain's events and batches into a fresh
// in-memory store and returns the audit.
func auditFiles(ctx context.Context, g global) ([]audit.File, error) {
	codec, _, err := g.codec()
	if err != nil {
		return nil, err
	}
	conn, err := g.reach(ctx, "to rebuild the file audit")
	if err != nil {
		return nil, err
	}
	st, err := state.Open("", &state.Options{FS: vfs.NewMem()})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var proj projections.Projection = audit.Projection{}
	if !g.at.IsZero() {
		proj = projections.AsOf{Projection: proj, At: g.at}
	}
	if _, err := host.Replay(ctx, proj, st, codec, conn, proj.Topics(g.topics), host.Sync(false)); err != nil {
		return nil, fmt.Errorf("files: rebuild the audit: %w", g.unreachableRegistry(ctx, err, "to rebuild the file audit", ""))
	}
	return audit.Files(st)
}

// catalogFiles reads the files of status ("" for every status) from the
// catalog's /v1/files, every page, as of at unless it is zero.
func catalogFiles(ctx context.Context, api *catalogFlags, status string, at time.Time) ([]audit.File, error) {
	q := url.Values{"page_size": {strconv.Itoa(catalog.MaxPageSize)}}
	if status != "" {
		q.Set("status", status)
	}
	if !at.IsZero() {
		q.Set("as_of", at.UTC().Format(time.RFC3339Nano))
	}
	var files []audit.File
	for {
		var page struct {
			Items []catalog.FileView `json:"items"`
			Next  string             `json:"next_page_token"`
		}
		if err := api.get(ctx, "/v1/files?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		for _, v := range page.Items {
			files = append(files, v.File())
		}
		if page.Next == "" {
			return files, nil
		}
		q.Set("page_token", page.Next)
	}
}

// fileJSON is one file of `logmesh files --json`.
type fileJSON struct {
	Key          string       `json:"key"`
	Status       string       `json:"status"`
	Attempt      int32        `json:"attempt"`
	Retry        int32        `json:"retry_requested,omitempty"`
	Table        string       `json:"table,omitempty"`
	Feed         string       `json:"feed,omitempty"`
	ID           string       `json:"id"`
	Checksum     string       `json:"checksum,omitempty"`
	Size         int64        `json:"size"`
	BatchID      string       `json:"batch_id,omitempty"`
	RowsRead     int64        `json:"rows_read"`
	RowsWritten  int64        `json:"rows_written"`
	RowsRejected int64        `json:"rows_rejected"`
	Superseded   int64        `json:"rows_superseded"`
	TableVersion int64        `json:"table_version,omitempty"`
	Error        string       `json:"error"`
	Rejections   []string     `json:"rejections,omitempty"`
	LandedAt     *time.Time   `json:"landed_at,omitempty"`
	Timeline     []audit.Step `json:"timeline"`
}

func writeFilesJSON(w io.Writer, files []audit.File) error {
	out := make([]fileJSON, 0, len(files))
	for _, f := range files {
		fj := fileJSON{
			Key: f.Key, Status: f.Status, Attempt: f.Attempt, Retry: f.Retry, Table: f.Table, Feed: f.Feed, ID: f.ID, Checksum: f.Checksum,
			Size: f.Size, BatchID: f.BatchID, RowsRead: f.RowsRead, RowsWritten: f.RowsWritten,
			RowsRejected: f.RowsRejected, Superseded: f.RowsSuperseded, TableVersion: f.TableVersion, Error: f.Error,
			Rejections: f.Rejections, Timeline: f.Timeline,
		}
		if !f.LandedAt.IsZero() {
			t := f.LandedAt
			fj.LandedAt = &t
		}
		out = append(out, fj)
	}
	return printJSON(w, out)
}

// errUnknownFile marks a key `files retry` found no landed file for.
var errUnknownFile = errors.New("unknown file")

// retrySynopsis is the usage line of `files retry`.
const retrySynopsis = "files retry KEY... | --status UNMATCHED|FAILED [--since T] [--reason R] [--by WHO]"

// filesRetryFlags registers the flags of the command that asks for landed
// files to be tried again: for each file it produces one FileRetryRequested
// of the file's next attempt on the raw domain's bus, keyed (and
// correlated) by the file id like every event of the file, which the
// watcher acts on (processors/ingest). The files are given by key (the
// latest file with that key) or by status (every file at UNMATCHED or
// FAILED, landed since --since if given), as the audit rebuilt from the log
// has them. A file that is PROCESSED, still being loaded, or whose retry is
// already pending is said so and left alone; an unknown key is an error,
// after the known keys were retried.
func filesRetryFlags(fs *flag.FlagSet) runFunc {
	status := fs.String("status", "", "retry every file with this status: UNMATCHED or FAILED")
	since := fs.String("since", "", "with --status, only the files landed at or after this RFC 3339 time")
	reason := fs.String("reason", "", "why (recorded with each request)")
	by := fs.String("by", "cli", "who asks (recorded as BY:$USER)")
	return func(ctx context.Context, g global, in *cmdInput) error {
		keys, stdout := in.args, in.stdout
		want := strings.ToUpper(*status)
		var from time.Time
		var err error
		switch {
		case !g.at.IsZero():
			return fmt.Errorf("files retry acts on the log as it stands now; --at is not for it: %w", errUsage)
		case (len(keys) == 0) == (want == ""):
			return usageError("files retry: give keys or --status, not both")
		case want != "" && want != audit.StatusUnmatched && want != audit.StatusFailed:
			return fmt.Errorf("files retry: --status %q: only UNMATCHED and FAILED files can be retried: %w", *status, errUsage)
		case *since != "" && want == "":
			return fmt.Errorf("files retry: --since goes with --status: %w", errUsage)
		case *since != "":
			if from, err = time.Parse(time.RFC3339Nano, *since); err != nil {
				return fmt.Errorf("files retry: --since %q: want an RFC 3339 time, such as 2026-10-01T00:00:00Z: %w", *since, errUsage)
			}
		}
		all, err := auditFiles(ctx, g)
		if err != nil {
			return err
		}
		var files []audit.File
		var unknown []string
		if want != "" {
			for _, f := range all {
				if f.Status == want && (from.IsZero() || !f.LandedAt.Before(from)) {
					files = append(files, f)
				}
			}
			if len(files) == 0 {
				fmt.Fprintf(stdout, "no %s files to retry\n", want)
				return nil
			}
		} else {
			// The latest file of each key: Files lists them in landing order.
			latest := map[string]audit.File{}
			for _, f := range all {
				latest[f.Key] = f
			}
			asked := map[string]bool{}
			for _, k := range keys {
				if asked[k] {
					continue
				}
				asked[k] = true
				f, ok := latest[k]
				if !ok {
					unknown = append(unknown, k)
					continue
				}
				files = append(files, f)
			}
		}
		var reqs []*events.FileRetryRequested
		for _, f := range files {
			switch {
			case f.Status == audit.StatusProcessed:
				fmt.Fprintf(stdout, "%s is already PROCESSED (attempt %d); nothing to retry\n", f.Key, f.Attempt)
			case f.Retry > f.Attempt:
				fmt.Fprintf(stdout, "%s: a retry is already pending (attempt %d requested, not landed yet); not requesting it again\n", f.Key, f.Retry)
			case f.Status != audit.StatusUnmatched && f.Status != audit.StatusFailed:
				fmt.Fprintf(stdout, "%s is %s (attempt %d), still being loaded; nothing to retry until it ends\n", f.Key, cmp.Or(f.Status, "not landed"), f.Attempt)
			case f.Checksum == "":
				fmt.Fprintf(stdout, "%s is %s but its checksum is unknown (it was never seen landing); land it again instead\n", f.Key, f.Status)
			default:
				reqs = append(reqs, audit.RetryRequest(f, grantor(*by), *reason, time.Now()))
			}
		}
		if len(reqs) > 0 {
			if err := g.emitAll(ctx, reqs); err != nil {
				return fmt.Errorf("files retry: %w", err)
			}
		}
		var retried []string
		for _, r := range reqs {
			fmt.Fprintf(stdout, "retry requested: %s (attempt %d)\n", r.FileKey, r.Attempt)
			retried = append(retried, r.FileKey)
		}
		if len(unknown) > 0 {
			done := "none"
			if len(retried) > 0 {
				done = strings.Join(retried, ", ")
			}
			return fmt.Errorf("files retry: no landed file has the key %s (logmesh files lists them); retried: %s: %w",
				strings.Join(unknown, ", "), done, errUnknownFile)
		}
		return nil
	}
}

// emitAll produces evs to the raw domain's bus in one produce call, each
// keyed by its file id, and waits until every one is written.
func (g global) emitAll(ctx context.Context, evs []*events.FileRetryRequested) error {
	codec, _, err := g.codec()
	if err != nil {
		return err
	}
	if err := codec.Register(ctx); err != nil {
		return err
	}
	conn, err := g.conn()
	if err != nil {
		return err
	}
	recs := make([]*kgo.Record, 0, len(evs))
	for _, ev := range evs {
		rec, err := codec.Record(ev)
		if err != nil {
			return err
		}
		rec.Topic = g.topics.Domain(events.DomainRaw)
		recs = append(recs, rec)
	}
	cl, err := conn.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(ctx, recs...).FirstErr()
}
