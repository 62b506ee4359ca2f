package main

import (
	"context"
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

	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/state"
)

// cmdFiles prints the file audit, rebuilt from the log or, with --catalog,
// read from the catalog's live store (a status then costs what the files
// at that status cost, not a replay of the log) as the token's principal
// may read it.
func cmdFiles(ctx context.Context, g global, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("files", flag.ContinueOnError)
	fs.SetOutput(stderr)
	status := fs.String("status", "", "only files with this status: "+strings.Join(audit.Statuses(), ", "))
	asJSON := fs.Bool("json", false, "print a JSON array")
	api := addCatalogFlags(fs)
	if _, err := interspersed(fs, args); err != nil {
		return err
	}
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
	fmt.Fprintln(tw, "KEY\tSTATUS\tTABLE\tREAD\tWRITTEN\tREJECTED\tSUPERSEDED\tVERSION\tLANDED\tERROR")
	for _, f := range files {
		landed := ""
		if !f.LandedAt.IsZero() {
			landed = f.LandedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", f.Key, f.Status, f.Table,
			f.RowsRead, f.RowsWritten, f.RowsRejected, f.RowsSuperseded, f.TableVersion, landed, f.Error)
	}
	return tw.Flush()
}

// auditFiles folds the raw domain's events and batches into a fresh
// in-memory store and returns the audit.
func auditFiles(ctx context.Context, g global) ([]audit.File, error) {
	codec, _, err := g.codec()
	if err != nil {
		return nil, err
	}
	conn, err := g.conn()
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
		return nil, fmt.Errorf("files: rebuild the audit: %w", err)
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
			Key: f.Key, Status: f.Status, Table: f.Table, Feed: f.Feed, ID: f.ID, Checksum: f.Checksum,
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
