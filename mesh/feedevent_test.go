package mesh_test

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/mesh"
)

// TestFeedEventRoundTrip: every feed of the test mesh and of the example
// mesh comes back from its FeedDefined whole — equal, with the same
// definition hash — and through the Avro encoding too, so a processor
// that reads only the log has the feed the file declared.
func TestFeedEventRoundTrip(t *testing.T) {
	codec, err := events.NewCodec(&fakeRegistry{})
	if err != nil {
		t.Fatal(err)
	}
	if err := codec.Register(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"testdata/mesh.yaml", filepath.Join("..", "examples", "mesh.yaml")} {
		m, err := mesh.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Feeds) == 0 {
			t.Fatalf("%s has no feeds", path)
		}
		for _, ev := range m.Definitions(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) {
			fd, ok := ev.(*events.FeedDefined)
			if !ok {
				continue
			}
			want, _ := m.Feed(fd.Feed)
			// Through the wire format, as a processor reads it.
			rec, err := codec.Record(fd)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := codec.Decode(t.Context(), rec.Value)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mesh.FeedFromEvent(dec.(*events.FeedDefined))
			if err != nil {
				t.Fatalf("%s: feed %s: %v", path, fd.Feed, err)
			}
			if !reflect.DeepEqual(&got, want) {
				t.Errorf("%s: feed %s from its event:\n got %+v\nwant %+v", path, fd.Feed, got, *want)
			}
			if h := got.DefinitionHash(); h != fd.DefinitionHash {
				t.Errorf("%s: feed %s: hash from its event %s, recorded %s", path, fd.Feed, h, fd.DefinitionHash)
			}
		}
	}
}

// TestFeedFromEventRefusesBadOptions: an option that does not decode is
// an error naming the feed and the option, not a feed with a default.
func TestFeedFromEventRefusesBadOptions(t *testing.T) {
	for _, opt := range []events.Option{{Name: "columns", Value: "not json"}, {Name: "max_record_bytes", Value: "x"}, {Name: "colour", Value: "red"}} {
		_, err := mesh.FeedFromEvent(&events.FeedDefined{Feed: "f", Table: "raw.f", FormatOptions: []events.Option{opt}})
		if err == nil {
			t.Errorf("option %s=%q: no error", opt.Name, opt.Value)
		}
	}
}
