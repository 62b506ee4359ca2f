package registry_test

import (
	"fmt"

	"github.com/logmesh/logmesh/registry"
)

func ExampleCheckCompatibility() {
	v1 := `{"type":"record","name":"User","fields":[{"name":"id","type":"string"}]}`
	optional := `{"type":"record","name":"User","fields":[{"name":"id","type":"string"},
		{"name":"email","type":["null","string"],"default":null}]}`
	required := `{"type":"record","name":"User","fields":[{"name":"id","type":"string"},
		{"name":"age","type":"int"}]}`

	msgs, err := registry.CheckCompatibility(registry.LevelBackward, optional, []string{v1})
	fmt.Println(len(msgs) == 0, err)
	msgs, err = registry.CheckCompatibility(registry.LevelBackward, required, []string{v1})
	fmt.Println(len(msgs) == 0, err)
	// Output:
	// true <nil>
	// false <nil>
}
