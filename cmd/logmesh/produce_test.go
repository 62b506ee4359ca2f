package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/internal/kafkatest"
)

// convertSchema has a field of each kind produce converts.
const convertSchema = `{"type":"record","name":"Row","namespace":"test","fields":[
	{"name":"id","type":"string"},
	{"name":"qty","type":"long"},
	{"name":"n","type":"int","default":7},
	{"name":"price","type":"double","default":0},
	{"name":"ratio","type":"float","default":0},
	{"name":"ok","type":"boolean","default":false},
	{"name":"raw","type":"bytes","default":""},
	{"name":"note","type":["null","string"],"default":null},
	{"name":"at","type":{"type":"long","logicalType":"timestamp-micros"},"default":0},
	{"name":"seen","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null},
	{"name":"day","type":{"type":"int","logicalType":"date"},"default":0},
	{"name":"side","type":{"type":"enum","name":"Side","symbols":["BUY","SELL"]},"default":"BUY"},
	{"name":"tags","type":{"type":"array","items":"string"},"default":[]},
	{"name":"attrs","type":{"type":"map","values":"long"},"default":{}},
	{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":6,"scale":2},"default":"\u0000"},
	{"name":"any","type":["null","string","long"],"default":null},
	{"name":"inner","type":["null",{"type":"record","name":"Inner","fields":[{"name":"x","type":"long"}]}],"default":null}
]}`

// TestProduceConvert checks the JSON-to-Avro conversion line by line: a
// good line encodes to the same bytes as hamba/avro's own generic form of
// the value (plain values for nullable unions, which hamba/avro accepts as
// well as the map[string]any{branch: value} form produce builds), and a bad
// line fails naming its field.
func TestProduceConvert(t *testing.T) {
	schema, err := avro.ParseWithCache(convertSchema, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	base := map[string]any{"id": "a", "qty": int64(3)}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name, line string
		want       map[string]any // hamba/avro's generic form; nil when an error is expected
		wantErr    string
	}{
		{name: "defaults", line: `{"id":"a","qty":3}`, want: with()},
		{name: "big long", line: `{"id":"a","qty":9007199254740993}`, want: with("qty", int64(9007199254740993))},
		{name: "primitives", line: `{"id":"a","qty":3,"n":-2,"price":1.5,"ratio":0.25,"ok":true,"raw":"h\u00ffi"}`,
			want: with("n", int32(-2), "price", 1.5, "ratio", float32(0.25), "ok", true, "raw", []byte("h\xffi"))},
		{name: "nullable plain", line: `{"id":"a","qty":3,"note":"x","seen":"2026-03-04T05:06:07.123Z"}`,
			want: with("note", "x", "seen", ts.Truncate(time.Millisecond))},
		{name: "nullable null", line: `{"id":"a","qty":3,"note":null,"seen":null}`, want: with("note", nil, "seen", nil)},
		{name: "union tagged", line: `{"id":"a","qty":3,"note":{"string":"x"},"any":{"long":5}}`,
			want: with("note", "x", "any", map[string]any{"long": int64(5)})},
		{name: "union first fit", line: `{"id":"a","qty":3,"any":5}`, want: with("any", map[string]any{"long": int64(5)})},
		{name: "timestamp RFC 3339", line: `{"id":"a","qty":3,"at":"2026-03-04T07:06:07.123456+02:00"}`, want: with("at", ts)},
		{name: "timestamp number", line: `{"id":"a","qty":3,"at":1772600767123456}`, want: with("at", ts)},
		{name: "date", line: `{"id":"a","qty":3,"day":"2026-03-04"}`, want: with("day", time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC))},
		{name: "date number", line: `{"id":"a","qty":3,"day":1}`, want: with("day", time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC))},
		{name: "enum array map", line: `{"id":"a","qty":3,"side":"SELL","tags":["x","y"],"attrs":{"k":1}}`,
			want: with("side", "SELL", "tags", []any{"x", "y"}, "attrs", map[string]any{"k": int64(1)})},
		{name: "decimal", line: `{"id":"a","qty":3,"amount":"1234.5"}`, want: with("amount", big.NewRat(12345, 10))},
		{name: "nested record", line: `{"id":"a","qty":3,"inner":{"x":4}}`, want: with("inner", map[string]any{"test.Inner": map[string]any{"x": int64(4)}})},

		{name: "not JSON", line: `{"id":`, wantErr: "not JSON"},
		{name: "two values", line: `{"id":"a","qty":3} {}`, wantErr: "more than one JSON value"},
		{name: "not an object", line: `[1]`, wantErr: "want a JSON object for record test.Row, got an array"},
		{name: "missing required", line: `{"id":"a"}`, wantErr: "field qty: missing, and it has no default"},
		{name: "unknown field", line: `{"id":"a","qty":3,"qtty":4}`, wantErr: "field qtty: not in record test.Row"},
		{name: "long from string", line: `{"id":"a","qty":"3"}`, wantErr: "field qty: want an integer, got a string"},
		{name: "long fraction", line: `{"id":"a","qty":3.5}`, wantErr: "field qty: want an integer, got 3.5"},
		{name: "int range", line: `{"id":"a","qty":3,"n":2147483648}`, wantErr: "field n: 2147483648 is out of range for a 32-bit integer"},
		{name: "null required", line: `{"id":null,"qty":3}`, wantErr: "field id: want a string, got null"},
		{name: "nullable wrong", line: `{"id":"a","qty":3,"note":5}`, wantErr: "field note: want a string, got the number 5"},
		{name: "timestamp bad", line: `{"id":"a","qty":3,"at":"yesterday"}`, wantErr: `field at: "yesterday" is not an RFC 3339 time`},
		{name: "timestamp precision", line: `{"id":"a","qty":3,"seen":"2026-03-04T05:06:07.1234Z"}`, wantErr: "field seen: " + `"2026-03-04T05:06:07.1234Z" is more precise than the schema's milliseconds`},
		{name: "date bad", line: `{"id":"a","qty":3,"day":"04/03/2026"}`, wantErr: "field day: \"04/03/2026\" is not a date (2006-01-02)"},
		{name: "enum bad", line: `{"id":"a","qty":3,"side":"HOLD"}`, wantErr: `field side: "HOLD" is not a symbol of enum test.Side (BUY, SELL)`},
		{name: "array item", line: `{"id":"a","qty":3,"tags":["x",1]}`, wantErr: "field tags[1]: want a string"},
		{name: "map value", line: `{"id":"a","qty":3,"attrs":{"k":"v"}}`, wantErr: `field attrs["k"]: want an integer`},
		{name: "nested field", line: `{"id":"a","qty":3,"inner":{"x":"4"}}`, wantErr: "field inner.x: want an integer"},
		{name: "decimal scale", line: `{"id":"a","qty":3,"amount":1.234}`, wantErr: "field amount: 1.234 has more than 2 digits after the point"},
		{name: "decimal precision", line: `{"id":"a","qty":3,"amount":"12345.6"}`, wantErr: "field amount: 12345.6 has more than 6 digits"},
		{name: "union none", line: `{"id":"a","qty":3,"any":true}`, wantErr: "field any: fits none of the union's types (null, string, long)"},
		{name: "bytes wide", line: `{"id":"a","qty":3,"raw":"€"}`, wantErr: "field raw: character '€' is not a byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := convertLine([]byte(tc.line), schema, keyField{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("convert %s: %v, want an error containing %q", tc.line, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("convert %s: %v", tc.line, err)
			}
			want, err := avro.Marshal(schema, tc.want)
			if err != nil {
				t.Fatalf("hamba/avro's own form %v: %v", tc.want, err)
			}
			if !bytes.Equal(got.value, want) {
				t.Fatalf("convert %s:\n got %x\nwant %x (hamba/avro's encoding of %v)", tc.line, got.value, want, tc.want)
			}
		})
	}
}

// TestProduceReadLines: lines are numbered from 1, blank ones counted and
// skipped; reading stops at the first bad line; keys come from the --key
// field as text.
func TestProduceReadLines(t *testing.T) {
	schema, err := avro.ParseWithCache(convertSchema, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := newKeyField(schema, "qty")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := readLines(strings.NewReader("{\"id\":\"a\",\"qty\":3}\n\n  \r\n{\"id\":\"b\",\"qty\":-4}\r\n"), schema, key)
	if err != nil || len(lines) != 2 || string(lines[0].key) != "3" || string(lines[1].key) != "-4" {
		t.Fatalf("readLines = %d lines, %v", len(lines), err)
	}
	_, err = readLines(strings.NewReader("{\"id\":\"a\",\"qty\":3}\n\n{\"id\":\"b\",\"qty\":true}\n{\"id\":"), schema, key)
	if err == nil || err.Error() != "line 3: field qty: want an integer, got true" {
		t.Fatalf("bad third line: %v", err)
	}
	key, err = newKeyField(schema, "note")
	if err != nil {
		t.Fatal(err)
	}
	_, err = readLines(strings.NewReader(`{"id":"a","qty":3,"note":null}`), schema, key)
	if err == nil || err.Error() != "line 1: field note: the key is null" {
		t.Fatalf("null key: %v", err)
	}
	_, err = readLines(strings.NewReader(`{"id":"a","qty":3}`), schema, key)
	if err == nil || err.Error() != "line 1: field note: missing, and it is the key" {
		t.Fatalf("missing key: %v", err)
	}
	lines, err = readLines(strings.NewReader(`{"id":"a","qty":3,"note":{"string":"k"}}`), schema, key)
	if err != nil || string(lines[0].key) != "k" {
		t.Fatalf("key in a tagged union: %v", err)
	}
	for _, name := range []string{"nope", "tags", "inner"} {
		if _, err := newKeyField(schema, name); err == nil {
			t.Errorf("--key %s accepted", name)
		}
	}
}

// TestProduceUsage: command-line mistakes are usage errors, found before
// any connection is made.
func TestProduceUsage(t *testing.T) {
	dir := t.TempDir()
	avsc := filepath.Join(dir, "row.avsc")
	if err := os.WriteFile(avsc, []byte(convertSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"produce", "--schema", avsc},
		{"produce", "--topic", "t"},
		{"produce", "--topic", "t", "--schema", avsc, "extra"},
		{"produce", "--topic", "t", "--schema", avsc, "--key", "nope"},
		{"produce", "--topic", "t", "--schema", avsc, "--key", "inner"},
		{"produce", "--topic", "t", "--schema", avsc, "--bogus"},
	} {
		var out, errOut bytes.Buffer
		// Unreachable brokers and registry: a usage error must come first.
		all := append([]string{"--brokers", "127.0.0.1:1", "--registry", "http://127.0.0.1:1"}, args...)
		if err := run(context.Background(), all, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("logmesh %q: %v, want a usage error", args, err)
		}
	}
}

// TestProduceEndToEnd runs produce against the embedded platform and its
// registry (BACKWARD compatibility): records are read back, decoded with the
// schema the registry holds for their id; a breaking change and a bad line
// produce nothing; a compatible change is a new version.
func TestProduceEndToEnd(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const topic, subject = "shop.trades", "shop.trades-value"
	v1 := write("v1.avsc", `{"type":"record","name":"Trade","namespace":"shop","fields":[
		{"name":"id","type":"string"},
		{"name":"qty","type":"long"},
		{"name":"note","type":["null","string"],"default":null},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}}]}`)
	breaking := write("breaking.avsc", `{"type":"record","name":"Trade","namespace":"shop","fields":[
		{"name":"id","type":"string"},
		{"name":"qty","type":"long"},
		{"name":"note","type":["null","string"],"default":null},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}},
		{"name":"venue","type":"string"}]}`)
	compatible := write("v2.avsc", `{"type":"record","name":"Trade","namespace":"shop","fields":[
		{"name":"id","type":"string"},
		{"name":"qty","type":"long"},
		{"name":"note","type":["null","string"],"default":null},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}},
		{"name":"venue","type":["null","string"],"default":null}]}`)
	rcl, err := sr.NewClient(sr.URLs(c.p.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	versions := func() []int {
		t.Helper()
		vs, err := rcl.SubjectVersions(ctx, subject)
		var re *sr.ResponseError
		if errors.As(err, &re) && re.ErrorCode == 40401 {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return vs
	}
	records := func() []*kgo.Record {
		t.Helper()
		recs := kafkatest.ReadAll(t, c.p.Brokers, topic)
		slices.SortFunc(recs, func(a, b *kgo.Record) int { return bytes.Compare(a.Key, b.Key) })
		return recs
	}
	idOf := regexp.MustCompile(`^produced (\d+) records to shop\.trades \(subject shop\.trades-value, schema id (\d+)\)\n$`)

	lines := `{"id":"t-1","qty":3,"note":null,"at":"2026-03-04T05:06:07.123456Z"}
{"id":"t-2","qty":9007199254740993,"at":1772600767000001}

{"id":"t-3","qty":-1,"note":"late","at":"2026-03-04T07:06:07+02:00"}
`
	t.Run("missing topic", func(t *testing.T) {
		_, err := c.run("produce", "--topic", topic, "--schema", v1, "--key", "id", "-f", write("in.ndjson", lines))
		if err == nil || !strings.Contains(err.Error(), "topic "+topic+" does not exist") || !strings.Contains(err.Error(), "--create") {
			t.Fatalf("produce to a missing topic: %v, want an error naming it and --create", err)
		}
		if vs := versions(); len(vs) != 0 {
			t.Fatalf("subject registered anyway: versions %v", vs)
		}
	})

	var id1 int
	t.Run("create from stdin and read back", func(t *testing.T) {
		var out, errOut bytes.Buffer
		g, rest, err := parseGlobal([]string{"--brokers", c.p.Brokers[0], "--registry", c.p.RegistryURL,
			"produce", "--topic", topic, "--schema", v1, "--key", "id", "--create"}, &errOut)
		if err != nil {
			t.Fatal(err)
		}
		cmd, cargs := lookup(commands(), rest)
		if err := cmd.execute(ctx, g, cargs, &cmdInput{stdin: strings.NewReader(lines), stdout: &out, stderr: &errOut}); err != nil {
			t.Fatalf("produce: %v\n%s", err, errOut.String())
		}
		m := idOf.FindStringSubmatch(out.String())
		if m == nil || m[1] != "3" {
			t.Fatalf("produce printed %q", out.String())
		}
		id1, _ = strconv.Atoi(m[2])
		adm := kadm.NewClient((&kafkatest.Cluster{Brokers: c.p.Brokers}).Client(t))
		details, err := adm.ListTopics(ctx, topic)
		if err != nil || details[topic].Err != nil || len(details[topic].Partitions) != 6 {
			t.Fatalf("--create made %+v, %v; want 6 partitions", details[topic], err)
		}
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"retention.ms", "retention.bytes"} {
			if v := configValue(rc, name); v != "-1" {
				t.Errorf("--create: %s = %q, want -1 (kept forever)", name, v)
			}
		}
		recs := records()
		if len(recs) != 3 {
			t.Fatalf("read back %d records, want 3", len(recs))
		}
		ss, err := rcl.SchemaByID(ctx, id1)
		if err != nil {
			t.Fatal(err)
		}
		schema, err := avro.ParseWithCache(ss.Schema, "", &avro.SchemaCache{})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
		want := []map[string]any{
			{"id": "t-1", "qty": int64(3), "note": nil, "at": at},
			{"id": "t-2", "qty": int64(9007199254740993), "note": nil, "at": time.UnixMicro(1772600767000001).UTC()},
			{"id": "t-3", "qty": int64(-1), "note": "late", "at": at.Truncate(time.Second)},
		}
		for i, r := range recs {
			if string(r.Key) != want[i]["id"] {
				t.Errorf("record %d: key %q, want %q", i, r.Key, want[i]["id"])
			}
			if len(r.Value) < 5 || r.Value[0] != 0 || int(binary.BigEndian.Uint32(r.Value[1:5])) != id1 {
				t.Fatalf("record %d: value %x is not framed with schema id %d", i, r.Value, id1)
			}
			var got map[string]any
			if err := avro.Unmarshal(schema, r.Value[5:], &got); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if !reflect.DeepEqual(got, want[i]) {
				t.Errorf("record %d = %v, want %v", i, got, want[i])
			}
		}
	})

	t.Run("breaking change refused", func(t *testing.T) {
		_, err := c.run("produce", "--topic", topic, "--schema", breaking, "-f",
			write("b.ndjson", `{"id":"t-4","qty":1,"at":0,"venue":"X"}`))
		var re *sr.ResponseError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), re.Message) ||
			!strings.Contains(err.Error(), "incompatible") || !strings.Contains(err.Error(), "venue") {
			t.Fatalf("breaking change: %v, want the registry's reason naming venue", err)
		}
		if n := len(records()); n != 3 {
			t.Fatalf("%d records after a refused schema, want 3", n)
		}
		if vs := versions(); !slices.Equal(vs, []int{1}) {
			t.Fatalf("versions %v after a refused schema, want [1]", vs)
		}
	})

	t.Run("bad line refused", func(t *testing.T) {
		_, err := c.run("produce", "--topic", topic, "--schema", v1, "-f",
			write("bad.ndjson", "{\"id\":\"t-4\",\"qty\":1,\"at\":0}\n{\"id\":\"t-5\",\"qty\":\"three\",\"at\":0}\n"))
		if err == nil || !strings.Contains(err.Error(), "line 2: field qty: want an integer, got a string") {
			t.Fatalf("bad line: %v, want line 2 and field qty", err)
		}
		if n := len(records()); n != 3 {
			t.Fatalf("%d records after a bad line, want 3", n)
		}
	})

	t.Run("compatible change", func(t *testing.T) {
		out, err := c.run("produce", "--topic", topic, "--schema", compatible, "--key", "id", "-f",
			write("v2.ndjson", `{"id":"t-6","qty":2,"at":0,"venue":"XLON"}`+"\n"+`{"id":"t-7","qty":2,"at":0}`))
		if err != nil {
			t.Fatal(err)
		}
		m := idOf.FindStringSubmatch(out)
		if m == nil || m[1] != "2" || m[2] == strconv.Itoa(id1) {
			t.Fatalf("produce printed %q, want 2 records under a new schema id (v1 is %d)", out, id1)
		}
		if vs := versions(); !slices.Equal(vs, []int{1, 2}) {
			t.Fatalf("versions %v, want [1 2]", vs)
		}
		id2, _ := strconv.Atoi(m[2])
		ss, err := rcl.SchemaByID(ctx, id2)
		if err != nil {
			t.Fatal(err)
		}
		schema, err := avro.ParseWithCache(ss.Schema, "", &avro.SchemaCache{})
		if err != nil {
			t.Fatal(err)
		}
		recs := records()
		if len(recs) != 5 {
			t.Fatalf("read back %d records, want 5", len(recs))
		}
		for i, venue := range []any{"XLON", nil} {
			r := recs[3+i]
			var got map[string]any
			if int(binary.BigEndian.Uint32(r.Value[1:5])) != id2 {
				t.Fatalf("record %s: not framed with schema id %d", r.Key, id2)
			}
			if err := avro.Unmarshal(schema, r.Value[5:], &got); err != nil {
				t.Fatal(err)
			}
			if got["venue"] != venue {
				t.Errorf("record %s: venue %v, want %v", r.Key, got["venue"], venue)
			}
		}
	})
}

func configValue(rc kadm.ResourceConfig, name string) string {
	for _, c := range rc.Configs {
		if c.Key == name {
			return c.MaybeValue()
		}
	}
	return ""
}
