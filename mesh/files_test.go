package mesh_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/logmesh/logmesh/mesh"
)

// writeFiles writes name → text under a new folder and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const rawFile = `domains:
  - name: raw
feeds:
  - name: trades
    table: raw.trades
    key_pattern: trades/*.csv
    format: csv
    options: {header: true}
    visibility: enterprise
    schema_file: schemas/trade.avsc
`

const qaFile = `domains:
  - name: qa
products:
  - name: checked
    domain: qa
    inputs: [raw.trades]
    transform: SELECT id FROM "raw.trades"
    output: {schema: {type: record, name: C, fields: [{name: id, type: string}]}}
grants:
  - {product: raw.trades, to: qa}
`

// A folder is one mesh: items of every *.yaml and *.yml file, by file
// name, references resolved across files, schema files relative to the
// folder; other files and subfolders are not read.
func TestLoadFolder(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"raw.yaml":           rawFile,
		"qa.yml":             qaFile,
		"notes.txt":          "not a mesh",
		"old/ignored.yaml":   "nonsense: [",
		"schemas/trade.avsc": `{"type":"record","name":"Trade","fields":[{"name":"id","type":"string"}]}`,
	})
	m, err := mesh.LoadPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	var domains []string
	for _, d := range m.Domains {
		domains = append(domains, d.Name)
	}
	if !reflect.DeepEqual(domains, []string{"qa", "raw"}) || len(m.Feeds) != 1 || len(m.Grants) != 1 {
		t.Fatalf("domains %v, %d feeds, %d grants", domains, len(m.Feeds), len(m.Grants))
	}
	if p, ok := m.Product("qa.checked"); !ok || p.Inputs[0].Kind != mesh.InputProduct {
		t.Errorf("qa.checked's input across files: %+v", p)
	}
	want := []string{filepath.Join(dir, "qa.yml"), filepath.Join(dir, "raw.yaml"), filepath.Join(dir, "schemas/trade.avsc")}
	if !reflect.DeepEqual(m.Files, want) {
		t.Errorf("Files = %v, want %v", m.Files, want)
	}
	srcs0, err := mesh.ReadSources(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := mesh.SchemaFiles(srcs0); !reflect.DeepEqual(got, want[2:]) {
		t.Errorf("SchemaFiles = %v, want %v", got, want[2:])
	}

	// The same files parsed from memory, schema files read by the
	// caller's function, give the same mesh.
	srcs, err := mesh.ReadSources(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := mesh.ParseFiles(dir, srcs, mesh.WithReadFile(func(name string) ([]byte, error) {
		if name != filepath.Join(dir, "schemas/trade.avsc") {
			return nil, os.ErrNotExist
		}
		return []byte(`{"type":"record","name":"Trade","fields":[{"name":"id","type":"string"}]}`), nil
	}))
	if err != nil || !reflect.DeepEqual(again, m) {
		t.Errorf("ParseFiles = %+v, %v; want %+v", again, err, m)
	}

	if _, err := mesh.LoadPath(writeFiles(t, map[string]string{"readme.md": "x"})); err == nil || !strings.Contains(err.Error(), "no *.yaml") {
		t.Errorf("a folder without mesh files: %v", err)
	}
}

// Every error of every file at once, each with its own file and line.
func TestLoadFolderErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.yaml": "domains:\n  - name: a\nfeeds:\n  - name: f\n    table: nowhere.f\n    key_pattern: f/*\n    format: ndjson\n    schema: {type: record, name: F, fields: [{name: x, type: string}]}\n",
		"b.yaml": "domains:\n  - name: b\n  - name: a\nsubscriptions:\n  - {domain: c, name: s, pattern: {event: [x]}}\n",
		"c.yaml": "domains:\n  - name: c\n    colour: blue\n",
	})
	_, err := mesh.LoadPath(dir)
	if !errors.Is(err, mesh.ErrInvalid) {
		t.Fatalf("%v, want ErrInvalid", err)
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		filepath.Join(dir, "c.yaml") + ":3:", // colour: decoding fails, so the other files' items are not checked
	}
	if len(lines) != len(want) || !strings.HasPrefix(lines[0], want[0]) {
		t.Fatalf("errors:\n%v\nwant %v", err, want)
	}

	dir = writeFiles(t, map[string]string{
		"a.yaml": "domains:\n  - name: a\nfeeds:\n  - name: f\n    table: nowhere.f\n    key_pattern: f/*\n    format: ndjson\n    schema: {type: record, name: F, fields: [{name: x, type: string}]}\n",
		"b.yaml": "domains:\n  - name: b\n  - name: a\nsubscriptions:\n  - {domain: c, name: s, pattern: {event: [x]}}\n",
	})
	_, err = mesh.LoadPath(dir)
	lines = strings.Split(err.Error(), "\n")
	want = []string{
		filepath.Join(dir, "a.yaml") + ":5: feed f: domain \"nowhere\"",
		filepath.Join(dir, "b.yaml") + ":3: domain \"a\": already declared at " + filepath.Join(dir, "a.yaml") + ":2",
		filepath.Join(dir, "b.yaml") + ":5: subscription c/s: domain \"c\" is not declared",
	}
	if len(lines) != len(want) {
		t.Fatalf("errors:\n%v\nwant %d", err, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("error %d = %q, want prefix %q", i, lines[i], want[i])
		}
	}
}

// References outside the files resolve against the definitions beside
// them (the log's), but never what a domain owns.
func TestParseWithDefined(t *testing.T) {
	onLog := mesh.WithDefined(mesh.Defined{Domains: []string{"raw", "research"}, Products: map[string]string{"raw.trades": "raw.trades"}})
	qa := func(extra string) []byte {
		return []byte(`domains:
  - name: qa
products:
  - name: checked
    domain: qa
    visibility: enterprise
    inputs: [raw.trades]
    transform: SELECT 1
    output: {schema: {type: record, name: C, fields: [{name: id, type: string}]}}
` + extra)
	}
	grant := "grants:\n  - {product: qa.checked, to: research}\n"
	if _, err := mesh.Parse(qa(grant), "qa.yaml", "."); err == nil {
		t.Fatal("without the log, raw.trades and research resolve")
	}
	m, err := mesh.Parse(qa(grant), "qa.yaml", ".", onLog)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := m.Product("qa.checked"); p.Inputs[0].Kind != mesh.InputProduct || m.Grants[0].Grantee != "research" {
		t.Errorf("resolved against the log: %+v %+v", p.Inputs, m.Grants)
	}
	for _, tc := range []struct{ name, extra, says string }{
		{"another domain's feed", "feeds:\n  - {name: f, table: raw.f, key_pattern: 'f/*', format: ndjson, schema: {type: record, name: F, fields: [{name: x, type: string}]}}\n",
			`qa.yaml:11: feed f: domain "raw" of table raw.f is not declared in the files: raw is on the log`},
		{"another domain's grant", "grants:\n  - {product: raw.trades, to: qa}\n",
			"qa.yaml:11: grant of raw.trades to qa: product raw.trades is not in the files: a grant belongs to the product's owner domain raw"},
		{"another domain's subscription", "subscriptions:\n  - {domain: raw, name: s, pattern: {event: [x]}}\n",
			`qa.yaml:11: subscription raw/s: domain "raw" is not declared in the files: raw is on the log`},
		{"an unknown domain", "grants:\n  - {product: qa.checked, to: nobody}\n", `qa.yaml:11: grant of qa.checked to nobody: domain "nobody" is not declared`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mesh.Parse(qa(tc.extra), "qa.yaml", ".", onLog)
			if !errors.Is(err, mesh.ErrInvalid) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%v\nwant it to say %q", err, tc.says)
			}
		})
	}
	// A domain of the files resolves in the files only: its definitions
	// on the log are what the plan replaces.
	own := mesh.WithDefined(mesh.Defined{Domains: []string{"qa"}, Products: map[string]string{"qa.old": "qa.old"}})
	src := strings.Replace(string(qa("")), "inputs: [raw.trades]", "inputs: [qa.old]", 1)
	if _, err := mesh.Parse([]byte(src), "qa.yaml", ".", own); err == nil || !strings.Contains(err.Error(), `input "qa.old"`) {
		t.Errorf("an input of the files' own domain from the log: %v", err)
	}
}
