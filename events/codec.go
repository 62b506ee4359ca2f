package events

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"sync"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/schemas"
)

// Errors returned by the codec. They are wrapped with the schema id or event
// name; test for them with errors.Is.
var (
	// ErrMalformed means the bytes are not a valid record: a bad or short
	// Confluent header, or an Avro body that does not decode with the
	// writer's schema (truncated, oversized, trailing bytes, ...).
	ErrMalformed = errors.New("events: malformed record")
	// ErrUnknownSchema means the schema registry does not know the schema id.
	ErrUnknownSchema = errors.New("events: unknown schema id")
	// ErrUnknownEvent means a name, or the writer schema's record name, is
	// not a known fact.
	ErrUnknownEvent = errors.New("events: unknown event")
	// ErrIncompatible means the writer schema cannot be resolved against the
	// fact's current (reader) schema.
	ErrIncompatible = errors.New("events: incompatible writer schema")
	// ErrNotRegistered means Encode was called for an event whose schema has
	// no id yet; call Codec.Register first.
	ErrNotRegistered = errors.New("events: schema not registered")
)

// HeaderEvent is the Kafka record header that Codec.Record sets to the
// event's full name, so tools can route or filter without decoding.
const HeaderEvent = "logmesh.event"

// Registry is the part of a Confluent-compatible schema registry the codec
// needs. Implementations must be safe for concurrent use.
type Registry interface {
	// Register registers an Avro schema text under subject and returns its
	// id; registering the same text again returns the same id.
	Register(ctx context.Context, subject, schema string) (id int, err error)
	// SchemaByID returns the schema text with the given id, or an error
	// wrapping ErrUnknownSchema if the registry has no such id.
	SchemaByID(ctx context.Context, id int) (schema string, err error)
}

// SRRegistry adapts a franz-go schema registry client to Registry. A 404
// from SchemaByID is reported as ErrUnknownSchema. The client stays owned by
// the caller. Safe for concurrent use.
func SRRegistry(cl *sr.Client) Registry { return srRegistry{cl} }

type srRegistry struct{ cl *sr.Client }

// Register creates (or finds) the schema under subject with CreateSchema.
func (r srRegistry) Register(ctx context.Context, subject, schema string) (int, error) {
	ss, err := r.cl.CreateSchema(ctx, subject, sr.Schema{Schema: schema, Type: sr.TypeAvro})
	if err != nil {
		return 0, fmt.Errorf("events: registering %s: %w", subject, err)
	}
	return ss.ID, nil
}

// SchemaByID fetches the schema text; a 404 becomes ErrUnknownSchema.
func (r srRegistry) SchemaByID(ctx context.Context, id int) (string, error) {
	s, err := r.cl.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return "", fmt.Errorf("%w: id %d: %w", ErrUnknownSchema, id, err)
		}
		return "", err
	}
	if s.Type != sr.TypeAvro {
		return "", fmt.Errorf("events: schema id %d is %s, not Avro", id, s.Type)
	}
	return s.Schema, nil
}

// Default limits of a Codec's decoder.
const (
	// DefaultMaxBytes is the default cap on one string or bytes value.
	DefaultMaxBytes = 4 << 20
	// DefaultMaxItems is the default cap on the elements of one array.
	DefaultMaxItems = 1 << 16
)

// CodecOption configures a Codec.
type CodecOption func(*codecConfig)

type codecConfig struct {
	maxBytes int
	maxItems int
}

// MaxBytes caps the size of any one string or bytes value the decoder will
// allocate. Default DefaultMaxBytes; n must be positive.
func MaxBytes(n int) CodecOption { return func(c *codecConfig) { c.maxBytes = n } }

// MaxItems caps the number of elements of any one array the decoder will
// allocate. Default DefaultMaxItems; n must be positive.
func MaxItems(n int) CodecOption { return func(c *codecConfig) { c.maxItems = n } }

// Codec encodes events to and decodes them from the Confluent wire format:
// a zero magic byte, the 4-byte big-endian schema id, then the Avro body.
// Decoding resolves the writer's schema against the fact's current schema,
// so events written with an older compatible schema stay readable.
//
// A Codec is safe for concurrent use. It holds no resources to close; the
// Registry stays owned by the caller.
type Codec struct {
	reg     Registry
	api     avro.API
	readers map[string]avro.Schema  // full name → current schema; read-only after NewCodec
	types   map[string]reflect.Type // full name → its Go type (a pointer); read-only after NewCodec
	names   map[string][]byte       // full name → itself, the HeaderEvent value shared by every record; read-only
	texts   []schemas.Schema        // sorted by name; read-only after NewCodec
	// encoders and decoders reuse Avro writers and readers across calls.
	encoders, decoders sync.Pool

	mu      sync.RWMutex
	ids     map[string]int      // full name → id of the current schema
	writers map[int]writerEntry // schema id → how to decode it
}

// writerEntry is what Decode needs for one schema id. A permanent failure
// (unknown event, incompatible) is cached too: a schema id never changes.
type writerEntry struct {
	name   string
	schema avro.Schema // resolved against the reader
	err    error
}

// NewCodec returns a codec over reg with the embedded schemas of package
// schemas. Call Register before Encode.
func NewCodec(reg Registry, opts ...CodecOption) (*Codec, error) {
	if reg == nil {
		return nil, errors.New("events: NewCodec: nil Registry")
	}
	cfg := codecConfig{maxBytes: DefaultMaxBytes, maxItems: DefaultMaxItems}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxBytes <= 0 || cfg.maxItems <= 0 {
		return nil, fmt.Errorf("events: NewCodec: MaxBytes (%d) and MaxItems (%d) must be positive", cfg.maxBytes, cfg.maxItems)
	}
	all, err := schemas.All()
	if err != nil {
		return nil, err
	}
	readers := make(map[string]avro.Schema, len(all))
	for _, s := range all {
		if _, err := New(s.Name); err != nil {
			return nil, fmt.Errorf("events: schema %s has no Go type: %w", s.Name, err)
		}
		parsed, err := schemas.Parse(s.Text)
		if err != nil {
			return nil, fmt.Errorf("events: %s: %w", s.Name, err)
		}
		readers[s.Name] = parsed
	}
	types, names := map[string]reflect.Type{}, map[string][]byte{}
	for _, n := range Names() {
		if _, ok := readers[n]; !ok {
			return nil, fmt.Errorf("events: event %s has no schema", n)
		}
		ev, err := New(n)
		if err != nil {
			return nil, err
		}
		types[n], names[n] = reflect.TypeOf(ev), []byte(n)
	}
	c := &Codec{
		reg: reg,
		api: avro.Config{
			TagKey:            "avro",
			MaxByteSliceSize:  cfg.maxBytes,
			MaxSliceAllocSize: cfg.maxItems,
		}.Freeze(),
		readers: readers,
		types:   types,
		names:   names,
		texts:   all,
		ids:     make(map[string]int),
		writers: make(map[int]writerEntry),
	}
	c.encoders.New = func() any { return avro.NewWriter(nil, 512, avro.WithWriterConfig(c.api)) }
	c.decoders.New = func() any { return avro.NewReader(nil, 0, avro.WithReaderConfig(c.api)) }
	return c, nil
}

// Register registers every embedded schema under its subject, in name order,
// and remembers the ids for Encode. It is idempotent and may be called again
// after a registry failure.
func (c *Codec) Register(ctx context.Context) error {
	for _, s := range c.texts {
		id, err := c.reg.Register(ctx, s.Subject, s.Text)
		if err != nil {
			return fmt.Errorf("events: registering %s: %w", s.Name, err)
		}
		if id < 0 || id > math.MaxUint32 {
			return fmt.Errorf("events: registry gave %s the id %d, outside the wire format's range", s.Name, id)
		}
		c.mu.Lock()
		c.ids[s.Name] = id
		c.writers[id] = writerEntry{name: s.Name, schema: c.readers[s.Name]}
		c.mu.Unlock()
	}
	return nil
}

// SchemaID returns the registered id of the current schema of the named
// fact, and whether Register has assigned one.
func (c *Codec) SchemaID(name string) (int, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.ids[name]
	return id, ok
}

// Encode returns ev in the Confluent wire format with the current schema of
// its fact. Timestamps are truncated to microseconds. The returned slice is
// the caller's.
func (c *Codec) Encode(ev Event) ([]byte, error) {
	if isNil(ev) {
		return nil, errors.New("events: Encode: nil event")
	}
	name := ev.Name()
	schema, ok := c.readers[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEvent, name)
	}
	if want := c.types[name]; want != reflect.TypeOf(ev) {
		return nil, fmt.Errorf("events: Encode: %T claims to be %s, which is %v", ev, name, want)
	}
	id, ok := c.SchemaID(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotRegistered, name)
	}
	w := c.encoders.Get().(*avro.Writer)
	defer c.encoders.Put(w)
	w.Reset(nil)
	var header [5]byte
	binary.BigEndian.PutUint32(header[1:], uint32(id))
	_, _ = w.Write(header[:]) // appends to the writer's buffer; it has no io.Writer
	w.WriteVal(schema, ev)
	if w.Error != nil {
		err := w.Error
		w.Error = nil
		return nil, fmt.Errorf("events: encoding %s: %w", name, err)
	}
	return bytes.Clone(w.Buffer()), nil
}

// Decode reads one event in the Confluent wire format. If the schema id is
// new to the codec it fetches the writer's schema from the registry (which
// may block; ctx bounds it) and caches it. The event's type comes from the
// writer schema's full name. Decode never panics; malformed input gives an
// error wrapping ErrMalformed. It does not retain b.
func (c *Codec) Decode(ctx context.Context, b []byte) (ev Event, err error) {
	if len(b) < 5 || b[0] != 0 {
		return nil, fmt.Errorf("%w: bad Confluent header (%d bytes)", ErrMalformed, len(b))
	}
	id := int(binary.BigEndian.Uint32(b[1:5]))
	defer func() {
		if r := recover(); r != nil {
			ev, err = nil, fmt.Errorf("%w: schema id %d: decoder panic: %v", ErrMalformed, id, r)
		}
	}()
	w, err := c.writer(ctx, id)
	if err != nil {
		return nil, err
	}
	ev, err = New(w.name)
	if err != nil {
		return nil, err
	}
	r := c.decoders.Get().(*avro.Reader)
	defer func() {
		r.Reset(nil) // keeps no reference to b
		c.decoders.Put(r)
	}()
	r.Reset(b[5:])
	r.Error = nil
	r.ReadVal(w.schema, ev)
	if r.Error != nil {
		return nil, fmt.Errorf("%w: %s with schema id %d: %w", ErrMalformed, w.name, id, r.Error)
	}
	if r.Peek(); r.Error == nil {
		return nil, fmt.Errorf("%w: %s with schema id %d: trailing bytes", ErrMalformed, w.name, id)
	}
	return ev, nil
}

// writer returns how to decode bodies written with schema id.
func (c *Codec) writer(ctx context.Context, id int) (writerEntry, error) {
	c.mu.RLock()
	w, ok := c.writers[id]
	c.mu.RUnlock()
	if ok {
		return w, w.err
	}
	text, err := c.reg.SchemaByID(ctx, id)
	if err != nil {
		// Not cached: the registry may learn the id, or recover, later.
		return writerEntry{}, fmt.Errorf("events: schema id %d: %w", id, err)
	}
	w = c.resolve(id, text)
	c.mu.Lock()
	c.writers[id] = w
	c.mu.Unlock()
	return w, w.err
}

func (c *Codec) resolve(id int, text string) writerEntry {
	writer, err := schemas.Parse(text)
	if err != nil {
		return writerEntry{err: fmt.Errorf("%w: schema id %d does not parse: %w", ErrUnknownEvent, id, err)}
	}
	rec, ok := writer.(*avro.RecordSchema)
	if !ok {
		return writerEntry{err: fmt.Errorf("%w: schema id %d is a %s, not a record", ErrUnknownEvent, id, writer.Type())}
	}
	name := rec.FullName()
	reader, ok := c.readers[name]
	if !ok {
		return writerEntry{name: name, err: fmt.Errorf("%w: schema id %d names %s", ErrUnknownEvent, id, name)}
	}
	resolved, err := avro.NewSchemaCompatibility().Resolve(reader, writer)
	if err != nil {
		return writerEntry{name: name, err: fmt.Errorf("%w: schema id %d for %s: %w", ErrIncompatible, id, name, err)}
	}
	return writerEntry{name: name, schema: resolved}
}

// Record returns a Kafka record for ev: Topic TopicFor(ev), Key Key(ev),
// Value Encode(ev), and the header HeaderEvent set to ev.Name(). It fails if
// the envelope's domain is not a valid domain name.
func (c *Codec) Record(ev Event) (*kgo.Record, error) {
	if isNil(ev) {
		return nil, errors.New("events: Record: nil event")
	}
	if err := ValidDomain(ev.Meta().Domain); err != nil {
		return nil, fmt.Errorf("events: Record %s: %w", ev.Name(), err)
	}
	value, err := c.Encode(ev)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{
		Topic:   TopicFor(ev),
		Key:     []byte(Key(ev)),
		Value:   value,
		Headers: []kgo.RecordHeader{{Key: HeaderEvent, Value: c.names[ev.Name()]}},
	}, nil
}

// isNil reports whether ev is nil or a typed nil pointer.
func isNil(ev Event) bool {
	if ev == nil {
		return true
	}
	v := reflect.ValueOf(ev)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// IsPoison reports whether err, from Decode, means the record can never be
// decoded (malformed bytes, an unknown schema id or fact, an unresolvable
// schema) rather than that decoding failed for now (an unreachable
// registry). Processors dead-letter poison and stop on the rest.
func IsPoison(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnknownSchema) ||
		errors.Is(err, ErrUnknownEvent) || errors.Is(err, ErrIncompatible)
}
