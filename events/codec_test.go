package events_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/schemas"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

// TestGolden encodes a fully populated event of every fact, compares the
// bytes (and the JSON form) with testdata/golden, and decodes them back.
func TestGolden(t *testing.T) {
	c, _ := newSRCodec(t)
	for i, name := range events.Names() {
		t.Run(shortName(name), func(t *testing.T) {
			ev := populated(t, name)
			if id, ok := c.SchemaID(name); !ok || id != i+1 {
				t.Fatalf("SchemaID(%s) = %d, %v; want %d (registration in name order)", name, id, ok, i+1)
			}
			got, err := c.Encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			js, err := events.JSON(ev)
			if err != nil {
				t.Fatal(err)
			}
			js = append(js, '\n')
			binFile := filepath.Join("testdata", "golden", shortName(name)+".bin")
			jsonFile := filepath.Join("testdata", "golden", shortName(name)+".json")
			if *update {
				if err := os.WriteFile(binFile, got, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(jsonFile, js, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(binFile)
			if err != nil {
				t.Fatalf("%v (run go test ./events -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoding changed:\n got %x\nwant %x", got, want)
			}
			wantJSON, err := os.ReadFile(jsonFile)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(js, wantJSON) {
				t.Errorf("JSON changed:\n got %s\nwant %s", js, wantJSON)
			}

			// Decode the stored bytes, not just our own output.
			dec, err := c.Decode(context.Background(), want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(dec, ev) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", dec, ev)
			}
		})
	}
}

func TestRecord(t *testing.T) {
	c, _ := newSRCodec(t)
	bp := populated(t, events.NameBatchPlanned).(*events.BatchPlanned)
	bp.Envelope.Domain = "raw"
	rec, err := c.Record(bp)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Topic != "logmesh.raw.events" {
		t.Errorf("Topic = %q", rec.Topic)
	}
	if string(rec.Key) != bp.Table {
		t.Errorf("Key = %q, want the table %q", rec.Key, bp.Table)
	}
	if len(rec.Headers) != 1 || rec.Headers[0].Key != events.HeaderEvent || string(rec.Headers[0].Value) != events.NameBatchPlanned {
		t.Errorf("Headers = %+v", rec.Headers)
	}
	if dec, err := c.Decode(context.Background(), rec.Value); err != nil || !reflect.DeepEqual(dec, bp) {
		t.Errorf("Value does not decode to the event: %v", err)
	}

	bp.Envelope.Domain = "Bad Domain"
	if _, err := c.Record(bp); err == nil {
		t.Error("Record accepted an invalid domain")
	}
}

func TestEncodeErrors(t *testing.T) {
	reg := newMemRegistry()
	c, err := events.NewCodec(reg)
	if err != nil {
		t.Fatal(err)
	}
	ev := populated(t, events.NameFileLanded)
	if _, err := c.Encode(ev); !errors.Is(err, events.ErrNotRegistered) {
		t.Errorf("Encode before Register: %v, want ErrNotRegistered", err)
	}
	if _, err := c.Encode(impostor{}); err == nil {
		t.Error("Encode accepted a type that is not the fact's Go type")
	}
	if _, err := c.Encode(nil); err == nil {
		t.Error("Encode(nil) succeeded")
	}
	if _, err := c.Encode((*events.FileLanded)(nil)); err == nil {
		t.Error("Encode(typed nil) succeeded")
	}
	if _, err := events.NewCodec(nil); err == nil {
		t.Error("NewCodec(nil) succeeded")
	}
	if _, err := events.NewCodec(reg, events.MaxBytes(0)); err == nil {
		t.Error("NewCodec accepted MaxBytes(0)")
	}
}

// impostor claims a fact's name without being its Go type.
type impostor struct{ events.Envelope }

func (impostor) Name() string             { return events.NameFileLanded }
func (i impostor) Meta() *events.Envelope { return &i.Envelope }

// variant returns the current text of fact name with edit applied to the
// decoded JSON (a test-only older or newer version of the schema).
func variant(t *testing.T, name string, edit func(fields []any) []any) string {
	t.Helper()
	s, err := schemas.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := jsonUnmarshal(s.Text, &m); err != nil {
		t.Fatal(err)
	}
	m["fields"] = edit(m["fields"].([]any))
	return jsonMarshal(t, m)
}

func dropField(names ...string) func([]any) []any {
	return func(fields []any) []any {
		var out []any
		for _, f := range fields {
			if !contains(names, f.(map[string]any)["name"].(string)) {
				out = append(out, f)
			}
		}
		return out
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// wire prefixes body with the Confluent header for id.
func wire(id int, body []byte) []byte {
	out := make([]byte, 5, 5+len(body))
	binary.BigEndian.PutUint32(out[1:], uint32(id))
	return append(out, body...)
}

func TestEvolution(t *testing.T) {
	ctx := context.Background()
	c, reg := newSRCodec(t)

	register := func(t *testing.T, text string) int {
		t.Helper()
		parsed, err := schemas.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		id, err := reg.Register(ctx, schemas.Subject(parsed.(interface{ FullName() string }).FullName()), text)
		if err != nil {
			t.Fatal(err)
		}
		if cur, _ := c.SchemaID(parsed.(interface{ FullName() string }).FullName()); id == cur {
			t.Fatalf("variant got the current schema's id %d; it did not change the schema", id)
		}
		return id
	}

	t.Run("older writer without defaulted fields", func(t *testing.T) {
		old := variant(t, events.NameFileFailed, dropField("attempt", "retryable", "table"))
		id := register(t, old)
		orig := populated(t, events.NameFileFailed).(*events.FileFailed)
		body, err := marshalWith(old, orig)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(ctx, wire(id, body))
		if err != nil {
			t.Fatal(err)
		}
		want := *orig
		want.Attempt, want.Retryable, want.Table = 1, false, nil // the defaults
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("got %+v\nwant %+v", got, &want)
		}
	})

	// FeedDefined gained every field a processor needs (mode, unique key,
	// batch files, control characters, the contract's subject and
	// version, who defined it); a FeedDefined written before decodes with
	// their defaults.
	t.Run("FeedDefined written before it carried every field", func(t *testing.T) {
		old := variant(t, events.NameFeedDefined, dropField("mode", "unique_key", "batch_max_files",
			"allow_control_characters", "schema_subject", "schema_version", "defined_by"))
		id := register(t, old)
		orig := populated(t, events.NameFeedDefined).(*events.FeedDefined)
		body, err := marshalWith(old, orig)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(ctx, wire(id, body))
		if err != nil {
			t.Fatal(err)
		}
		want := *orig
		want.Mode, want.UniqueKey, want.BatchMaxFiles, want.AllowControlCharacters = nil, false, nil, false
		want.SchemaSubject, want.SchemaVersion, want.DefinedBy = nil, nil, nil
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("got %+v\nwant %+v", got, &want)
		}
	})

	t.Run("RecordRejected written before violations", func(t *testing.T) {
		old := variant(t, events.NameRecordRejected, dropField("violations"))
		id := register(t, old)
		orig := populated(t, events.NameRecordRejected).(*events.RecordRejected)
		body, err := marshalWith(old, orig)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(ctx, wire(id, body))
		if err != nil {
			t.Fatal(err)
		}
		rr := got.(*events.RecordRejected)
		if len(rr.Violations) != 0 {
			t.Errorf("Violations = %+v, want the default []", rr.Violations)
		}
		want := *orig
		want.Violations = rr.Violations
		if !reflect.DeepEqual(rr, &want) {
			t.Errorf("got %+v\nwant %+v", rr, &want)
		}
	})

	t.Run("newer writer with an extra field", func(t *testing.T) {
		newer := variant(t, events.NameFileLanded, func(f []any) []any {
			return append(f, map[string]any{"name": "storage_class", "type": "string", "default": ""})
		})
		id := register(t, newer)
		orig := populated(t, events.NameFileLanded)
		cur, err := c.Encode(orig)
		if err != nil {
			t.Fatal(err)
		}
		body := append(cur[5:len(cur):len(cur)], 0x06, 'S', 'T', 'D') // + storage_class "STD"
		got, err := c.Decode(ctx, wire(id, body))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, orig) {
			t.Errorf("got %+v\nwant %+v", got, orig)
		}
	})

	incompatible := []struct {
		name string
		text string
	}{
		{"required field missing", variant(t, events.NameFileLanded, dropField("checksum"))},
		{"type changed", variant(t, events.NameFileLanded, func(f []any) []any {
			for _, x := range f {
				if m := x.(map[string]any); m["name"] == "size" {
					m["type"] = "string"
				}
			}
			return f
		})},
	}
	for _, tt := range incompatible {
		t.Run(tt.name, func(t *testing.T) {
			id := register(t, tt.text)
			_, err := c.Decode(ctx, wire(id, []byte{0}))
			if !errors.Is(err, events.ErrIncompatible) {
				t.Errorf("Decode = %v, want ErrIncompatible", err)
			}
			if err == nil || !strings.Contains(err.Error(), events.NameFileLanded) {
				t.Errorf("error %q does not name the event", err)
			}
		})
	}

	t.Run("unknown event", func(t *testing.T) {
		id := register(t, `{"type":"record","name":"Nope","namespace":"logmesh.events","fields":[{"name":"a","type":"string"}]}`)
		if _, err := c.Decode(ctx, wire(id, []byte{0})); !errors.Is(err, events.ErrUnknownEvent) {
			t.Errorf("Decode = %v, want ErrUnknownEvent", err)
		}
		id = register(t, `{"type":"enum","name":"logmesh.events.E","symbols":["A"]}`)
		if _, err := c.Decode(ctx, wire(id, []byte{0})); !errors.Is(err, events.ErrUnknownEvent) {
			t.Errorf("Decode of a non-record schema = %v, want ErrUnknownEvent", err)
		}
	})
}

func TestDecodeUnknownSchema(t *testing.T) {
	c, _ := newSRCodec(t)
	_, err := c.Decode(context.Background(), wire(4242, []byte{0}))
	if !errors.Is(err, events.ErrUnknownSchema) {
		t.Fatalf("Decode = %v, want ErrUnknownSchema", err)
	}
	if !strings.Contains(err.Error(), "4242") {
		t.Errorf("error %q does not name the id", err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	ctx := context.Background()
	c, _ := newMemCodec(t)
	good, err := c.Encode(populated(t, events.NameBatchPlanned))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := c.SchemaID(events.NameFileLanded)
	hugeString := wire(id, []byte{
		0xfe, 0xff, 0xff, 0xff, 0x0f, // event_id: length 2^31-1
	})
	bpID, _ := c.SchemaID(events.NameBatchPlanned)
	// A BatchPlanned whose envelope and first strings are empty and whose
	// files array claims 2^30 elements.
	hugeArray := wire(bpID, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x08})
	tests := map[string][]byte{
		"nil":             nil,
		"empty":           {},
		"short header":    {0, 0, 0},
		"bad magic":       append([]byte{1}, good[1:]...),
		"header only":     good[:5],
		"trailing bytes":  append(append([]byte{}, good...), 0),
		"huge string":     hugeString,
		"huge array":      hugeArray,
		"negative length": wire(id, []byte{0x01}),
	}
	for n := 6; n < len(good); n++ {
		tests["truncated at "+strconv.Itoa(n)] = good[:n]
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			ev, err := c.Decode(ctx, b)
			if !errors.Is(err, events.ErrMalformed) {
				t.Errorf("Decode = %v, %v; want ErrMalformed", ev, err)
			}
			t.Log(err)
		})
	}
}

// TestDecodeCachesWriter checks that a new id is fetched once, and that
// concurrent first decodes are safe.
func TestDecodeCachesWriter(t *testing.T) {
	ctx := context.Background()
	enc, reg := newMemCodec(t)
	b, err := enc.Encode(populated(t, events.NameJobStarted))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := events.NewCodec(reg) // not registered: every id is new to it
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if _, err := dec.Decode(ctx, b); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	reg.mu.Lock()
	calls := reg.calls
	reg.mu.Unlock()
	if calls < 1 || calls > 8 {
		t.Errorf("registry was asked %d times for one id", calls)
	}
}
