package openlineage

import (
	"fmt"
	"strconv"
	"time"

	"github.com/logmesh/logmesh/events"
)

// RunID returns the run id of one attempt of a product job: a version 8
// UUID (events.DeriveID, the first 128 bits of a SHA-256) of the job id
// and the attempt. START and COMPLETE of an attempt share it, every
// attempt has its own, and anyone holding a JobStarted or JobFinished can
// compute it without asking anyone. Safe for concurrent use.
func RunID(jobID string, attempt int32) string {
	return events.DeriveID("openlineage.run", "job", jobID, strconv.FormatInt(int64(attempt), 10))
}

// JobEvents returns the RunEvents of one product job attempt: START from js
// and, if jf is not nil, COMPLETE (jf.Status SUCCEEDED) or FAIL (FAILED,
// with an errorMessage run facet) from jf, in that order.
//
// Both events name the job (ns.Job, the product), the pinned input
// versions of js as inputs (ns.Tables, the table, with version and
// logmesh_iceberg facets) and js's output table as the output; COMPLETE
// adds the output version jf wrote and its row count. Each event's time is
// its fact's OccurredAt.
//
// JobEvents returns an error wrapping ErrInvalid for a missing namespace, job
// id, product, output table, time or attempt, or an unknown status, and
// one wrapping ErrMismatch when jf is not of js's attempt. It keeps no
// reference to js or jf. Safe for concurrent use.
func JobEvents(ns Namespaces, js *events.JobStarted, jf *events.JobFinished) ([]RunEvent, error) {
	if err := ns.check(); err != nil {
		return nil, err
	}
	if err := checkStarted(js); err != nil {
		return nil, err
	}
	if jf != nil {
		if err := checkFinished(js, jf); err != nil {
			return nil, err
		}
	}

	runID := RunID(js.JobID, js.Attempt)
	job := Job{Namespace: ns.Job, Name: js.Product, Facets: jobFacets(js)}
	inputs := make([]Dataset, 0, len(js.Inputs))
	for _, in := range js.Inputs {
		inputs = append(inputs, Dataset{
			Namespace: ns.Tables,
			Name:      in.Table,
			Facets:    tableVersion(in.Version, in.SnapshotID, in.MetadataLocation),
		})
	}
	facet := &JobRunFacet{
		BaseFacet:     base(JobRunSchemaURL),
		JobID:         js.JobID,
		Attempt:       js.Attempt,
		Trigger:       js.Trigger,
		Runner:        js.Runner,
		TransformHash: js.TransformHash,
	}
	start := RunEvent{
		EventType: EventStart,
		EventTime: js.Envelope.OccurredAt.UTC(),
		Run:       Run{RunID: runID, Facets: RunFacets{Job: facet}},
		Job:       job,
		Inputs:    inputs,
		Outputs:   []OutputDataset{{Dataset: Dataset{Namespace: ns.Tables, Name: js.OutputTable}}},
		Producer:  Producer,
		SchemaURL: SchemaURL,
	}
	if jf == nil {
		return []RunEvent{start}, nil
	}

	endFacet := *facet
	endFacet.DurationMs = new(jf.DurationMs)
	endFacet.WillRetry = new(jf.WillRetry)
	end := start
	end.EventTime = jf.Envelope.OccurredAt.UTC()
	end.Run.Facets = RunFacets{Job: &endFacet}
	end.Inputs = append([]Dataset(nil), inputs...)
	out := OutputDataset{Dataset: Dataset{Namespace: ns.Tables, Name: js.OutputTable}}
	switch jf.Status {
	case events.StatusSucceeded:
		end.EventType = EventComplete
		if jf.OutputVersion != nil && jf.OutputSnapshotID != nil {
			out.Facets = tableVersion(*jf.OutputVersion, *jf.OutputSnapshotID, "")
		}
		out.OutputFacets.OutputStatistics = &OutputStatisticsOutputDatasetFacet{
			BaseFacet: base(OutputStatisticsSchemaURL),
			RowCount:  new(jf.RowsWritten),
		}
	case events.StatusFailed:
		end.EventType = EventFail
		msg := "job failed"
		if jf.Error != nil && *jf.Error != "" {
			msg = *jf.Error
		}
		end.Run.Facets.ErrorMessage = errorMessage(msg)
	}
	end.Outputs = []OutputDataset{out}
	return []RunEvent{start, end}, nil
}

func checkStarted(js *events.JobStarted) error {
	switch {
	case js == nil:
		return fmt.Errorf("%w: no JobStarted", ErrInvalid)
	case js.JobID == "":
		return fmt.Errorf("%w: JobStarted %s: no job id", ErrInvalid, js.Envelope.EventID)
	case js.Product == "":
		return fmt.Errorf("%w: JobStarted %s: no product", ErrInvalid, js.Envelope.EventID)
	case js.OutputTable == "":
		return fmt.Errorf("%w: JobStarted %s: no output table", ErrInvalid, js.Envelope.EventID)
	case js.Attempt < 1:
		return fmt.Errorf("%w: JobStarted %s: attempt %d", ErrInvalid, js.Envelope.EventID, js.Attempt)
	case js.Envelope.OccurredAt.IsZero():
		return fmt.Errorf("%w: JobStarted %s: no occurred_at", ErrInvalid, js.Envelope.EventID)
	}
	for i, in := range js.Inputs {
		if in.Table == "" {
			return fmt.Errorf("%w: JobStarted %s: input %d has no table", ErrInvalid, js.Envelope.EventID, i)
		}
	}
	return nil
}

func checkFinished(js *events.JobStarted, jf *events.JobFinished) error {
	switch {
	case jf.JobID != js.JobID || jf.Attempt != js.Attempt:
		return fmt.Errorf("%w: JobFinished of job %s attempt %d for JobStarted of job %s attempt %d",
			ErrMismatch, jf.JobID, jf.Attempt, js.JobID, js.Attempt)
	case jf.Product != "" && jf.Product != js.Product:
		return fmt.Errorf("%w: job %s: JobFinished of product %q, JobStarted of %q", ErrMismatch, js.JobID, jf.Product, js.Product)
	case jf.Status != events.StatusSucceeded && jf.Status != events.StatusFailed:
		return fmt.Errorf("%w: JobFinished %s: status %q", ErrInvalid, jf.Envelope.EventID, jf.Status)
	case jf.Envelope.OccurredAt.IsZero():
		return fmt.Errorf("%w: JobFinished %s: no occurred_at", ErrInvalid, jf.Envelope.EventID)
	}
	return nil
}

func jobFacets(js *events.JobStarted) JobFacets {
	f := JobFacets{JobType: jobType("TRANSFORM")}
	if js.Transform != nil && *js.Transform != "" {
		f.SQL = &SQLJobFacet{BaseFacet: base(SQLSchemaURL), Query: *js.Transform}
		if js.Runner == "" || js.Runner == "duckdb" {
			f.SQL.Dialect = "duckdb"
		}
	}
	return f
}

func jobType(kind string) *JobTypeJobFacet {
	return &JobTypeJobFacet{BaseFacet: base(JobTypeSchemaURL), ProcessingType: "BATCH", Integration: "LOGMESH", JobType: kind}
}

func errorMessage(msg string) *ErrorMessageRunFacet {
	return &ErrorMessageRunFacet{BaseFacet: base(ErrorMessageSchemaURL), Message: msg, ProgrammingLanguage: "GO"}
}

// tableVersion returns the facets of one version of an Iceberg table.
func tableVersion(version, snapshotID int64, metadataLocation string) DatasetFacets {
	return DatasetFacets{
		Version: &DatasetVersionDatasetFacet{
			BaseFacet:      base(DatasetVersionSchemaURL),
			DatasetVersion: strconv.FormatInt(snapshotID, 10),
		},
		Iceberg: &IcebergDatasetFacet{
			BaseFacet:        base(IcebergDatasetSchemaURL),
			Version:          version,
			SnapshotID:       snapshotID,
			MetadataLocation: metadataLocation,
		},
	}
}

// latest returns the latest of ts, in UTC.
func latest(ts ...time.Time) time.Time {
	var last time.Time
	for _, t := range ts {
		if t.After(last) {
			last = t
		}
	}
	return last.UTC()
}
