package openlineage

import (
	"fmt"
	"time"

	"github.com/logmesh/logmesh/events"
)

// BatchRunID returns the run id of an ingestion batch: a version 8 UUID
// (events.DeriveID) of the batch id. A re-delivered batch keeps its id and
// so its run. Safe for concurrent use.
func BatchRunID(batchID string) string {
	return events.DeriveID("openlineage.run", "batch", batchID)
}

// IngestJobName returns the name of the job that loads a raw table:
// "ingest.<table>".
func IngestJobName(table string) string { return "ingest." + table }

// BatchOutcome is what the loader recorded for one batch, in log order:
// a FileProcessed for each file loaded, a FileFailed for each file that
// was not, and the TableCommitted of the version the batch wrote (nil when
// every file failed, or when the write found the batch already committed;
// then the FileProcessed events still name the version). The zero value
// means the outcome is not known yet.
type BatchOutcome struct {
	// Processed are the batch's FileProcessed events.
	Processed []*events.FileProcessed
	// Failed are the batch's FileFailed events.
	Failed []*events.FileFailed
	// Commit is the batch's TableCommitted, if any.
	Commit *events.TableCommitted
}

func (o *BatchOutcome) known() bool {
	return o != nil && (len(o.Processed) > 0 || len(o.Failed) > 0 || o.Commit != nil)
}

// BatchEvents returns the RunEvents of one ingestion batch: START from bp
// and, once out holds any of the batch's outcome events, COMPLETE or FAIL,
// in that order. The batch completed if at least one file was loaded (a
// FileProcessed or a TableCommitted); it failed if every file failed,
// with an errorMessage run facet. Files that failed in a completed batch
// are listed in the logmesh_batch run facet.
//
// Both events name the job ns.Job, IngestJobName(bp.Table), the batch's
// files as inputs (ns.Landing, the file key, versioned by the file's
// SHA-256) and the raw table as the output (ns.Tables); COMPLETE adds the
// table version written, from the TableCommitted (with row, byte and file
// counts) or else from the FileProcessed events. START's time is bp's
// OccurredAt, the end's the latest OccurredAt of the outcome events.
//
// BatchEvents returns an error wrapping ErrInvalid for a missing namespace,
// batch id, table, file key or time, and one wrapping ErrMismatch for an
// outcome event of another batch or table. It keeps no reference to its
// arguments. Safe for concurrent use.
func BatchEvents(ns Namespaces, bp *events.BatchPlanned, out *BatchOutcome) ([]RunEvent, error) {
	if err := ns.check(); err != nil {
		return nil, err
	}
	if err := checkPlanned(bp); err != nil {
		return nil, err
	}
	if out.known() {
		if err := checkOutcome(bp, out); err != nil {
			return nil, err
		}
	}

	inputs := make([]Dataset, 0, len(bp.Files))
	for _, f := range bp.Files {
		inputs = append(inputs, Dataset{
			Namespace: ns.Landing,
			Name:      f.Key,
			Facets: DatasetFacets{Version: &DatasetVersionDatasetFacet{
				BaseFacet:      base(DatasetVersionSchemaURL),
				DatasetVersion: f.Checksum,
			}},
		})
	}
	facet := &BatchRunFacet{
		BaseFacet:  base(BatchRunSchemaURL),
		BatchID:    bp.BatchID,
		Feed:       bp.Feed,
		Trigger:    bp.Trigger,
		TotalBytes: bp.TotalBytes,
	}
	start := RunEvent{
		EventType: EventStart,
		EventTime: bp.Envelope.OccurredAt.UTC(),
		Run:       Run{RunID: BatchRunID(bp.BatchID), Facets: RunFacets{Batch: facet}},
		Job:       Job{Namespace: ns.Job, Name: IngestJobName(bp.Table), Facets: JobFacets{JobType: jobType("LOAD")}},
		Inputs:    inputs,
		Outputs:   []OutputDataset{{Dataset: Dataset{Namespace: ns.Tables, Name: bp.Table}}},
		Producer:  Producer,
		SchemaURL: SchemaURL,
	}
	if !out.known() {
		return []RunEvent{start}, nil
	}

	var times []time.Time
	endFacet := *facet
	endFacet.FilesProcessed = new(int64(len(out.Processed)))
	for _, p := range out.Processed {
		times = append(times, p.Envelope.OccurredAt)
	}
	for _, f := range out.Failed {
		times = append(times, f.Envelope.OccurredAt)
		endFacet.FailedFiles = append(endFacet.FailedFiles, FailedFile{Key: f.FileKey, Stage: f.Stage, Reason: f.Reason})
	}
	if out.Commit != nil {
		times = append(times, out.Commit.Envelope.OccurredAt)
	}
	end := start
	end.EventTime = latest(times...)
	end.Run.Facets = RunFacets{Batch: &endFacet}
	end.Inputs = append([]Dataset(nil), inputs...)
	output := OutputDataset{Dataset: Dataset{Namespace: ns.Tables, Name: bp.Table}}
	if len(out.Processed) > 0 || out.Commit != nil {
		end.EventType = EventComplete
		if c := out.Commit; c != nil {
			output.Facets = tableVersion(c.Version, c.SnapshotID, c.MetadataLocation)
			output.OutputFacets.OutputStatistics = &OutputStatisticsOutputDatasetFacet{
				BaseFacet: base(OutputStatisticsSchemaURL),
				RowCount:  new(c.RowsAdded),
				Size:      new(c.BytesAdded),
				FileCount: new(int64(c.DataFilesAdded)),
			}
		} else {
			for _, p := range out.Processed {
				if p.TableVersion != nil && p.SnapshotID != nil {
					output.Facets = tableVersion(*p.TableVersion, *p.SnapshotID, "")
					break
				}
			}
		}
	} else {
		end.EventType = EventFail
		f := out.Failed[0]
		end.Run.Facets.ErrorMessage = errorMessage(fmt.Sprintf("batch %s: %d of %d files failed; first: %s at %s: %s",
			bp.BatchID, len(out.Failed), len(bp.Files), f.FileKey, f.Stage, f.Reason))
	}
	end.Outputs = []OutputDataset{output}
	return []RunEvent{start, end}, nil
}

func checkPlanned(bp *events.BatchPlanned) error {
	switch {
	case bp == nil:
		return fmt.Errorf("%w: no BatchPlanned", ErrInvalid)
	case bp.BatchID == "":
		return fmt.Errorf("%w: BatchPlanned %s: no batch id", ErrInvalid, bp.Envelope.EventID)
	case bp.Table == "":
		return fmt.Errorf("%w: BatchPlanned %s: no table", ErrInvalid, bp.Envelope.EventID)
	case bp.Envelope.OccurredAt.IsZero():
		return fmt.Errorf("%w: BatchPlanned %s: no occurred_at", ErrInvalid, bp.Envelope.EventID)
	}
	for i, f := range bp.Files {
		if f.Key == "" {
			return fmt.Errorf("%w: batch %s: file %d has no key", ErrInvalid, bp.BatchID, i)
		}
	}
	return nil
}

func checkOutcome(bp *events.BatchPlanned, out *BatchOutcome) error {
	for _, p := range out.Processed {
		switch {
		case p == nil:
			return fmt.Errorf("%w: batch %s: nil FileProcessed", ErrInvalid, bp.BatchID)
		case p.BatchID != bp.BatchID || p.Table != bp.Table:
			return fmt.Errorf("%w: FileProcessed %s of batch %s table %s for batch %s table %s",
				ErrMismatch, p.Envelope.EventID, p.BatchID, p.Table, bp.BatchID, bp.Table)
		case p.Envelope.OccurredAt.IsZero():
			return fmt.Errorf("%w: FileProcessed %s: no occurred_at", ErrInvalid, p.Envelope.EventID)
		}
	}
	for _, f := range out.Failed {
		switch {
		case f == nil:
			return fmt.Errorf("%w: batch %s: nil FileFailed", ErrInvalid, bp.BatchID)
		case f.BatchID == nil || *f.BatchID != bp.BatchID:
			return fmt.Errorf("%w: FileFailed %s is not of batch %s", ErrMismatch, f.Envelope.EventID, bp.BatchID)
		case f.Table != nil && *f.Table != bp.Table:
			return fmt.Errorf("%w: FileFailed %s of table %s for batch %s table %s",
				ErrMismatch, f.Envelope.EventID, *f.Table, bp.BatchID, bp.Table)
		case f.Envelope.OccurredAt.IsZero():
			return fmt.Errorf("%w: FileFailed %s: no occurred_at", ErrInvalid, f.Envelope.EventID)
		}
	}
	if c := out.Commit; c != nil {
		switch {
		case c.BatchID == nil || *c.BatchID != bp.BatchID || c.Table != bp.Table:
			return fmt.Errorf("%w: TableCommitted %s (table %s) is not of batch %s table %s",
				ErrMismatch, c.Envelope.EventID, c.Table, bp.BatchID, bp.Table)
		case c.Envelope.OccurredAt.IsZero():
			return fmt.Errorf("%w: TableCommitted %s: no occurred_at", ErrInvalid, c.Envelope.EventID)
		}
	}
	return nil
}
