package openlineage

import (
	"errors"
	"fmt"
	"time"
)

// Producer is the URI that every event and facet names as its producer.
const Producer = "https://github.com/logmesh/logmesh"

// SpecVersion is the version of the OpenLineage core schema the events
// follow.
const SpecVersion = "2-0-2"

// SchemaURL is the RunEvent's schemaURL: the RunEvent definition of the
// core schema of SpecVersion.
const SchemaURL = "https://openlineage.io/spec/" + SpecVersion + "/OpenLineage.json#/$defs/RunEvent"

// Schema URLs of the facets the events carry: the standard ones of the
// OpenLineage release whose core schema is SpecVersion, and logmesh's own,
// whose schemas are in the facets/ directory of this package.
const (
	ErrorMessageSchemaURL     = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
	JobTypeSchemaURL          = "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
	SQLSchemaURL              = "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet"
	DatasetVersionSchemaURL   = "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
	OutputStatisticsSchemaURL = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"

	facetsBase              = Producer + "/blob/main/internal/openlineage/facets/"
	JobRunSchemaURL         = facetsBase + "1-0-0/LogmeshJobRunFacet.json#/$defs/LogmeshJobRunFacet"
	BatchRunSchemaURL       = facetsBase + "1-0-0/LogmeshBatchRunFacet.json#/$defs/LogmeshBatchRunFacet"
	IcebergDatasetSchemaURL = facetsBase + "1-0-0/LogmeshIcebergDatasetFacet.json#/$defs/LogmeshIcebergDatasetFacet"
)

// Errors returned by JobEvents and BatchEvents; they wrap them with the offending
// field or ids.
var (
	// ErrInvalid reports a fact or namespace that lacks a required value,
	// or a value the mapping does not know (a job status, say).
	ErrInvalid = errors.New("openlineage: invalid input")
	// ErrMismatch reports facts that belong to different runs, such as a
	// JobFinished of another attempt than the JobStarted.
	ErrMismatch = errors.New("openlineage: facts of different runs")
)

// Namespaces names where jobs and datasets live. All three are required.
// A Namespaces is a plain value, safe for concurrent use.
type Namespaces struct {
	// Job is the namespace of logmesh's jobs, such as "logmesh" (one per
	// installation).
	Job string
	// Tables is the namespace of the Iceberg tables, such as
	// "iceberg://logmesh" or the warehouse location ("s3://lake/warehouse").
	Tables string
	// Landing is the namespace of landed files, in which a file is named by
	// its key: "s3://<bucket>" for an S3 landing bucket (OpenLineage's S3
	// naming), or a URI of the landing directory ("file:///srv/landing").
	Landing string
}

func (ns Namespaces) check() error {
	switch {
	case ns.Job == "":
		return fmt.Errorf("%w: no job namespace", ErrInvalid)
	case ns.Tables == "":
		return fmt.Errorf("%w: no tables namespace", ErrInvalid)
	case ns.Landing == "":
		return fmt.Errorf("%w: no landing namespace", ErrInvalid)
	}
	return nil
}

// EventType is a run's state transition.
type EventType string

// The event types JobEvents and BatchEvents produce.
const (
	EventStart    EventType = "START"
	EventComplete EventType = "COMPLETE"
	EventFail     EventType = "FAIL"
)

// RunEvent is an OpenLineage RunEvent. Marshalled with encoding/json it is
// a document of the core schema of SpecVersion. A RunEvent is plain data:
// safe to read from many goroutines, not to modify concurrently.
type RunEvent struct {
	// EventType is the run's transition.
	EventType EventType `json:"eventType"`
	// EventTime is when the fact behind the event occurred, in UTC.
	EventTime time.Time `json:"eventTime"`
	// Run is the run.
	Run Run `json:"run"`
	// Job is the job the run belongs to.
	Job Job `json:"job"`
	// Inputs are the datasets the run reads.
	Inputs []Dataset `json:"inputs,omitempty"`
	// Outputs are the datasets the run writes.
	Outputs []OutputDataset `json:"outputs,omitempty"`
	// Producer is always the package's Producer.
	Producer string `json:"producer"`
	// SchemaURL is always the package's SchemaURL.
	SchemaURL string `json:"schemaURL"`
}

// Run is a run of a job.
type Run struct {
	// RunID is a UUID, the same in every event of the run.
	RunID string `json:"runId"`
	// Facets describe the run.
	Facets RunFacets `json:"facets,omitzero"`
}

// RunFacets are the run facets the package produces; a nil one is absent.
type RunFacets struct {
	// ErrorMessage is on a FAIL event.
	ErrorMessage *ErrorMessageRunFacet `json:"errorMessage,omitempty"`
	// Job is on the events of a product job.
	Job *JobRunFacet `json:"logmesh_job,omitempty"`
	// Batch is on the events of an ingestion batch.
	Batch *BatchRunFacet `json:"logmesh_batch,omitempty"`
}

// Job is a job: a product's transform or the loading of a raw table.
type Job struct {
	// Namespace is Namespaces.Job.
	Namespace string `json:"namespace"`
	// Name is the product's name, or "ingest.<table>" for loading a table.
	Name string `json:"name"`
	// Facets describe the job.
	Facets JobFacets `json:"facets,omitzero"`
}

// JobFacets are the job facets the package produces; a nil one is absent.
type JobFacets struct {
	// JobType says what kind of job it is.
	JobType *JobTypeJobFacet `json:"jobType,omitempty"`
	// SQL is a product's transform, when it has one.
	SQL *SQLJobFacet `json:"sql,omitempty"`
}

// Dataset is a dataset, and the type of a RunEvent's inputs.
type Dataset struct {
	// Namespace is Namespaces.Tables or Namespaces.Landing.
	Namespace string `json:"namespace"`
	// Name is a table's "domain.table" or a landed file's key.
	Name string `json:"name"`
	// Facets describe the dataset.
	Facets DatasetFacets `json:"facets,omitzero"`
}

// DatasetFacets are the dataset facets the package produces; a nil one is
// absent.
type DatasetFacets struct {
	// Version is the dataset's version: the Iceberg snapshot id of a
	// table version, the SHA-256 of a landed file.
	Version *DatasetVersionDatasetFacet `json:"version,omitempty"`
	// Iceberg is the pinned or written version of a table.
	Iceberg *IcebergDatasetFacet `json:"logmesh_iceberg,omitempty"`
}

// OutputDataset is an output of a run.
type OutputDataset struct {
	Dataset
	// OutputFacets describe what the run wrote.
	OutputFacets OutputDatasetFacets `json:"outputFacets,omitzero"`
}

// OutputDatasetFacets are the output facets the package produces.
type OutputDatasetFacets struct {
	// OutputStatistics counts what a completed run wrote.
	OutputStatistics *OutputStatisticsOutputDatasetFacet `json:"outputStatistics,omitempty"`
}

// BaseFacet holds the fields every facet has.
type BaseFacet struct {
	// Producer is always the package's Producer.
	Producer string `json:"_producer"`
	// SchemaURL points at the facet's schema.
	SchemaURL string `json:"_schemaURL"`
}

func base(schemaURL string) BaseFacet { return BaseFacet{Producer: Producer, SchemaURL: schemaURL} }

// ErrorMessageRunFacet is the standard errorMessage run facet.
type ErrorMessageRunFacet struct {
	BaseFacet
	// Message is the failure.
	Message string `json:"message"`
	// ProgrammingLanguage is the observed system's language, "GO".
	ProgrammingLanguage string `json:"programmingLanguage"`
}

// JobTypeJobFacet is the standard jobType job facet.
type JobTypeJobFacet struct {
	BaseFacet
	// ProcessingType is "BATCH".
	ProcessingType string `json:"processingType"`
	// Integration is "LOGMESH".
	Integration string `json:"integration"`
	// JobType is "TRANSFORM" for a product, "LOAD" for an ingestion batch.
	JobType string `json:"jobType,omitempty"`
}

// SQLJobFacet is the standard sql job facet.
type SQLJobFacet struct {
	BaseFacet
	// Query is the transform's SQL.
	Query string `json:"query"`
	// Dialect is "duckdb" when DuckDB runs the transform, else empty.
	Dialect string `json:"dialect,omitempty"`
}

// DatasetVersionDatasetFacet is the standard version dataset facet.
type DatasetVersionDatasetFacet struct {
	BaseFacet
	// DatasetVersion is the version.
	DatasetVersion string `json:"datasetVersion"`
}

// OutputStatisticsOutputDatasetFacet is the standard outputStatistics
// output facet. Nil counts are unknown.
type OutputStatisticsOutputDatasetFacet struct {
	BaseFacet
	// RowCount is the rows written.
	RowCount *int64 `json:"rowCount,omitempty"`
	// Size is the bytes written.
	Size *int64 `json:"size,omitempty"`
	// FileCount is the data files written.
	FileCount *int64 `json:"fileCount,omitempty"`
}

// IcebergDatasetFacet is the custom logmesh_iceberg dataset facet
// (LogmeshIcebergDatasetFacet): one version of a logmesh Iceberg table.
type IcebergDatasetFacet struct {
	BaseFacet
	// Version is logmesh's table version (1 for the first commit).
	Version int64 `json:"version"`
	// SnapshotID is the Iceberg snapshot of Version.
	SnapshotID int64 `json:"snapshotId"`
	// MetadataLocation is the Iceberg metadata of Version, when known.
	MetadataLocation string `json:"metadataLocation,omitempty"`
}

// JobRunFacet is the custom logmesh_job run facet (LogmeshJobRunFacet):
// which attempt of which logmesh job the run is.
type JobRunFacet struct {
	BaseFacet
	// JobID is the job's id, shared by all its attempts.
	JobID string `json:"jobId"`
	// Attempt is the attempt, 1 for the first.
	Attempt int32 `json:"attempt"`
	// Trigger is why the attempt started: inputs, schedule, manual, retry.
	Trigger string `json:"trigger,omitempty"`
	// Runner is the engine that runs the transform.
	Runner string `json:"runner,omitempty"`
	// TransformHash is the SHA-256 hex of the transform.
	TransformHash string `json:"transformHash,omitempty"`
	// DurationMs is the attempt's wall-clock duration, on COMPLETE and FAIL.
	DurationMs *int64 `json:"durationMs,omitempty"`
	// WillRetry reports, on COMPLETE and FAIL, whether another attempt
	// (another run) is scheduled.
	WillRetry *bool `json:"willRetry,omitempty"`
}

// BatchRunFacet is the custom logmesh_batch run facet
// (LogmeshBatchRunFacet): which ingestion batch the run is.
type BatchRunFacet struct {
	BaseFacet
	// BatchID is the batch's id.
	BatchID string `json:"batchId"`
	// Feed is the feed that parses the files.
	Feed string `json:"feed"`
	// Trigger is why the batch was planned: schedule, size or manual.
	Trigger string `json:"trigger,omitempty"`
	// TotalBytes is the size of the batch's files.
	TotalBytes int64 `json:"totalBytes"`
	// FilesProcessed counts the files loaded, on COMPLETE and FAIL.
	FilesProcessed *int64 `json:"filesProcessed,omitempty"`
	// FailedFiles are the files that could not be loaded, on COMPLETE and
	// FAIL, in log order.
	FailedFiles []FailedFile `json:"failedFiles,omitempty"`
}

// FailedFile is one file of a batch that could not be loaded.
type FailedFile struct {
	// Key is the file's key in the landing area.
	Key string `json:"key"`
	// Stage is where loading failed: read, parse, validate, ...
	Stage string `json:"stage"`
	// Reason explains the failure.
	Reason string `json:"reason"`
}
