package catalog

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/logmesh/logmesh/projections/audit"
)

// FileView is a landed file's audit in the API: its status, rows, errors
// and timeline (audit.File).
type FileView struct {
	ID             string     `json:"id"`
	Key            string     `json:"key"`
	Status         string     `json:"status"`
	Attempt        int32      `json:"attempt"`
	Retry          int32      `json:"retry_requested,omitempty"`
	Table          string     `json:"table,omitempty"`
	Feed           string     `json:"feed,omitempty"`
	BatchID        string     `json:"batch_id,omitempty"`
	Error          string     `json:"error,omitempty"`
	Source         string     `json:"source,omitempty"`
	Size           int64      `json:"size"`
	Checksum       string     `json:"checksum,omitempty"`
	Version        string     `json:"version,omitempty"`
	LandedEventID  string     `json:"landed_event_id,omitempty"`
	RowsRead       int64      `json:"rows_read"`
	RowsWritten    int64      `json:"rows_written"`
	RowsRejected   int64      `json:"rows_rejected"`
	RowsSuperseded int64      `json:"rows_superseded"`
	TableVersion   int64      `json:"table_version,omitempty"`
	LandedAt       *time.Time `json:"landed_at,omitempty"`
	RejectionCount int64      `json:"rejection_count"`
	Rejections     []string   `json:"rejections,omitempty"`
	Timeline       []StepView `json:"timeline"`
}

// StepView is one step of a file's timeline (audit.Step).
type StepView struct {
	Status  string    `json:"status"`
	At      time.Time `json:"at"`
	EventID string    `json:"event_id"`
	Detail  string    `json:"detail,omitempty"`
	Attempt int32     `json:"attempt"`
}

// NewFileView returns f as the API shows it.
func NewFileView(f audit.File) FileView {
	v := FileView{ID: f.ID, Key: f.Key, Status: f.Status, Attempt: f.Attempt, Retry: f.Retry, Table: f.Table, Feed: f.Feed, BatchID: f.BatchID, Error: f.Error,
		Source: f.Source, Size: f.Size, Checksum: f.Checksum, Version: f.Version, LandedEventID: f.LandedEventID,
		RowsRead: f.RowsRead, RowsWritten: f.RowsWritten, RowsRejected: f.RowsRejected, RowsSuperseded: f.RowsSuperseded,
		TableVersion: f.TableVersion, RejectionCount: f.RejectionCount, Rejections: f.Rejections, Timeline: []StepView{}}
	if !f.LandedAt.IsZero() {
		t := f.LandedAt
		v.LandedAt = &t
	}
	for _, s := range f.Timeline {
		v.Timeline = append(v.Timeline, StepView{Status: s.Status, At: s.At, EventID: s.EventID, Detail: s.Detail, Attempt: s.Attempt})
	}
	return v
}

// File returns the audit record v shows, with its times in UTC: it undoes
// NewFileView.
func (v FileView) File() audit.File {
	f := audit.File{ID: v.ID, Key: v.Key, Status: v.Status, Attempt: v.Attempt, Retry: v.Retry, Table: v.Table, Feed: v.Feed, BatchID: v.BatchID, Error: v.Error,
		Source: v.Source, Size: v.Size, Checksum: v.Checksum, Version: v.Version, LandedEventID: v.LandedEventID,
		RowsRead: v.RowsRead, RowsWritten: v.RowsWritten, RowsRejected: v.RowsRejected, RowsSuperseded: v.RowsSuperseded,
		TableVersion: v.TableVersion, RejectionCount: v.RejectionCount, Rejections: v.Rejections}
	if v.LandedAt != nil {
		f.LandedAt = v.LandedAt.UTC()
	}
	for _, s := range v.Timeline {
		f.Timeline = append(f.Timeline, audit.Step{Status: s.Status, At: s.At.UTC(), EventID: s.EventID, Detail: s.Detail, Attempt: s.Attempt})
	}
	return f
}

// fileOrder is the page key of a file: its landing time (the zero time,
// first, if it was not seen landing), key and id, so that pages list files
// in audit.Files's order.
func fileOrder(v FileView) string {
	var at time.Time
	if v.LandedAt != nil {
		at = *v.LandedAt
	}
	return at.UTC().Format("2006-01-02T15:04:05.000000Z") + "\x00" + v.Key + "\x00" + v.ID
}

// filesList answers the file audit: the files of status (every status
// without it) and of table (every table without it) that principal may
// read, in landing order. Governance reads every file; a domain the files
// of the tables of the products it owns. A status costs what the files
// holding it cost (audit.ByStatus reads the audit's status index); without
// one, every file is read.
func (s *Server) filesList(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	q := r.URL.Query()
	status, table := strings.ToUpper(q.Get("status")), q.Get("table")
	if status != "" && !slices.Contains(audit.Statuses(), status) {
		return fmt.Errorf("status %q must be one of %s: %w", q.Get("status"), strings.Join(audit.Statuses(), ", "), errBadRequest)
	}
	return s.read(ctx, r, func(sn *snapshot) error {
		if table != "" {
			if ok, why := s.readFiles(sn, principal, table); !ok {
				return s.forbidden(ctx, principal, "read-files", table, "catalog", why)
			}
		}
		var (
			files []audit.File
			err   error
		)
		if status != "" {
			files, err = audit.ByStatus(sn.st, status)
		} else {
			files, err = audit.Files(sn.st)
		}
		if err != nil {
			return err
		}
		var out []FileView
		for _, f := range files {
			if table != "" && f.Table != table {
				continue
			}
			if ok, _ := s.readFiles(sn, principal, f.Table); ok {
				out = append(out, NewFileView(f))
			}
		}
		return page(w, r, sn, out, fileOrder)
	})
}

// readFiles decides whether principal may read the file audit of table
// ("" for files no feed took): governance may, and the domain that owns
// the product publishing table.
func (s *Server) readFiles(sn *snapshot, principal, table string) (bool, string) {
	if principal == Governance {
		return true, ""
	}
	d, ok := sn.productOfTable(table)
	switch {
	case table == "":
		return false, "the files no feed took are governance's to read"
	case !ok:
		return false, "no product publishes table " + table
	case d.Product.Owner != principal:
		return false, fmt.Sprintf("only governance and the owner, %s, read the files of %s", d.Product.Owner, table)
	}
	return true, ""
}
