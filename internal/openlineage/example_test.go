package openlineage_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/openlineage"
)

// ExampleJobEvents maps the JobStarted of a product job to its START
// event.
func ExampleJobEvents() {
	js := &events.JobStarted{
		Envelope:    events.Envelope{EventID: "e1", OccurredAt: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)},
		JobID:       "j-1",
		Product:     "eq.positions",
		Attempt:     1,
		Trigger:     "inputs",
		Transform:   new("SELECT account, sum(qty) AS qty FROM trades GROUP BY account"),
		Runner:      "duckdb",
		OutputTable: "eq.positions",
		Inputs: []events.InputVersion{{Name: "raw.trades", Table: "raw.trades", Version: 7, SnapshotID: 8237461923847561234,
			MetadataLocation: "s3://lake/warehouse/raw/trades/metadata/00007-a.metadata.json"}},
	}
	ns := openlineage.Namespaces{Job: "logmesh", Tables: "iceberg://logmesh", Landing: "s3://landing"}
	evs, err := openlineage.JobEvents(ns, js, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := json.MarshalIndent(evs[0], "", "  ")
	fmt.Println(string(b))
	// Output:
	// {
	//   "eventType": "START",
	//   "eventTime": "2026-03-02T09:30:00Z",
	//   "run": {
	//     "runId": "ac54506f-8b75-8086-b101-7db7189e26ae",
	//     "facets": {
	//       "logmesh_job": {
	//         "_producer": "https://github.com/logmesh/logmesh",
	//         "_schemaURL": "https://github.com/logmesh/logmesh/blob/main/internal/openlineage/facets/1-0-0/LogmeshJobRunFacet.json#/$defs/LogmeshJobRunFacet",
	//         "jobId": "j-1",
	//         "attempt": 1,
	//         "trigger": "inputs",
	//         "runner": "duckdb"
	//       }
	//     }
	//   },
	//   "job": {
	//     "namespace": "logmesh",
	//     "name": "eq.positions",
	//     "facets": {
	//       "jobType": {
	//         "_producer": "https://github.com/logmesh/logmesh",
	//         "_schemaURL": "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
	//         "processingType": "BATCH",
	//         "integration": "LOGMESH",
	//         "jobType": "TRANSFORM"
	//       },
	//       "sql": {
	//         "_producer": "https://github.com/logmesh/logmesh",
	//         "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet",
	//         "query": "SELECT account, sum(qty) AS qty FROM trades GROUP BY account",
	//         "dialect": "duckdb"
	//       }
	//     }
	//   },
	//   "inputs": [
	//     {
	//       "namespace": "iceberg://logmesh",
	//       "name": "raw.trades",
	//       "facets": {
	//         "version": {
	//           "_producer": "https://github.com/logmesh/logmesh",
	//           "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
	//           "datasetVersion": "8237461923847561234"
	//         },
	//         "logmesh_iceberg": {
	//           "_producer": "https://github.com/logmesh/logmesh",
	//           "_schemaURL": "https://github.com/logmesh/logmesh/blob/main/internal/openlineage/facets/1-0-0/LogmeshIcebergDatasetFacet.json#/$defs/LogmeshIcebergDatasetFacet",
	//           "version": 7,
	//           "snapshotId": 8237461923847561234,
	//           "metadataLocation": "s3://lake/warehouse/raw/trades/metadata/00007-a.metadata.json"
	//         }
	//       }
	//     }
	//   ],
	//   "outputs": [
	//     {
	//       "namespace": "iceberg://logmesh",
	//       "name": "eq.positions"
	//     }
	//   ],
	//   "producer": "https://github.com/logmesh/logmesh",
	//   "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
	// }
}
