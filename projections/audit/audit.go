// Package audit is the file audit: a pure fold of the ingestion facts into a
// status timeline per landed file,
//
//	RECEIVED (FileLanded) → BATCHED (BatchPlanned lists the file) → PROCESSED (FileProcessed) | FAILED (FileFailed)
//	RECEIVED (FileLanded) → UNMATCHED (FileFailed at stage "match": no feed takes its key)
//
// with the file's rows read, written and rejected, its errors, batch, table
// and table version, and where and when it landed.
//
// # Attempts
//
// A file that ended UNMATCHED or FAILED can be tried again: a
// FileRetryRequested asks for attempt n (a step RETRY_REQUESTED in the
// timeline; the status stays), and the watcher begins it with a FileLanded
// of attempt n (RECEIVED again, with the feed and table that match now) or
// a FileFailed of attempt n (UNMATCHED still, or FAILED at stage "read" if
// the file is gone). Every per-file event carries its attempt (Attempt,
// BatchFile.Attempt; 1 when absent). In each scope, an event of a later
// attempt than the entry's begins that attempt: the status and the
// per-attempt fields (feed, table, batch, error, rows, table version) start
// afresh; an event of an earlier attempt only adds its step. The timeline
// keeps the steps of every attempt, each step with its attempt.
//
// # Identity and scopes
//
// A file is identified by events.DeriveID(key, checksum), which is also the
// correlation id (and so the Kafka key) of every per-file event on
// logmesh.raw.events. A re-landed file with other content is therefore a new
// file. BatchPlanned travels on logmesh.raw.batches keyed by table, so a
// host folds it into another state scope than the file's own events (see
// docs/decisions/0001-partition-scoped-state.md). The projection never reads
// across scopes: each scope holds, per file, what that scope saw (an entry
// under "f/<file id>"), and the query side (Files, ByStatus, Pending) merges
// the entries of a file from all scopes with a deterministic rule:
//
//   - attempt: the highest attempt of the entries is the file's; only the
//     entries of that attempt give the status and the per-attempt fields,
//     so a file retried after it FAILED shows RECEIVED, then BATCHED, then
//     PROCESSED of its new attempt although another scope still holds the
//     old attempt as BATCHED.
//   - status: among those entries, a terminal status (PROCESSED, FAILED,
//     UNMATCHED) beats BATCHED, which beats RECEIVED. Within one scope and
//     attempt, the later of two terminal statuses wins, so a file that
//     FAILED and was then loaded again and PROCESSED ends PROCESSED, with
//     both steps in its timeline.
//   - timeline: the union of the scopes' steps, ordered by attempt, then
//     by time, then by status rank, then by event id.
//   - other fields: taken from the entries ordered by attempt (highest
//     first), then status rank (highest first), then by their latest step;
//     the first entry that has a value wins (per-attempt fields: the first
//     entry of the highest attempt).
//
// The result does not depend on the order in which scopes are visited, nor
// on how the events of different scopes interleave.
//
// # Tolerance
//
// Per-file events of a file that the projection has not seen land (a
// FileProcessed without FileLanded, say) are kept: the file appears with what
// those events say and without a landing time. Events with an id already in
// a file's timeline are duplicates and are dropped. Events without an event
// id, and per-file events whose correlation id contradicts
// DeriveID(key, checksum), are refused with projections.ErrInvariant.
//
// Files that landed without a table (no feed matched their key) are never
// planned; the landing watcher records their outcome as a FileFailed at
// stage "match", which makes them UNMATCHED, with the reason.
//
// # Status index
//
// Beside its entries, each scope keeps an index of them by status: the key
// "s/<status>/<file id>" (empty value) is present exactly while the scope's
// entry for the file has that status. ByStatus and Pending read the index
// for candidates and then only the candidates' entries, so they cost what
// the files at that status cost, not the audit's whole history. A file's
// merged status is the status of one of its entries, so every file with
// merged status S has an index key under "s/S/" in some scope; the
// candidates whose merged status turns out to be another are dropped.
//
// # Encoding
//
// Entries are JSON of unexported structs (fixed field order, no maps) with
// times as Unix microseconds, so the same events give the same bytes.
// Attempts are stored as 0 for the first and omitted then, so the entry
// of a file never retried has the bytes it had before attempts existed,
// and an entry written before reads as attempt 1 (no version bump).
// Entries of encoding version 1 were written before the status index
// existed and have no index key; the fold reads them and writes them back
// at the current version with their key, and Reindex upgrades a whole
// store of them at once.
package audit

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
)

// File statuses, in increasing rank (PROCESSED and FAILED share the top
// rank).
const (
	StatusReceived  = "RECEIVED"
	StatusBatched   = "BATCHED"
	StatusProcessed = "PROCESSED"
	StatusFailed    = "FAILED"
	// StatusUnmatched is the outcome of a file no feed takes: a FileFailed
	// at StageMatch. It is terminal, like FAILED.
	StatusUnmatched = "UNMATCHED"
)

// StageMatch is the FileFailed stage of a file no feed matches.
const StageMatch = "match"

// StepRetryRequested is the status of the timeline step of a
// FileRetryRequested. It is a step only: a file's status never takes it
// (the file keeps its status until the attempt the request asks for
// begins), and it is not one of Statuses().
const StepRetryRequested = "RETRY_REQUESTED"

// Statuses lists every status, in the order files move through them.
func Statuses() []string {
	return []string{StatusReceived, StatusBatched, StatusProcessed, StatusFailed, StatusUnmatched}
}

// MaxRejections is how many RecordRejected reasons a file keeps (the first
// ones, in log order); the rest are only counted.
const MaxRejections = 5

// ErrUnknownStatus is returned by ByStatus for a status that is not one of
// Statuses().
var ErrUnknownStatus = errors.New("audit: unknown status")

// Key prefixes. Stores that fold the audit together with other projections
// (projections/catalog) must keep theirs apart from these.
const (
	// prefixFile keys the per-file entries: "f/<file id>" → entry JSON.
	prefixFile = "f/"
	// prefixStatus keys the status index: "s/<status>/<file id>" → "".
	prefixStatus = "s/"
)

// Encoding versions of an entry: version 1 entries have no status index
// key, version 2 ones do.
const (
	entryVersionUnindexed = 1
	entryVersion          = 2
)

func statusPrefix(status string) string { return prefixStatus + status + "/" }

func statusKey(status, id string) []byte { return []byte(statusPrefix(status) + id) }

func rank(status string) int {
	switch status {
	case StatusReceived:
		return 1
	case StatusBatched:
		return 2
	case StatusProcessed, StatusFailed, StatusUnmatched:
		return 3
	}
	return 0
}

// Projection is the audit fold. The zero value is ready; it holds no state
// of its own and is safe for concurrent use.
type Projection struct{}

var _ projections.Projection = Projection{}

// Name returns "audit".
func (Projection) Name() string { return "audit" }

// Topics returns the raw domain's events topic and the batches topic: every
// per-file fact is on the former, BatchPlanned on the latter.
func (Projection) Topics(t events.Topics) events.TopicSet {
	return events.TopicNames(t.Domain(events.DomainRaw), t.Batches())
}

// Handles implements projections.Selective: the host skips other facts
// without decoding them.
func (Projection) Handles(name string) bool {
	return slices.Contains([]string{events.NameFileLanded, events.NameBatchPlanned, events.NameRecordRejected, events.NameFileProcessed,
		events.NameFileFailed, events.NameFileRetryRequested}, name)
}

// Apply folds ev into s. It handles FileLanded, BatchPlanned,
// RecordRejected, FileProcessed, FileFailed and FileRetryRequested, and
// ignores every other event. It refuses (with an error wrapping projections.ErrInvariant) an
// event without an event id and a per-file event whose correlation id is not
// the file id derived from its key and checksum.
func (Projection) Apply(s projections.Store, ev events.Event) error {
	switch e := ev.(type) {
	case *events.FileLanded:
		return applyLanded(s, e)
	case *events.BatchPlanned:
		return applyBatch(s, e)
	case *events.RecordRejected:
		return applyRejected(s, e)
	case *events.FileProcessed:
		return applyProcessed(s, e)
	case *events.FileFailed:
		return applyFailed(s, e)
	case *events.FileRetryRequested:
		return applyRetry(s, e)
	}
	return nil
}

// step is one stored timeline step.
type step struct {
	Status  string `json:"s"`
	At      int64  `json:"at"` // Unix microseconds
	EventID string `json:"id"`
	Detail  string `json:"d,omitempty"`
	// Attempt is the attempt the step belongs to, 0 for the first (so a
	// file never retried encodes as it did before attempts existed).
	Attempt int32 `json:"a,omitempty"`
}

// attempt returns the step's attempt, 1 for the first.
func (s step) attempt() int32 { return events.Attempt(s.Attempt) }

// entry is what one scope knows of one file. Field order is the encoding
// order; do not reorder.
type entry struct {
	V              int      `json:"v"`
	ID             string   `json:"id"`
	Key            string   `json:"key,omitempty"`
	Checksum       string   `json:"checksum,omitempty"`
	Size           int64    `json:"size,omitempty"`
	Version        string   `json:"version,omitempty"`
	Source         string   `json:"source,omitempty"`
	LandedEventID  string   `json:"landed_event_id,omitempty"`
	Landed         bool     `json:"landed,omitempty"`    // a FileLanded set LandedEventID and LandedAt
	LandedAt       int64    `json:"landed_at,omitempty"` // Unix microseconds; valid if Landed
	Feed           string   `json:"feed,omitempty"`
	Table          string   `json:"table,omitempty"`
	Status         string   `json:"status,omitempty"`
	BatchID        string   `json:"batch_id,omitempty"`
	Error          string   `json:"error,omitempty"`
	HasResult      bool     `json:"has_result,omitempty"` // a terminal event set the counts below
	RowsRead       int64    `json:"rows_read,omitempty"`
	RowsWritten    int64    `json:"rows_written,omitempty"`
	RowsRejected   int64    `json:"rows_rejected,omitempty"`
	RowsSuperseded int64    `json:"rows_superseded,omitempty"`
	TableVersion   int64    `json:"table_version,omitempty"`
	RejectionCount int64    `json:"rejection_count,omitempty"`
	Rejections     []string `json:"rejections,omitempty"`
	Steps          []step   `json:"steps,omitempty"`
	// Attempt is the attempt the entry's status and per-attempt fields
	// (Feed, Table, Status, BatchID, Error, the result) are of; 0 for
	// the first, so a file never retried encodes as it did before
	// attempts existed (no version bump: an older entry reads as attempt
	// 1).
	Attempt int32 `json:"attempt,omitempty"`
	// Retry is the highest attempt a FileRetryRequested asked for, 0 if
	// none; the retry is pending while it is above the entry's attempt.
	Retry int32 `json:"retry,omitempty"`

	// indexed is the status whose index key the scope holds for the
	// entry as loaded ("" for none); not encoded.
	indexed string
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// fileID returns the id of the file an event is about: its correlation id,
// checked against DeriveID(key, checksum) when both are known.
func fileID(ev events.Event, key string, checksum *string) (string, error) {
	m := ev.Meta()
	if m.EventID == "" {
		return "", fmt.Errorf("audit: %s has no event id: %w", ev.Name(), projections.ErrInvariant)
	}
	var derived string
	if checksum != nil && key != "" {
		derived = events.DeriveID(key, *checksum)
	}
	switch {
	case m.CorrelationID == "" && derived == "":
		return "", fmt.Errorf("audit: %s %s names no file (no correlation id, key or checksum): %w",
			ev.Name(), m.EventID, projections.ErrInvariant)
	case m.CorrelationID == "":
		return derived, nil
	case derived != "" && derived != m.CorrelationID:
		return "", fmt.Errorf("audit: %s %s: correlation id %q is not the file id %q of key %q: %w",
			ev.Name(), m.EventID, m.CorrelationID, derived, key, projections.ErrInvariant)
	}
	return m.CorrelationID, nil
}

func load(s projections.Store, id string) (*entry, error) {
	v, ok, err := s.Get([]byte(prefixFile + id))
	if err != nil {
		return nil, err
	}
	if !ok {
		return &entry{V: entryVersion, ID: id}, nil
	}
	return decode(id, v)
}

func decode(id string, v []byte) (*entry, error) {
	var e entry
	if err := json.Unmarshal(v, &e); err != nil {
		return nil, fmt.Errorf("audit: corrupt entry for file %q: %w", id, err)
	}
	switch e.V {
	case entryVersion:
		e.indexed = e.Status
	case entryVersionUnindexed:
	default:
		return nil, fmt.Errorf("audit: entry for file %q has version %d, want %d", id, e.V, entryVersion)
	}
	return &e, nil
}

// save writes e at the current version and moves its status index key:
// the key of the status it was loaded with is deleted, that of its status
// now is set.
func save(s projections.Store, e *entry) error {
	if e.indexed != e.Status {
		if e.indexed != "" {
			if err := s.Delete(statusKey(e.indexed, e.ID)); err != nil {
				return err
			}
		}
		if e.Status != "" {
			if err := s.Set(statusKey(e.Status, e.ID), nil); err != nil {
				return err
			}
		}
		e.indexed = e.Status
	}
	e.V = entryVersion
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: encode file %q: %w", e.ID, err)
	}
	return s.Set([]byte(prefixFile+e.ID), b)
}

// seen reports whether the entry already has a step from event id.
func (e *entry) seen(id string) bool {
	return slices.ContainsFunc(e.Steps, func(s step) bool { return s.EventID == id })
}

// attempt returns the entry's attempt, 1 for the first.
func (e *entry) attempt() int32 { return events.Attempt(e.Attempt) }

// encodedAttempt is how an attempt is stored: 0 for the first.
func encodedAttempt(n int32) int32 {
	if n = events.Attempt(n); n == 1 {
		return 0
	}
	return n
}

// enter reports whether an event of attempt n may move the entry: it is of
// the entry's attempt, or of a later one, which then begins: the
// per-attempt fields of the earlier attempt are cleared (its steps, the
// file's identity and its rejection count stay). An event of an earlier
// attempt (false) only adds its step to the timeline.
func (e *entry) enter(n int32) bool {
	n = events.Attempt(n)
	switch cur := e.attempt(); {
	case n < cur:
		return false
	case n == cur:
		return true
	}
	e.Attempt = encodedAttempt(n)
	e.Feed, e.Table, e.Status, e.BatchID, e.Error = "", "", "", "", ""
	e.HasResult, e.RowsRead, e.RowsWritten, e.RowsRejected, e.RowsSuperseded, e.TableVersion = false, 0, 0, 0, 0, 0
	return true
}

// record appends a step of attempt n.
func (e *entry) record(status string, m *events.Envelope, detail string, n int32) {
	e.Steps = append(e.Steps, step{Status: status, At: micros(m.OccurredAt), EventID: m.EventID, Detail: detail,
		Attempt: encodedAttempt(n)})
}

// advance appends a step of the entry's attempt and moves the entry's
// status: up in rank, or from one terminal status to another (the later
// outcome of one attempt wins).
func (e *entry) advance(status string, m *events.Envelope, detail string) {
	e.record(status, m, detail, e.attempt())
	if r := rank(status); r > rank(e.Status) || r == 3 {
		e.Status = status
	}
}

func setIfEmpty(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func applyLanded(s projections.Store, ev *events.FileLanded) error {
	id, err := fileID(ev, ev.Key, &ev.Checksum)
	if err != nil {
		return err
	}
	e, err := load(s, id)
	if err != nil || e.seen(ev.Envelope.EventID) {
		return err
	}
	if !e.enter(ev.Attempt) {
		e.record(StatusReceived, &ev.Envelope, "", ev.Attempt)
		return save(s, e)
	}
	e.Key, e.Checksum, e.Size = ev.Key, ev.Checksum, ev.Size
	e.Version, e.Source = deref(ev.Version), ev.Source
	e.Feed, e.Table = deref(ev.Feed), deref(ev.Table)
	// LandedAt is the file's first landing; LandedEventID the landing of
	// its latest attempt (what a batch of that attempt names).
	if !e.Landed {
		e.Landed, e.LandedAt = true, micros(ev.Envelope.OccurredAt)
	}
	e.LandedEventID = ev.Envelope.EventID
	e.advance(StatusReceived, &ev.Envelope, "")
	return save(s, e)
}

func applyBatch(s projections.Store, ev *events.BatchPlanned) error {
	m := ev.Meta()
	if m.EventID == "" {
		return fmt.Errorf("audit: %s has no event id: %w", ev.Name(), projections.ErrInvariant)
	}
	for _, f := range ev.Files {
		id := events.DeriveID(f.Key, f.Checksum)
		e, err := load(s, id)
		if err != nil {
			return err
		}
		if e.seen(m.EventID) {
			continue
		}
		if !e.enter(f.Attempt) {
			e.record(StatusBatched, m, ev.BatchID, f.Attempt)
		} else {
			e.Key, e.Checksum, e.Size = f.Key, f.Checksum, f.Size
			setIfEmpty(&e.Version, deref(f.Version))
			if !e.Landed {
				// The batch names the landing of its attempt.
				e.LandedEventID = f.LandedEventID
			}
			e.Feed, e.Table, e.BatchID = ev.Feed, ev.Table, ev.BatchID
			e.advance(StatusBatched, m, ev.BatchID)
		}
		if err := save(s, e); err != nil {
			return err
		}
	}
	return nil
}

func applyRejected(s projections.Store, ev *events.RecordRejected) error {
	id, err := fileID(ev, ev.FileKey, &ev.FileChecksum)
	if err != nil {
		return err
	}
	e, err := load(s, id)
	if err != nil {
		return err
	}
	setIfEmpty(&e.Key, ev.FileKey)
	setIfEmpty(&e.Checksum, ev.FileChecksum)
	setIfEmpty(&e.Table, ev.Table)
	setIfEmpty(&e.BatchID, ev.BatchID)
	e.RejectionCount++
	if len(e.Rejections) < MaxRejections {
		e.Rejections = append(e.Rejections, rejection(ev))
	}
	return save(s, e)
}

// rejection formats a RecordRejected as "record N [field] rule: reason",
// the first violation, plus " (+M more)" when the record has M more.
func rejection(ev *events.RecordRejected) string {
	s := fmt.Sprintf("record %d", ev.RecordNumber)
	if ev.Field != nil {
		s += " " + *ev.Field
	}
	s += " " + ev.Rule + ": " + ev.Reason
	if n := len(ev.Violations); n > 1 {
		s += fmt.Sprintf(" (+%d more)", n-1)
	}
	return s
}

func applyProcessed(s projections.Store, ev *events.FileProcessed) error {
	id, err := fileID(ev, ev.FileKey, &ev.FileChecksum)
	if err != nil {
		return err
	}
	e, err := load(s, id)
	if err != nil || e.seen(ev.Envelope.EventID) {
		return err
	}
	setIfEmpty(&e.Key, ev.FileKey)
	setIfEmpty(&e.Checksum, ev.FileChecksum)
	if !e.enter(ev.Attempt) {
		e.record(StatusProcessed, &ev.Envelope, "", ev.Attempt)
		return save(s, e)
	}
	if ev.Table != "" {
		e.Table = ev.Table
	}
	if ev.BatchID != "" {
		e.BatchID = ev.BatchID
	}
	e.HasResult = true
	e.RowsRead, e.RowsWritten, e.RowsRejected = ev.RecordsRead, ev.RecordsLoaded, ev.RecordsRejected
	if ev.RecordsInVersion != nil {
		e.RowsWritten, e.RowsSuperseded = *ev.RecordsInVersion, ev.RecordsSuperseded
	}
	e.TableVersion = deref(ev.TableVersion)
	e.Error = ""
	e.advance(StatusProcessed, &ev.Envelope, "")
	return save(s, e)
}

func applyFailed(s projections.Store, ev *events.FileFailed) error {
	id, err := fileID(ev, ev.FileKey, ev.FileChecksum)
	if err != nil {
		return err
	}
	e, err := load(s, id)
	if err != nil || e.seen(ev.Envelope.EventID) {
		return err
	}
	setIfEmpty(&e.Key, ev.FileKey)
	setIfEmpty(&e.Checksum, deref(ev.FileChecksum))
	status := StatusFailed
	if ev.Stage == StageMatch {
		status = StatusUnmatched
	}
	reason := ev.Stage + ": " + ev.Reason
	if !e.enter(ev.Attempt) {
		e.record(status, &ev.Envelope, reason, ev.Attempt)
		return save(s, e)
	}
	if t := deref(ev.Table); t != "" {
		e.Table = t
	}
	if b := deref(ev.BatchID); b != "" {
		e.BatchID = b
	}
	e.HasResult = true
	e.RowsRead, e.RowsWritten, e.RowsRejected, e.RowsSuperseded = ev.RecordsRead, 0, ev.RecordsRejected, 0
	e.TableVersion = 0
	e.Error = reason
	e.advance(status, &ev.Envelope, e.Error)
	return save(s, e)
}

// applyRetry records a FileRetryRequested: a step of the attempt it asks
// for, and that attempt as the entry's pending retry. The status stays
// until the attempt begins (its FileLanded, or the watcher's FileFailed).
func applyRetry(s projections.Store, ev *events.FileRetryRequested) error {
	id, err := fileID(ev, ev.FileKey, &ev.FileChecksum)
	if err != nil {
		return err
	}
	e, err := load(s, id)
	if err != nil || e.seen(ev.Envelope.EventID) {
		return err
	}
	setIfEmpty(&e.Key, ev.FileKey)
	setIfEmpty(&e.Checksum, ev.FileChecksum)
	n := events.Attempt(ev.Attempt)
	e.Retry = max(e.Retry, n)
	detail := "by " + ev.RequestedBy
	if r := deref(ev.Reason); r != "" {
		detail += ": " + r
	}
	e.record(StepRetryRequested, &ev.Envelope, detail, n)
	return save(s, e)
}

// Step is one status change in a file's timeline.
type Step struct {
	// Status is the status the file reached.
	Status string
	// At is the occurred-at time of the event that caused the step.
	At time.Time
	// EventID is that event's id.
	EventID string
	// Detail is the batch id of a BATCHED step, "stage: reason" of a
	// FAILED or UNMATCHED step, and "by PRINCIPAL[: reason]" of a
	// StepRetryRequested step; empty otherwise.
	Detail string
	// Attempt is the attempt of the file the step belongs to: 1 for its
	// landing, n for the n-th try (a StepRetryRequested step belongs to
	// the attempt it asks for).
	Attempt int32
}

// File is the merged audit record of one file. Values returned by Files and
// Pending are the caller's.
type File struct {
	// ID is events.DeriveID(Key, Checksum), the files' correlation id.
	ID string
	// Key is the object key in the landing area.
	Key string
	// Table is the raw table the file loads into; "" if no feed matched.
	Table string
	// Feed is the feed that matched the key; "" if none.
	Feed string
	// Status is one of Statuses(), the status of the file's latest
	// attempt; "" for a file known only from RecordRejected events.
	Status string
	// Attempt is the file's latest attempt: 1 for its landing, n after
	// n-1 retries (FileRetryRequested). Table, Feed, Status, BatchID,
	// Error, the row counts and TableVersion are those of this attempt.
	Attempt int32
	// Retry is the highest attempt a FileRetryRequested asked for, 0 if
	// none was asked for: a retry is pending (requested, the attempt not
	// begun) while Retry > Attempt.
	Retry int32
	// BatchID is the batch of the latest attempt, if any.
	BatchID string
	// Error is "stage: reason" of the latest attempt's FileFailed, cleared
	// when the attempt is processed after all.
	Error string
	// Source is events.SourceLocal or events.SourceS3; "" if not landed.
	Source string
	// Size is the file's size in bytes.
	Size int64
	// Checksum is the SHA-256 of the content, lower-case hex.
	Checksum string
	// Version is the object version or ETag, if the store has one.
	Version string
	// LandedEventID is the id of the FileLanded of the file's latest
	// attempt that landed (events.AttemptID); it can also come from a
	// BatchPlanned when the FileLanded has not been seen.
	LandedEventID string
	// RowsRead, RowsWritten and RowsRejected are the counts reported by the
	// latest FileProcessed or FileFailed; before either, RowsRejected is
	// RejectionCount. RowsWritten counts the rows of the file that are in
	// the table version; RowsSuperseded those it loaded that lost an upsert
	// to a newer row (so are not in it).
	RowsRead, RowsWritten, RowsRejected, RowsSuperseded int64
	// TableVersion is the table version holding the file's rows, 0 if none.
	TableVersion int64
	// LandedAt is the occurred-at time of the file's first FileLanded;
	// zero if not seen.
	LandedAt time.Time
	// Timeline lists the steps of every attempt of the file, attempt by
	// attempt, each in time order.
	Timeline []Step
	// RejectionCount counts RecordRejected events of the file, over all
	// attempts.
	RejectionCount int64
	// Rejections holds the first MaxRejections rejection reasons, as
	// "record N [field] rule: reason".
	Rejections []string
}

// Scanner reads committed state from every scope, the way
// (*state.Store).ScanAll does: it calls fn for each key with prefix, in
// every scope S. The type parameter lets *state.Store satisfy it without this
// package importing package state.
type Scanner[S any] interface {
	ScanAll(prefix []byte, fn func(scope S, key, value []byte) error) error
}

// Files returns every file of the audit, merged over all scopes of st,
// sorted by landing time, then key, then id (files never seen landing come
// first). It reads every entry, so its cost grows with the audit's history;
// ByStatus reads only the files at one status. It is as safe for concurrent
// use as st.ScanAll.
func Files[S any](st Scanner[S]) ([]File, error) {
	parts := map[string][]*entry{}
	err := st.ScanAll([]byte(prefixFile), func(_ S, key, value []byte) error {
		id := string(key[len(prefixFile):])
		e, err := decode(id, value)
		if err != nil {
			return err
		}
		parts[id] = append(parts[id], e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	files := make([]File, 0, len(parts))
	for id, es := range parts {
		files = append(files, merge(id, es))
	}
	sortFiles(files)
	return files, nil
}

// sortFiles sorts files by landing time, then key, then id.
func sortFiles(files []File) {
	slices.SortFunc(files, func(a, b File) int {
		return cmp.Or(a.LandedAt.Compare(b.LandedAt), cmp.Compare(a.Key, b.Key), cmp.Compare(a.ID, b.ID))
	})
}

// Scope is how *state.Store names a scope (state.TopicPartition): a topic
// and a partition. The constraint lets ByStatus read one key of each scope
// without this package importing package state.
type Scope interface {
	~struct {
		Topic     string
		Partition int32
	}
}

// Reader reads committed state the way *state.Store does: every scope's
// keys under a prefix (ScanAll), the scopes there are (Partitions), and one
// key of one scope (Get).
type Reader[S Scope] interface {
	Scanner[S]
	Partitions() ([]S, error)
	Get(topic string, partition int32, key []byte) (value []byte, ok bool, err error)
}

// ByStatus returns the files whose merged status is status, exactly as
// Files returns them (the same values, in the same order) without the
// others. It finds its candidates in the status index of every scope and
// then reads each candidate's entry in every scope by a point read, so its
// cost grows with the number of files some scope holds at status (times
// the number of scopes), not with the audit's history. Entries of a store
// folded before the index existed are not found until Reindex has run over
// it. It returns an error wrapping ErrUnknownStatus unless status is one of
// Statuses(). It is as safe for concurrent use as st; its reads are not one
// snapshot, so a fold committing meanwhile may show in some of them.
func ByStatus[S Scope](st Reader[S], status string) ([]File, error) {
	if !slices.Contains(Statuses(), status) {
		return nil, fmt.Errorf("%w %q (want one of %v)", ErrUnknownStatus, status, Statuses())
	}
	prefix := statusPrefix(status)
	var ids []string
	err := st.ScanAll([]byte(prefix), func(_ S, key, _ []byte) error {
		ids = append(ids, string(key[len(prefix):]))
		return nil
	})
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	parts, err := st.Partitions()
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	var files []File
	for _, id := range slices.Compact(ids) {
		es, err := entries(st, parts, id)
		if err != nil {
			return nil, err
		}
		if len(es) == 0 {
			continue // an index key without its entry; Files would not list it either
		}
		if f := merge(id, es); f.Status == status {
			files = append(files, f)
		}
	}
	sortFiles(files)
	return files, nil
}

// entries reads the entries of file id from the scopes parts of st.
func entries[S Scope](st Reader[S], parts []S, id string) ([]*entry, error) {
	key := []byte(prefixFile + id)
	var es []*entry
	for _, p := range parts {
		tp := struct {
			Topic     string
			Partition int32
		}(p)
		v, ok, err := st.Get(tp.Topic, tp.Partition, key)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		e, err := decode(id, v)
		if err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return es, nil
}

// Pending returns the files that have landed with a table and are still
// RECEIVED (neither batched nor finished), grouped by table, each table's
// files in landing order. Files without a table are never pending. It reads
// what ByStatus(st, StatusReceived) reads: the files some scope still
// holds as RECEIVED (those pending, and those batched whose outcome has not
// been folded), not the audit's history. The planner calls it on every
// tick.
func Pending[S Scope](st Reader[S]) (map[string][]File, error) {
	files, err := ByStatus(st, StatusReceived)
	if err != nil {
		return nil, err
	}
	out := map[string][]File{}
	for _, f := range files {
		if f.Table != "" {
			out[f.Table] = append(out[f.Table], f)
		}
	}
	return out, nil
}

// Reindex upgrades a store folded before the status index existed: for
// each entry of encoding version 1 in st it calls set with what the fold
// writes for that entry today, in this order: the entry's status index key
// (if it has a status) with an empty value, then the entry re-encoded at
// the current version. A store so rewritten holds exactly what a fold of
// the same log into an empty store holds; a Reindex interrupted between
// calls is finished by the next one. It returns how many entries it
// upgraded. It reads every entry, so it costs the audit's history: a
// processor that keeps the audit in a durable store runs it once, when it
// starts and before it folds (planner.UpgradeAudit does it for the planner
// and the audit processor), not per query. set is called from inside
// st.ScanAll, with the scope of the entry, and key and value are valid only
// until it returns (a state.Scope's Set copies them); it may write to (and
// commit) the store st reads, which must then give ScanAll a consistent
// view that the writes do not disturb, as *state.Store does.
func Reindex[S any](st Scanner[S], set func(scope S, key, value []byte) error) (int, error) {
	n := 0
	err := st.ScanAll([]byte(prefixFile), func(scope S, key, value []byte) error {
		if !bytes.HasPrefix(value, []byte(`{"v":1,`)) {
			return nil // the current version: json.Marshal writes "v" first
		}
		id := string(key[len(prefixFile):])
		e, err := decode(id, value)
		if err != nil || e.V != entryVersionUnindexed {
			return err
		}
		if e.Status != "" {
			if err := set(scope, statusKey(e.Status, id), nil); err != nil {
				return err
			}
		}
		e.V = entryVersion
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("audit: encode file %q: %w", id, err)
		}
		if err := set(scope, key, b); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// latest returns the entry's last step by (time, event id).
func (e *entry) latest() step {
	var l step
	for _, s := range e.Steps {
		if s.At > l.At || s.At == l.At && s.EventID > l.EventID {
			l = s
		}
	}
	return l
}

// merge combines the entries of one file from several scopes. The result
// depends only on the set of entries, not on their order.
//
// The entries are ordered by attempt (highest first), then status rank
// (highest first), then latest step (latest first), then content. The
// per-attempt fields (status, feed, table, batch, error, result) come from
// the entries of the highest attempt only, so a retried file shows its new
// attempt and never a value left by an older one; the file's identity
// (key, checksum, version, source, size, landing) from the first entry that
// has it, of any attempt.
func merge(id string, es []*entry) File {
	slices.SortFunc(es, func(a, b *entry) int {
		if c := cmp.Compare(b.attempt(), a.attempt()); c != 0 {
			return c
		}
		la, lb := a.latest(), b.latest()
		if c := cmp.Compare(rank(b.Status), rank(a.Status)); c != 0 {
			return c
		}
		if c := cmp.Compare(lb.At, la.At); c != 0 {
			return c
		}
		if c := cmp.Compare(lb.EventID, la.EventID); c != 0 {
			return c
		}
		// Entries with equal latest steps: order by content, for determinism.
		ab, _ := json.Marshal(a)
		bb, _ := json.Marshal(b)
		return cmp.Compare(string(ab), string(bb))
	})
	f := File{ID: id, Attempt: es[0].attempt()}
	// cur holds the entries of the latest attempt (es is sorted by it).
	cur := es
	for i, e := range es {
		if e.attempt() != f.Attempt {
			cur = es[:i]
			break
		}
	}
	first := func(from []*entry, dst *string, get func(*entry) string) {
		for _, e := range from {
			if v := get(e); v != "" {
				*dst = v
				return
			}
		}
	}
	first(es, &f.Key, func(e *entry) string { return e.Key })
	first(es, &f.Checksum, func(e *entry) string { return e.Checksum })
	first(es, &f.Version, func(e *entry) string { return e.Version })
	first(es, &f.Source, func(e *entry) string { return e.Source })
	first(cur, &f.Feed, func(e *entry) string { return e.Feed })
	first(cur, &f.Table, func(e *entry) string { return e.Table })
	first(cur, &f.Status, func(e *entry) string { return e.Status })
	first(cur, &f.BatchID, func(e *entry) string { return e.BatchID })
	for _, e := range es {
		if f.Size == 0 {
			f.Size = e.Size
		}
		if e.Landed && f.LandedAt.IsZero() {
			// A BatchPlanned knows the landed event id but not the time.
			f.LandedAt = fromMicros(e.LandedAt)
		}
		f.Retry = max(f.Retry, e.Retry)
		f.RejectionCount += e.RejectionCount
		for _, r := range e.Rejections {
			if len(f.Rejections) < MaxRejections {
				f.Rejections = append(f.Rejections, r)
			}
		}
	}
	// The latest attempt's landing, which the entries of that attempt
	// name (the one that saw it land first, else a batch of it), before
	// an older one.
	landedFirst := func(from []*entry) {
		first(from, &f.LandedEventID, func(e *entry) string {
			if e.Landed {
				return e.LandedEventID
			}
			return ""
		})
		first(from, &f.LandedEventID, func(e *entry) string { return e.LandedEventID })
	}
	landedFirst(cur)
	landedFirst(es)
	f.RowsRejected = f.RejectionCount
	for _, e := range cur {
		if e.HasResult {
			f.RowsRead, f.RowsWritten, f.RowsRejected, f.RowsSuperseded = e.RowsRead, e.RowsWritten, e.RowsRejected, e.RowsSuperseded
			f.TableVersion, f.Error = e.TableVersion, e.Error
			break
		}
	}
	seen := map[[2]string]bool{}
	for _, e := range es {
		for _, s := range e.Steps {
			k := [2]string{s.EventID, s.Status}
			if seen[k] {
				continue
			}
			seen[k] = true
			f.Timeline = append(f.Timeline, Step{Status: s.Status, At: fromMicros(s.At), EventID: s.EventID, Detail: s.Detail,
				Attempt: s.attempt()})
		}
	}
	slices.SortFunc(f.Timeline, func(a, b Step) int {
		return cmp.Or(cmp.Compare(a.Attempt, b.Attempt), a.At.Compare(b.At), cmp.Compare(rank(a.Status), rank(b.Status)),
			cmp.Compare(a.EventID, b.EventID), cmp.Compare(a.Status, b.Status), cmp.Compare(a.Detail, b.Detail))
	})
	return f
}
