// Package openlineage turns logmesh facts into OpenLineage RunEvents
// (https://openlineage.io/spec, core schema 2-0-2), so a lineage backend
// such as Marquez sees every product job attempt and every ingestion batch
// as a run with its inputs and outputs.
//
// The functions are pure: no I/O, no clock, no randomness. The same facts
// always give the same events, byte for byte once marshalled with
// encoding/json, so a replayed log re-emits identical lineage and a backend
// can drop the duplicates.
//
// # Runs
//
// A product job attempt is one run (JobEvents): its JobStarted gives the START
// event and its JobFinished the COMPLETE or FAIL event. An ingestion batch
// is one run (BatchEvents): its BatchPlanned gives START and what the loader
// recorded for it (FileProcessed, FileFailed, TableCommitted) gives
// COMPLETE or FAIL. Run ids are UUIDs derived from the run's identity (see
// RunID and BatchRunID), so START and COMPLETE of one attempt share an id
// without any state, and two attempts never do.
//
// # Datasets
//
// Iceberg tables are named "domain.table" in Namespaces.Tables. A pinned
// table version carries two facets: the standard "version" facet, whose
// datasetVersion is the Iceberg snapshot id in decimal (as OpenLineage's
// Spark integration reports Iceberg versions), and the custom
// "logmesh_iceberg" facet with logmesh's table version, the snapshot id
// and the metadata location. Landed files are named by their key in
// Namespaces.Landing, versioned by their SHA-256.
//
// # Custom facets
//
// logmesh_job, logmesh_batch and logmesh_iceberg follow the spec's
// naming rules ({prefix}_{name} keys, {Prefix}{Name}{Entity}Facet schemas).
// Their JSON schemas are in the facets/ directory beside this file; each
// _schemaURL points at one of them and names its version in the path, so
// a changed facet gets a new file, never an edited one.
package openlineage
