package odcs_test

import (
	"fmt"
	"os"
	"time"

	"github.com/logmesh/logmesh/internal/odcs"
	"github.com/logmesh/logmesh/mesh"
)

func ExampleNew() {
	p := &mesh.Product{
		Name: "eq.exposure", Domain: "eq", Kind: mesh.KindConsumerAligned,
		Output: mesh.Output{Table: "eq.exposure", Mode: mesh.ModeUpsert, PrimaryKey: []string{"isin"},
			Schema: `{"type":"record","name":"Exposure","fields":[{"name":"isin","type":"string"},{"name":"net_qty","type":"long"}]}`},
		Freshness: time.Hour, Owners: []string{"eq-data@example.com"},
	}
	c, err := odcs.New(p, odcs.WithDefinitionHash("5f1e2d3c4b5a69788796a5b4c3d2e1f0"))
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := c.YAML()
	if err != nil {
		fmt.Println(err)
		return
	}
	os.Stdout.Write(b)
	// Output:
	// apiVersion: v3.0.2
	// kind: DataContract
	// id: 5b2f0b84-0f9d-86bd-b97b-e7c72213728c
	// name: eq.exposure
	// version: 5f1e2d3c4b5a
	// status: active
	// domain: eq
	// dataProduct: eq.exposure
	// schema:
	//   - name: exposure
	//     physicalName: eq.exposure
	//     logicalType: object
	//     physicalType: table
	//     properties:
	//       - name: isin
	//         logicalType: string
	//         physicalType: string
	//         required: true
	//         unique: true
	//         primaryKey: true
	//         primaryKeyPosition: 1
	//       - name: net_qty
	//         logicalType: integer
	//         logicalTypeOptions:
	//           format: i64
	//         physicalType: long
	//         required: true
	//     quality:
	//       - type: custom
	//         name: contract
	//         description: Every row a job writes is typed against the output contract (field types, non-null fields); a row that does not fit fails the job attempt, which commits no version.
	//         dimension: conformity
	//         severity: error
	//         engine: logmesh
	//         implementation:
	//           rule: contract
	//           on_violation: fail_job
	// slaProperties:
	//   - property: latency
	//     value: 1
	//     unit: h
	// team:
	//   - username: eq-data@example.com
	//     role: owner
	// customProperties:
	//   - property: productKind
	//     value: consumer-aligned
	//   - property: outputMode
	//     value: upsert
	//   - property: definitionHash
	//     value: 5f1e2d3c4b5a69788796a5b4c3d2e1f0
}
