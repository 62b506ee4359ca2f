package events

import (
	"fmt"
	"time"
)

// Full Avro names of the facts. An event's identity is its full name, never
// its Go type name.
const (
	NameAccessDenied        = "logmesh.events.AccessDenied"
	NameBatchPlanned        = "logmesh.events.BatchPlanned"
	NameDomainDefined       = "logmesh.events.DomainDefined"
	NameDomainRetired       = "logmesh.events.DomainRetired"
	NameFeedDefined         = "logmesh.events.FeedDefined"
	NameFeedRetired         = "logmesh.events.FeedRetired"
	NameFileFailed          = "logmesh.events.FileFailed"
	NameFileLanded          = "logmesh.events.FileLanded"
	NameFileProcessed       = "logmesh.events.FileProcessed"
	NameFileRetryRequested  = "logmesh.events.FileRetryRequested"
	NameIncidentOpened      = "logmesh.events.IncidentOpened"
	NameIncidentResolved    = "logmesh.events.IncidentResolved"
	NameInstallationDefined = "logmesh.events.InstallationDefined"
	NameJobFinished         = "logmesh.events.JobFinished"
	NameLocationsDefined    = "logmesh.events.LocationsDefined"
	NameJobStarted          = "logmesh.events.JobStarted"
	NameProductPublished    = "logmesh.events.ProductPublished"
	NameProductRefreshed    = "logmesh.events.ProductRefreshed"
	NameProductRetired      = "logmesh.events.ProductRetired"
	NameRecordRejected      = "logmesh.events.RecordRejected"
	NameRouteRefused        = "logmesh.events.RouteRefused"
	NameRunRequested        = "logmesh.events.RunRequested"
	NameSchemaChanged       = "logmesh.events.SchemaChanged"
	NameShareGranted        = "logmesh.events.ShareGranted"
	NameShareRevoked        = "logmesh.events.ShareRevoked"
	NameSubscriptionDefined = "logmesh.events.SubscriptionDefined"
	NameSubscriptionRemoved = "logmesh.events.SubscriptionRemoved"
	NameTableCommitted      = "logmesh.events.TableCommitted"
)

// Names returns the full names of all facts, sorted. It returns a new slice
// on every call; safe for concurrent use.
func Names() []string {
	return []string{
		NameAccessDenied, NameBatchPlanned, NameDomainDefined, NameDomainRetired, NameFeedDefined, NameFeedRetired,
		NameFileFailed, NameFileLanded, NameFileProcessed, NameFileRetryRequested, NameIncidentOpened, NameIncidentResolved, NameInstallationDefined,
		NameJobFinished, NameJobStarted, NameLocationsDefined, NameProductPublished, NameProductRefreshed,
		NameProductRetired, NameRecordRejected, NameRouteRefused, NameRunRequested, NameSchemaChanged, NameShareGranted,
		NameShareRevoked, NameSubscriptionDefined, NameSubscriptionRemoved, NameTableCommitted,
	}
}

// New returns a new zero event of the given full name, or an error wrapping
// ErrUnknownEvent. Safe for concurrent use.
func New(name string) (Event, error) {
	switch name {
	case NameAccessDenied:
		return new(AccessDenied), nil
	case NameBatchPlanned:
		return new(BatchPlanned), nil
	case NameDomainDefined:
		return new(DomainDefined), nil
	case NameFeedDefined:
		return new(FeedDefined), nil
	case NameFeedRetired:
		return new(FeedRetired), nil
	case NameInstallationDefined:
		return new(InstallationDefined), nil
	case NameDomainRetired:
		return new(DomainRetired), nil
	case NameFileRetryRequested:
		return new(FileRetryRequested), nil
	case NameFileFailed:
		return new(FileFailed), nil
	case NameFileLanded:
		return new(FileLanded), nil
	case NameFileProcessed:
		return new(FileProcessed), nil
	case NameIncidentOpened:
		return new(IncidentOpened), nil
	case NameIncidentResolved:
		return new(IncidentResolved), nil
	case NameJobFinished:
		return new(JobFinished), nil
	case NameJobStarted:
		return new(JobStarted), nil
	case NameLocationsDefined:
		return new(LocationsDefined), nil
	case NameProductPublished:
		return new(ProductPublished), nil
	case NameProductRefreshed:
		return new(ProductRefreshed), nil
	case NameProductRetired:
		return new(ProductRetired), nil
	case NameRecordRejected:
		return new(RecordRejected), nil
	case NameRouteRefused:
		return new(RouteRefused), nil
	case NameRunRequested:
		return new(RunRequested), nil
	case NameSubscriptionDefined:
		return new(SubscriptionDefined), nil
	case NameSubscriptionRemoved:
		return new(SubscriptionRemoved), nil
	case NameSchemaChanged:
		return new(SchemaChanged), nil
	case NameShareGranted:
		return new(ShareGranted), nil
	case NameShareRevoked:
		return new(ShareRevoked), nil
	case NameTableCommitted:
		return new(TableCommitted), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownEvent, name)
}

// Values of FileLanded.Source.
const (
	SourceLocal = "local"
	SourceS3    = "s3"
)

// Values of JobFinished.Status.
const (
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
)

// Values of ProductPublished.Visibility and ProductRefreshed.Visibility.
const (
	VisibilityDomain     = "domain"
	VisibilityEnterprise = "enterprise"
)

// FileLanded records that a file arrived in the landing area (a local
// directory or an S3 bucket). Its correlation id identifies the file.
type FileLanded struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// Key is the object key or path relative to the landing root.
	Key string `avro:"key"`
	// Source is SourceLocal or SourceS3.
	Source string `avro:"source"`
	// Bucket is the bucket name for S3, nil for a local landing directory.
	Bucket *string `avro:"bucket"`
	// Size is the file size in bytes.
	Size int64 `avro:"size"`
	// Checksum is the SHA-256 of the content, lower-case hex.
	Checksum string `avro:"checksum"`
	// Version is the object version id or ETag, when the store has one.
	Version *string `avro:"version"`
	// ContentType is the object's content type, when known.
	ContentType *string `avro:"content_type"`
	// Feed is the feed whose key pattern matched, nil if none matched.
	Feed *string `avro:"feed"`
	// Table is the raw table the feed loads into, nil if no feed matched.
	Table *string `avro:"table"`
	// Attempt is 1 for a file's landing and n for its n-th try after a
	// FileRetryRequested; 1 in events written before it was recorded.
	Attempt int32 `avro:"attempt"`
}

// FileRetryRequested records that a landed file that ended UNMATCHED or
// FAILED is to be tried again: the watcher matches it against the
// definitions in force when it reads this and lands it as attempt Attempt.
// Its correlation id is the file id.
type FileRetryRequested struct {
	// Envelope is the event's envelope; its correlation id is the file id.
	Envelope Envelope `avro:"envelope"`
	// FileKey is the object key of the file.
	FileKey string `avro:"file_key"`
	// FileChecksum is the SHA-256 hex of the file's content.
	FileChecksum string `avro:"file_checksum"`
	// Attempt is the attempt the retry starts: 2 for the first retry.
	Attempt int32 `avro:"attempt"`
	// RequestedBy is the principal that asked.
	RequestedBy string `avro:"requested_by"`
	// Reason says why, if given.
	Reason *string `avro:"reason"`
}

// BatchFile is one landed file in a BatchPlanned.
type BatchFile struct {
	// Key is the object key of the file.
	Key string `avro:"key"`
	// Checksum is the SHA-256 of the content, lower-case hex.
	Checksum string `avro:"checksum"`
	// Size is the file size in bytes.
	Size int64 `avro:"size"`
	// Version is the object version id or ETag, when the store has one.
	Version *string `avro:"version"`
	// LandedEventID is the EventID of the file's FileLanded event.
	LandedEventID string `avro:"landed_event_id"`
	// Attempt is the file's attempt (FileLanded.Attempt); 1 in batches
	// planned before it was recorded.
	Attempt int32 `avro:"attempt"`
}

// BatchPlanned records that the planner grouped landed files into one load
// batch for one table. It is keyed by table, so one loader owns a table.
type BatchPlanned struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// BatchID identifies the batch; a re-delivered batch keeps its id.
	BatchID string `avro:"batch_id"`
	// Table is the raw table the batch loads into.
	Table string `avro:"table"`
	// Feed is the feed that defines how the files are parsed.
	Feed string `avro:"feed"`
	// Trigger is why the batch was planned: schedule, size or manual.
	Trigger string `avro:"trigger"`
	// Files are the files of the batch, in load order.
	Files []BatchFile `avro:"files"`
	// TotalBytes is the sum of the files' sizes.
	TotalBytes int64 `avro:"total_bytes"`
	// DefinitionHash is the FeedDefined.DefinitionHash the batch was
	// planned with and is loaded with; nil in batches planned before it
	// was recorded (the loader then takes the feed's latest definition).
	DefinitionHash *string `avro:"definition_hash"`
}

// Key returns the table, so all batches of a table go to one partition.
func (e *BatchPlanned) Key() string { return e.Table }

// RecordRejected records that the loader rejected one record of a file.
type RecordRejected struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// BatchID is the batch the file was loaded in.
	BatchID string `avro:"batch_id"`
	// Table is the table the record was meant for.
	Table string `avro:"table"`
	// FileKey is the object key of the file.
	FileKey string `avro:"file_key"`
	// FileChecksum is the SHA-256 hex of the file.
	FileChecksum string `avro:"file_checksum"`
	// RecordNumber is the 1-based record number in the file.
	RecordNumber int64 `avro:"record_number"`
	// Line is the 1-based line where the record starts, if the format has lines.
	Line *int64 `avro:"line"`
	// Field is the offending field, nil for a record-level problem.
	Field *string `avro:"field"`
	// Rule is the rule that failed (the first one, see Violations):
	// parse, required, type, control_character, regex, ...
	Rule string `avro:"rule"`
	// Reason is a human-readable explanation of the first violation.
	Reason string `avro:"reason"`
	// Raw is the raw record, truncated (see RawTruncated).
	Raw *string `avro:"raw"`
	// RawTruncated reports whether Raw was cut short.
	RawTruncated bool `avro:"raw_truncated"`
	// Violations are every reason the record was rejected, in the
	// validator's order (one for a parse failure); the first is also in
	// Field, Rule and Reason. Empty in events written before the field
	// existed: then Field, Rule and Reason are all there is.
	Violations []Violation `avro:"violations"`
}

// Violation is one reason a record was rejected, in RecordRejected.
type Violation struct {
	// Field is the offending field, nil for a record-level problem.
	Field *string `avro:"field"`
	// Rule is the rule that failed, as in RecordRejected.Rule.
	Rule string `avro:"rule"`
	// Reason is a human-readable explanation.
	Reason string `avro:"reason"`
}

// FileProcessed records that the loader finished a file of a batch; its
// accepted records are in the table version the batch committed.
type FileProcessed struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// BatchID is the batch the file was loaded in.
	BatchID string `avro:"batch_id"`
	// Table is the table the file was loaded into.
	Table string `avro:"table"`
	// FileKey is the object key of the file.
	FileKey string `avro:"file_key"`
	// FileChecksum is the SHA-256 hex of the file.
	FileChecksum string `avro:"file_checksum"`
	// RecordsRead counts the records parsed from the file.
	RecordsRead int64 `avro:"records_read"`
	// RecordsLoaded counts the records written to the table.
	RecordsLoaded int64 `avro:"records_loaded"`
	// RecordsRejected counts the records rejected (see RecordRejected).
	RecordsRejected int64 `avro:"records_rejected"`
	// TableVersion is the table version that contains the file's records.
	TableVersion *int64 `avro:"table_version"`
	// SnapshotID is the Iceberg snapshot of TableVersion.
	SnapshotID *int64 `avro:"snapshot_id"`
	// RecordsInVersion counts the file's records that are in the table
	// version: RecordsLoaded minus RecordsSuperseded. Nil in events
	// written before it was recorded.
	RecordsInVersion *int64 `avro:"records_in_version"`
	// RecordsSuperseded counts the file's loaded records that are not in
	// the version because a newer row with the same key is (upsert).
	RecordsSuperseded int64 `avro:"records_superseded"`
	// Attempt is the file's attempt the load belongs to
	// (FileLanded.Attempt); 1 in events written before it was recorded.
	Attempt int32 `avro:"attempt"`
}

// FileFailed records that a file could not be loaded; nothing from it was
// committed.
type FileFailed struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// BatchID is the batch the file was part of, if any.
	BatchID *string `avro:"batch_id"`
	// Table is the table the file was meant for, if known.
	Table *string `avro:"table"`
	// FileKey is the object key of the file.
	FileKey string `avro:"file_key"`
	// FileChecksum is the SHA-256 hex of the file, if it could be read.
	FileChecksum *string `avro:"file_checksum"`
	// Stage is where it failed: read, parse, validate, threshold, write, commit.
	Stage string `avro:"stage"`
	// Reason is a human-readable explanation.
	Reason string `avro:"reason"`
	// RecordsRead counts the records parsed before the failure.
	RecordsRead int64 `avro:"records_read"`
	// RecordsRejected counts the records rejected before the failure.
	RecordsRejected int64 `avro:"records_rejected"`
	// Attempt is the 1-based load attempt; defaults to 1 in old events.
	Attempt int32 `avro:"attempt"`
	// Retryable reports whether another attempt may succeed.
	Retryable bool `avro:"retryable"`
}

// TableCommitted records a new Iceberg table version. The current pointer of
// every table is a projection of these events. Keyed by table.
type TableCommitted struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// Table is the table's name.
	Table string `avro:"table"`
	// Version is 1 for the first commit and grows by 1 per commit.
	Version int64 `avro:"version"`
	// SnapshotID is the Iceberg snapshot id of the version.
	SnapshotID int64 `avro:"snapshot_id"`
	// ParentSnapshotID is the previous snapshot, nil for the first.
	ParentSnapshotID *int64 `avro:"parent_snapshot_id"`
	// MetadataLocation is the location of the new Iceberg metadata JSON.
	MetadataLocation string `avro:"metadata_location"`
	// PreviousMetadataLocation is the metadata replaced, nil for the first.
	PreviousMetadataLocation *string `avro:"previous_metadata_location"`
	// Operation is create, append, overwrite, replace or schema.
	Operation string `avro:"operation"`
	// BatchID is the loader batch that produced the version, if any; a
	// re-delivered batch finds its own commit by it.
	BatchID *string `avro:"batch_id"`
	// JobID is the job that produced the version, if any.
	JobID *string `avro:"job_id"`
	// SchemaID is the Iceberg schema id of the version.
	SchemaID int32 `avro:"schema_id"`
	// RowsAdded counts rows added by this version.
	RowsAdded int64 `avro:"rows_added"`
	// RowsDeleted counts rows removed or replaced by this version.
	RowsDeleted int64 `avro:"rows_deleted"`
	// RowsTotal is the row count of the table at this version.
	RowsTotal int64 `avro:"rows_total"`
	// DataFilesAdded counts data files added.
	DataFilesAdded int32 `avro:"data_files_added"`
	// DataFilesRemoved counts data files no longer referenced.
	DataFilesRemoved int32 `avro:"data_files_removed"`
	// BytesAdded is the size of the added data files.
	BytesAdded int64 `avro:"bytes_added"`
}

// Key returns the table, so all commits of a table are in order on one
// partition.
func (e *TableCommitted) Key() string { return e.Table }

// ProductRefreshed records that a data product has a new version. It is
// routed over the central bus to the domains it is granted to.
type ProductRefreshed struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// Product is the product's name.
	Product string `avro:"product"`
	// OwnerDomain is the domain that owns the product.
	OwnerDomain string `avro:"owner_domain"`
	// Visibility is VisibilityDomain or VisibilityEnterprise.
	Visibility string `avro:"visibility"`
	// Table is the product's output table.
	Table string `avro:"table"`
	// Version is the new table version.
	Version int64 `avro:"version"`
	// SnapshotID is the Iceberg snapshot of Version.
	SnapshotID int64 `avro:"snapshot_id"`
	// MetadataLocation is the Iceberg metadata of Version.
	MetadataLocation string `avro:"metadata_location"`
	// RowsTotal is the row count at Version.
	RowsTotal int64 `avro:"rows_total"`
	// JobID is the job that produced the version, nil for a load.
	JobID *string `avro:"job_id"`
	// DataAsOf is the oldest input time the version reflects, if known.
	DataAsOf *time.Time `avro:"data_as_of"`
}

// Key returns the product.
func (e *ProductRefreshed) Key() string { return e.Product }

// ProductPublished records that a data product definition was published
// (created or changed).
type ProductPublished struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// Product is the product's name.
	Product string `avro:"product"`
	// OwnerDomain is the domain that owns the product.
	OwnerDomain string `avro:"owner_domain"`
	// Description is free text.
	Description *string `avro:"description"`
	// Kind is source-aligned or consumer-aligned.
	Kind string `avro:"kind"`
	// Inputs are the products or tables the transform reads.
	Inputs []string `avro:"inputs"`
	// Transform is SQL over the inputs; nil for a source-aligned product.
	Transform *string `avro:"transform"`
	// OutputTable is the table the product writes.
	OutputTable string `avro:"output_table"`
	// Visibility is VisibilityDomain or VisibilityEnterprise.
	Visibility string `avro:"visibility"`
	// Trigger is inputs (all inputs fresh), schedule or manual.
	Trigger string `avro:"trigger"`
	// Schedule is a cron expression for Trigger schedule.
	Schedule *string `avro:"schedule"`
	// FreshnessSeconds is the freshness objective, if any.
	FreshnessSeconds *int64 `avro:"freshness_seconds"`
	// Owners are the people or groups accountable for the product.
	Owners []string `avro:"owners"`
	// DefinitionHash is the SHA-256 hex of the canonical definition.
	// OutputSchema is the output table's contract, Avro schema JSON.
	OutputSchema *string `avro:"output_schema"`
	// PrimaryKey are the output table's key fields.
	PrimaryKey []string `avro:"primary_key"`
	// Mode is append or upsert.
	Mode string `avro:"mode"`
	// Contacts are how to reach the product's team.
	Contacts []string `avro:"contacts"`
	// Tags classify the product.
	Tags []string `avro:"tags"`
	// RetryMaxAttempts bounds a failed job's attempts.
	RetryMaxAttempts *int32 `avro:"retry_max_attempts"`
	// RetryBackoffSeconds is the wait before the first retry.
	RetryBackoffSeconds *int64 `avro:"retry_backoff_seconds"`
	DefinitionHash      string `avro:"definition_hash"`
	// MaxInputAgeSeconds: an input refresh older than this no longer
	// counts toward a trigger.
	MaxInputAgeSeconds *int64 `avro:"max_input_age_seconds"`
	// TimeoutSeconds fails a job attempt that runs longer.
	TimeoutSeconds *int64 `avro:"timeout_seconds"`
	// Engine is the mesh's external engine the product's jobs run on; nil
	// for the embedded DuckDB.
	Engine *string `avro:"engine"`
	// InstallationID is the installation the definition was applied to
	// (InstallationDefined); the product's job ids include it. Nil in
	// definitions applied before it was recorded.
	InstallationID *string `avro:"installation_id"`
}

// Key returns the product.
func (e *ProductPublished) Key() string { return e.Product }

// ProductRetired records that a data product was retired.
type ProductRetired struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// Product is the product's name.
	Product string `avro:"product"`
	// OwnerDomain is the domain that owns the product.
	OwnerDomain string `avro:"owner_domain"`
	// Reason is free text.
	Reason *string `avro:"reason"`
	// ReplacedBy names the successor product, if any.
	ReplacedBy *string `avro:"replaced_by"`
}

// Key returns the product.
func (e *ProductRetired) Key() string { return e.Product }

// ShareGranted records that the owning domain lets another domain read a
// product.
type ShareGranted struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// GrantID identifies the grant; ShareRevoked refers to it.
	GrantID string `avro:"grant_id"`
	// Product is the shared product.
	Product string `avro:"product"`
	// OwnerDomain is the domain that owns the product.
	OwnerDomain string `avro:"owner_domain"`
	// GranteeDomain is the domain allowed to read it.
	GranteeDomain string `avro:"grantee_domain"`
	// GrantedBy is the principal that granted the share.
	GrantedBy string `avro:"granted_by"`
	// Purpose is free text.
	Purpose *string `avro:"purpose"`
	// ExpiresAt is when the grant lapses, nil for never.
	ExpiresAt *time.Time `avro:"expires_at"`
	// DefinitionHash is the SHA-256 hex of the grant's canonical
	// definition; "" for a grant made outside mesh.yaml.
	DefinitionHash string `avro:"definition_hash"`
}

// Key returns the product.
func (e *ShareGranted) Key() string { return e.Product }

// ShareRevoked records that a share grant was revoked.
type ShareRevoked struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// GrantID is the revoked grant.
	GrantID string `avro:"grant_id"`
	// Product is the shared product.
	Product string `avro:"product"`
	// OwnerDomain is the domain that owns the product.
	OwnerDomain string `avro:"owner_domain"`
	// GranteeDomain is the domain that loses access.
	GranteeDomain string `avro:"grantee_domain"`
	// RevokedBy is the principal that revoked the share.
	RevokedBy string `avro:"revoked_by"`
	// Reason is free text.
	Reason *string `avro:"reason"`
}

// Key returns the product.
func (e *ShareRevoked) Key() string { return e.Product }

// InputVersion is one input of a job, pinned to one table version.
type InputVersion struct {
	// Name is the input product or table name.
	Name string `avro:"name"`
	// Table is the table read.
	Table string `avro:"table"`
	// Version is the pinned table version.
	Version int64 `avro:"version"`
	// SnapshotID is the Iceberg snapshot of Version.
	SnapshotID int64 `avro:"snapshot_id"`
	// MetadataLocation is the Iceberg metadata of Version.
	MetadataLocation string `avro:"metadata_location"`
}

// JobStarted records that an attempt of a product's transform started,
// pinned to exact input versions, so the output has exact lineage and can be
// re-run identically. Its correlation id is the job id.
type JobStarted struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// JobID identifies the job (all attempts share it).
	JobID string `avro:"job_id"`
	// Product is the product whose transform runs.
	Product string `avro:"product"`
	// Attempt is 1 for the first attempt.
	Attempt int32 `avro:"attempt"`
	// Trigger is inputs, schedule, manual or retry.
	Trigger string `avro:"trigger"`
	// Inputs are the pinned input versions.
	Inputs []InputVersion `avro:"inputs"`
	// OutputTable is the table the job writes.
	OutputTable string `avro:"output_table"`
	// TransformHash is the SHA-256 hex of the transform SQL.
	TransformHash string `avro:"transform_hash"`
	// Runner is the engine: duckdb (the default), spark, kubernetes, ...
	Runner string `avro:"runner"`
	// Policy is the trigger policy that fired, if any.
	Policy *string `avro:"policy"`
	// TriggeredBy are the event ids of the facts that made the run start,
	// in log order.
	TriggeredBy []string `avro:"triggered_by"`
	// OwnerDomain is the product's domain.
	OwnerDomain string `avro:"owner_domain"`
	// Visibility is the product's visibility, for its ProductRefreshed.
	Visibility string `avro:"visibility"`
	// Transform is the SQL the job runs.
	Transform *string `avro:"transform"`
	// OutputSchema is the output contract, an Avro record schema as JSON.
	OutputSchema *string `avro:"output_schema"`
	// PrimaryKey are the output's key fields.
	PrimaryKey []string `avro:"primary_key"`
	// Mode is append or upsert.
	Mode string `avro:"mode"`
	// NotBefore delays a retry by its backoff.
	NotBefore *time.Time `avro:"not_before"`
	// TimeoutSeconds fails an attempt that runs longer.
	TimeoutSeconds *int64 `avro:"timeout_seconds"`
}

// Key returns the product, so a product's job events stay in order.
func (e *JobStarted) Key() string { return e.Product }

// JobFinished records that an attempt of a job ended.
type JobFinished struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// JobID identifies the job.
	JobID string `avro:"job_id"`
	// Product is the product whose transform ran.
	Product string `avro:"product"`
	// Attempt is the attempt that ended.
	Attempt int32 `avro:"attempt"`
	// Status is StatusSucceeded or StatusFailed.
	Status string `avro:"status"`
	// OutputVersion is the table version written, on success.
	OutputVersion *int64 `avro:"output_version"`
	// OutputSnapshotID is the Iceberg snapshot written, on success.
	OutputSnapshotID *int64 `avro:"output_snapshot_id"`
	// RowsWritten counts the rows of the output version.
	RowsWritten int64 `avro:"rows_written"`
	// DurationMs is the attempt's wall-clock duration in milliseconds.
	DurationMs int64 `avro:"duration_ms"`
	// Error is the failure, on failure.
	Error *string `avro:"error"`
	// WillRetry reports whether another attempt is scheduled.
	WillRetry bool `avro:"will_retry"`
}

// Key returns the product, so a product's job events stay in order.
func (e *JobFinished) Key() string { return e.Product }

// IncidentOpened records that something needs a human: a failed job or
// file, a poison event, a missed freshness objective.
type IncidentOpened struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// IncidentID identifies the incident.
	IncidentID string `avro:"incident_id"`
	// Severity is info, warning or critical.
	Severity string `avro:"severity"`
	// SubjectKind is file, batch, job, table, product or event.
	SubjectKind string `avro:"subject_kind"`
	// Subject is the id or name of the subject.
	Subject string `avro:"subject"`
	// Product is the product concerned, if any.
	Product *string `avro:"product"`
	// Table is the table concerned, if any.
	Table *string `avro:"table"`
	// JobID is the job concerned, if any.
	JobID *string `avro:"job_id"`
	// Summary is a one-line description.
	Summary string `avro:"summary"`
	// Detail is a longer description, if any.
	Detail *string `avro:"detail"`
}

// Key returns the incident id, so an incident's events stay in order.
func (e *IncidentOpened) Key() string { return e.IncidentID }

// IncidentResolved records that an incident was resolved.
type IncidentResolved struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// IncidentID is the resolved incident.
	IncidentID string `avro:"incident_id"`
	// Resolution is free text.
	Resolution string `avro:"resolution"`
	// ResolvedBy is a principal, or the EventID of the event that resolved it.
	ResolvedBy string `avro:"resolved_by"`
}

// Key returns the incident id, so an incident's events stay in order.
func (e *IncidentResolved) Key() string { return e.IncidentID }

// SchemaChanged records that a table's contract changed compatibly.
type SchemaChanged struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// Table is the table whose schema changed.
	Table string `avro:"table"`
	// Feed is the feed that defines the table, if any.
	Feed *string `avro:"feed"`
	// PreviousSchemaID is the Iceberg schema id before the change.
	PreviousSchemaID *int32 `avro:"previous_schema_id"`
	// SchemaID is the Iceberg schema id after the change.
	SchemaID int32 `avro:"schema_id"`
	// Schema is the new Avro schema JSON.
	Schema string `avro:"schema"`
	// Changes lists the changes in words, such as "add optional field x".
	Changes []string `avro:"changes"`
}

// Key returns the table.
func (e *SchemaChanged) Key() string { return e.Table }

// DomainDefined records that a domain was declared or its definition changed.
type DomainDefined struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// DomainName is the domain's name.
	DomainName string `avro:"name"`
	// Description is free text.
	Description *string `avro:"description"`
	// Owners are the people or groups accountable for the domain.
	Owners []string `avro:"owners"`
	// DefinitionHash is the SHA-256 hex of the canonical definition.
	DefinitionHash string `avro:"definition_hash"`
}

// Key returns the domain name.
func (e *DomainDefined) Key() string { return e.DomainName }

// Option is one name=value setting. An array of options keeps the encoding
// deterministic where an Avro map would not.
type Option struct {
	// Name is the option's name.
	Name string `avro:"name"`
	// Value is the option's value.
	Value string `avro:"value"`
}

// ValidationRule is one validation rule of a feed.
type ValidationRule struct {
	// Field is the field checked.
	Field string `avro:"field"`
	// Rule is required, pattern, range, enum, ...
	Rule string `avro:"rule"`
	// Arg is the rule's argument, if it takes one.
	Arg *string `avro:"arg"`
}

// FeedDefined records that a feed was declared or its definition changed:
// how landed files become a raw table.
type FeedDefined struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// Feed is the feed's name.
	Feed string `avro:"feed"`
	// Table is the raw table it loads into.
	Table string `avro:"table"`
	// KeyPattern is a glob matched against landed keys.
	KeyPattern string `avro:"key_pattern"`
	// Format is csv, json, ndjson, xml, fixed-width or a custom parser name.
	Format string `avro:"format"`
	// FormatOptions are the parser's settings, in declaration order.
	FormatOptions []Option `avro:"format_options"`
	// Schema is the Avro schema JSON of the table contract.
	Schema string `avro:"schema"`
	// PrimaryKey are the fields of the primary key.
	PrimaryKey []string `avro:"primary_key"`
	// OrderingField is the field whose latest value wins on upsert.
	OrderingField *string `avro:"ordering_field"`
	// Rules are the validation rules.
	Rules []ValidationRule `avro:"rules"`
	// RejectThreshold is the fraction of rejected records above which the
	// whole file fails.
	RejectThreshold float64 `avro:"reject_threshold"`
	// BatchMaxBytes is the planner's size threshold, if any.
	BatchMaxBytes *int64 `avro:"batch_max_bytes"`
	// BatchSchedule is the planner's cron schedule, if any.
	BatchSchedule *string `avro:"batch_schedule"`
	// DefinitionHash is the SHA-256 hex of the canonical definition.
	DefinitionHash string `avro:"definition_hash"`
	// Topic is the upstream topic the feed reads instead of landed files,
	// nil for a feed of landed files.
	Topic *string `avro:"topic"`
	// Mode is "append" or "upsert"; nil means append.
	Mode *string `avro:"mode"`
	// UniqueKey asks the loader to reject a record whose primary key was
	// already seen in the same file.
	UniqueKey bool `avro:"unique_key"`
	// BatchMaxFiles is the most files in one batch, nil for the default.
	BatchMaxFiles *int32 `avro:"batch_max_files"`
	// AllowControlCharacters lets string fields hold C0 control
	// characters.
	AllowControlCharacters bool `avro:"allow_control_characters"`
	// SchemaSubject is the registry subject of the contract, if it is
	// registered.
	SchemaSubject *string `avro:"schema_subject"`
	// SchemaVersion is the contract's version under SchemaSubject, if
	// known.
	SchemaVersion *int32 `avro:"schema_version"`
	// DefinedBy is the principal that applied the definition, if known.
	DefinedBy *string `avro:"defined_by"`
}

// Key returns the feed's name.
func (e *FeedDefined) Key() string { return e.Feed }

// FeedRetired records that a feed left the mesh: a file that lands under
// its pattern is UNMATCHED with the retirement as its reason. Its table
// stays readable.
type FeedRetired struct {
	// Envelope is the event's envelope; its domain is the feed's.
	Envelope Envelope `avro:"envelope"`
	// Feed is the feed's name.
	Feed string `avro:"feed"`
	// Table is the table the feed loaded.
	Table string `avro:"table"`
	// KeyPattern is the retired feed's key pattern, if it had one.
	KeyPattern *string `avro:"key_pattern"`
	// RetiredBy is the principal that retired it.
	RetiredBy string `avro:"retired_by"`
	// Reason says why, if given.
	Reason *string `avro:"reason"`
}

// Key returns the feed's name.
func (e *FeedRetired) Key() string { return e.Feed }

// DomainRetired records that a domain left the mesh. Only a domain with
// nothing of its own live is retired.
type DomainRetired struct {
	// Envelope is the event's envelope; its domain is central.
	Envelope Envelope `avro:"envelope"`
	// DomainName is the retired domain.
	DomainName string `avro:"domain_name"`
	// RetiredBy is the principal that retired it.
	RetiredBy string `avro:"retired_by"`
	// Reason says why, if given.
	Reason *string `avro:"reason"`
}

// Key returns the domain's name.
func (e *DomainRetired) Key() string { return e.DomainName }

// LocationsDefined records where the platform keeps its files, so that
// `logmesh land`, `tables` and `query` pointed at the cluster find the
// landing area and the warehouse without flags. Secrets are never recorded.
type LocationsDefined struct {
	// Envelope is the event's envelope; its domain is central.
	Envelope Envelope `avro:"envelope"`
	// Landing is the landing area: a local directory or s3://bucket/prefix.
	Landing string `avro:"landing"`
	// Warehouse is the table warehouse: a local directory or
	// s3://bucket/prefix.
	Warehouse string `avro:"warehouse"`
	// S3Endpoint is the host:port of the object store of s3:// locations.
	S3Endpoint *string `avro:"s3_endpoint"`
	// S3Region is the object store's region.
	S3Region *string `avro:"s3_region"`
	// S3Insecure means plain HTTP to the object store.
	S3Insecure bool `avro:"s3_insecure"`
	// DefinedBy names the process that recorded them ("logmesh dev").
	DefinedBy string `avro:"defined_by"`
	// DefinitionHash is the SHA-256 hex of the locations.
	DefinitionHash string `avro:"definition_hash"`
}

// Key returns "locations": one key, so every LocationsDefined is in order.
func (e *LocationsDefined) Key() string { return "locations" }

// SubscriptionDefined records that a domain subscribed to the mesh events
// matching a content pattern (internal/pattern), or changed the pattern.
type SubscriptionDefined struct {
	// Envelope is the event's envelope; its domain is central.
	Envelope Envelope `avro:"envelope"`
	// Subscription is "domain/name", unique in the mesh.
	Subscription string `avro:"subscription"`
	// SubscriberDomain is the domain whose inbox receives the matches.
	SubscriberDomain string `avro:"domain"`
	// Pattern is the content pattern, canonical JSON.
	Pattern string `avro:"pattern"`
	// Description is free text.
	Description *string `avro:"description"`
	// DefinitionHash is the SHA-256 hex of the canonical definition.
	DefinitionHash string `avro:"definition_hash"`
}

// Key returns the subscription.
func (e *SubscriptionDefined) Key() string { return e.Subscription }

// SubscriptionRemoved records that a subscription left the mesh.
type SubscriptionRemoved struct {
	// Envelope is the event's envelope; its domain is central.
	Envelope Envelope `avro:"envelope"`
	// Subscription is "domain/name".
	Subscription string `avro:"subscription"`
	// SubscriberDomain is the domain that subscribed.
	SubscriberDomain string `avro:"domain"`
	// Reason says why, if known.
	Reason *string `avro:"reason"`
}

// Key returns the subscription.
func (e *SubscriptionRemoved) Key() string { return e.Subscription }

// AccessDenied records a request the catalog refused: its HTTP API or its
// Iceberg REST catalog.
type AccessDenied struct {
	// Envelope is the event's envelope; its domain is central.
	Envelope Envelope `avro:"envelope"`
	// Principal is who asked: a domain, "governance", or "anonymous".
	Principal string `avro:"principal"`
	// Action is what was asked: read-metadata, read-table, grant, revoke.
	Action string `avro:"action"`
	// Resource is the product, table or grant asked for.
	Resource string `avro:"resource"`
	// API is "catalog" or "iceberg-rest".
	API string `avro:"api"`
	// Reason says why it was refused.
	Reason string `avro:"reason"`
}

// Key returns the resource.
func (e *AccessDenied) Key() string { return e.Resource }

// RouteRefused records that the router did not forward a fact, and why:
// a domain published about a product it does not own, say.
type RouteRefused struct {
	// Envelope is the event's envelope; its domain is central.
	Envelope Envelope `avro:"envelope"`
	// RefusedEventID is the event id of the refused fact.
	RefusedEventID string `avro:"refused_event_id"`
	// Event is the refused fact's full name.
	Event string `avro:"event"`
	// Product is the product the fact names, if any.
	Product *string `avro:"product"`
	// FromDomain is the domain whose bus carried the fact.
	FromDomain string `avro:"from_domain"`
	// ClaimedOwner is the owner the fact claims, if any.
	ClaimedOwner *string `avro:"claimed_owner"`
	// Topic, Partition and Offset locate the refused record.
	Topic     string `avro:"topic"`
	Partition int32  `avro:"partition"`
	Offset    int64  `avro:"offset"`
	// Reason says why it was refused.
	Reason string `avro:"reason"`
}

// RequestedBySchedule is the RequestedBy of the RunRequested the scheduler
// emits when a product's cron schedule is due; its OccurredAt is the due
// time, and its event id derives from the product and that time, so a
// repeated one is recognised.
const RequestedBySchedule = "schedule"

// RunRequested records that someone asked for a run of a product now, or
// that its schedule is due (RequestedBy is RequestedBySchedule).
type RunRequested struct {
	// Envelope is the event's envelope.
	Envelope Envelope `avro:"envelope"`
	// Product is the product to run.
	Product string `avro:"product"`
	// RequestedBy is who asked.
	RequestedBy string `avro:"requested_by"`
	// Reason says why, if given.
	Reason *string `avro:"reason"`
}

// Key returns the product.
func (e *RunRequested) Key() string { return e.Product }

// InstallationDefined records this installation's id, once, at its first
// start: the first one on the central bus is the installation's. Ids that
// must not collide across installations (job ids, and so OpenLineage run
// ids) include it.
type InstallationDefined struct {
	// Envelope is the event's envelope; its domain is central.
	Envelope Envelope `avro:"envelope"`
	// InstallationID is random, 128 bits, lower-case hex.
	InstallationID string `avro:"installation_id"`
	// DefinedBy names the process that recorded it.
	DefinedBy string `avro:"defined_by"`
}

// Key returns "installation": one key, so the first one is first in one
// partition.
func (e *InstallationDefined) Key() string { return "installation" }
