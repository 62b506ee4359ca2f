package events_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/schemas"
)

// newSRCodec returns a registered codec over a fresh srfake registry, and a
// client to that registry. Schemas are registered in name order, so ids are
// 1..N in the order of events.Names().
func newSRCodec(tb testing.TB) (*events.Codec, events.Registry) {
	tb.Helper()
	fake := srfake.New()
	tb.Cleanup(fake.Close)
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		tb.Fatal(err)
	}
	reg := events.SRRegistry(cl)
	c, err := events.NewCodec(reg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Register(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return c, reg
}

// memRegistry is a TEST DOUBLE of a schema registry: an in-memory map with
// sequential ids from 1, no compatibility checks, no HTTP. It is fast enough
// for fuzzing.
type memRegistry struct {
	mu    sync.Mutex
	ids   map[string]int // text → id
	texts map[int]string
	calls int // SchemaByID calls
}

var _ events.Registry = (*memRegistry)(nil)

func newMemRegistry() *memRegistry {
	return &memRegistry{ids: map[string]int{}, texts: map[int]string{}}
}

func (r *memRegistry) Register(_ context.Context, _, schema string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.ids[schema]; ok {
		return id, nil
	}
	id := len(r.texts) + 1
	r.ids[schema] = id
	r.texts[id] = schema
	return id, nil
}

func (r *memRegistry) SchemaByID(_ context.Context, id int) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	s, ok := r.texts[id]
	if !ok {
		return "", fmt.Errorf("%w: id %d", events.ErrUnknownSchema, id)
	}
	return s, nil
}

func newMemCodec(tb testing.TB) (*events.Codec, *memRegistry) {
	tb.Helper()
	reg := newMemRegistry()
	c, err := events.NewCodec(reg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Register(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return c, reg
}

var (
	baseTime = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	timeType = reflect.TypeFor[time.Time]()
)

// populated returns an event of the named fact with every field set to
// deterministic, non-zero data: strings name their field, numbers count up,
// optional fields are present, arrays have two elements.
func populated(tb testing.TB, name string) events.Event {
	tb.Helper()
	ev, err := events.New(name)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	fill(reflect.ValueOf(ev).Elem(), "", &n)
	return ev
}

func fill(v reflect.Value, path string, n *int) {
	*n++
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(baseTime.Add(time.Duration(*n)*time.Second + time.Duration(*n)*time.Microsecond)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", path, *n))
	case reflect.Int64, reflect.Int32, reflect.Int:
		v.SetInt(int64(*n) * 1001)
	case reflect.Float64:
		v.SetFloat(float64(*n) + 0.25)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), path, n)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(fmt.Sprintf("%s-%d", path, *n)))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), fmt.Sprintf("%s.%d", path, i), n)
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if tag, ok := f.Tag.Lookup("avro"); ok {
				p := tag
				if path != "" {
					p = path + "." + tag
				}
				fill(v.Field(i), p, n)
			}
		}
	default:
		panic(fmt.Sprintf("fill: unsupported kind %s at %s", v.Kind(), path))
	}
}

// shortName strips the namespace: "logmesh.events.FileLanded" → "FileLanded".
func shortName(name string) string { return name[len(schemas.Namespace)+1:] }
