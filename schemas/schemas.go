// Package schemas holds the Avro schema of every logmesh fact (one .avsc file
// per fact, embedded in the binary) and the rules for registering them: the
// subject naming strategy and the compatibility policy.
//
// Every fact's first field is the shared envelope
// (logmesh.events.Envelope, in envelope.avsc). The text this package hands
// out for registration is self-contained: the envelope definition is inlined,
// and defaults and docs are kept, because a schema registry checks
// compatibility on exactly that text.
//
// Evolving a fact: add fields only with a default (optional fields are
// ["null", T] with default null), never remove a field without a default or
// change a field's type. CheckCompatible states the rule; the registry
// enforces it and refuses anything else.
//
// The package has no mutable state; every function is safe for concurrent use.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/hamba/avro/v2"
)

// Namespace is the Avro namespace of every logmesh fact.
const Namespace = "logmesh.events"

// EnvelopeName is the Avro full name of the envelope record that every fact
// carries as its first field.
const EnvelopeName = Namespace + ".Envelope"

const envelopeFile = "envelope.avsc"

//go:embed *.avsc
var files embed.FS // read-only; never mutated

// ErrNotFound is returned by Lookup for a name that is not an embedded fact.
var ErrNotFound = errors.New("schemas: no such schema")

// ErrIncompatible is returned by CheckCompatible when a new schema cannot
// read data written with the old one.
var ErrIncompatible = errors.New("schemas: incompatible schema change")

// Schema is the registration form of one fact's schema.
type Schema struct {
	// Name is the Avro full name, such as "logmesh.events.FileLanded".
	Name string
	// Subject is the registry subject the schema is registered under (see
	// Subject).
	Subject string
	// Text is the self-contained schema JSON (envelope inlined, defaults
	// kept), compacted. It is the text to register.
	Text string
}

// Subject returns the registry subject for a record full name. logmesh uses
// the RecordNameStrategy: the subject is the full record name, so one topic
// can carry many fact types and each fact evolves under its own subject.
func Subject(fullName string) string { return fullName }

// Parse parses a schema text with a fresh avro.SchemaCache, never hamba's
// global one, so that parsing an old or foreign version of a schema cannot
// leak a named type into other parses.
func Parse(text string) (avro.Schema, error) {
	return avro.ParseWithCache(text, "", &avro.SchemaCache{})
}

// All returns the schema of every embedded fact, sorted by name. The envelope
// is not a fact and is not listed.
func All() ([]Schema, error) {
	env, err := envelopeText()
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, fmt.Errorf("schemas: %w", err)
	}
	out := make([]Schema, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() || e.Name() == envelopeFile || !strings.HasSuffix(e.Name(), ".avsc") {
			continue
		}
		s, err := load(e.Name(), env)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i := 1; i < len(out); i++ {
		if out[i].Name == out[i-1].Name {
			return nil, fmt.Errorf("schemas: %s defined twice", out[i].Name)
		}
	}
	return out, nil
}

// Lookup returns the schema of the fact with the given Avro full name, or an
// error wrapping ErrNotFound.
func Lookup(name string) (Schema, error) {
	short, ok := strings.CutPrefix(name, Namespace+".")
	if !ok || short == "" || strings.ContainsAny(short, "./\\") {
		return Schema{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	env, err := envelopeText()
	if err != nil {
		return Schema{}, err
	}
	s, err := load(short+".avsc", env)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && s.Name != name) {
		return Schema{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return s, err
}

// Envelope returns the envelope schema text on its own, compacted.
func Envelope() (string, error) { return envelopeText() }

// CheckCompatible reports whether a reader using newText can read data
// written with oldText (BACKWARD compatibility, the registry's policy for
// logmesh subjects). It returns an error wrapping ErrIncompatible when it
// cannot, and a parse error when either text is not a valid schema.
func CheckCompatible(newText, oldText string) error {
	reader, err := Parse(newText)
	if err != nil {
		return fmt.Errorf("schemas: new schema: %w", err)
	}
	writer, err := Parse(oldText)
	if err != nil {
		return fmt.Errorf("schemas: old schema: %w", err)
	}
	if err := avro.NewSchemaCompatibility().Compatible(reader, writer); err != nil {
		return fmt.Errorf("%w: %w", ErrIncompatible, err)
	}
	return nil
}

func envelopeText() (string, error) {
	raw, err := files.ReadFile(envelopeFile)
	if err != nil {
		return "", fmt.Errorf("schemas: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", fmt.Errorf("schemas: %s: %w", envelopeFile, err)
	}
	text := buf.String()
	s, err := Parse(text)
	if err != nil {
		return "", fmt.Errorf("schemas: %s: %w", envelopeFile, err)
	}
	if rs, ok := s.(*avro.RecordSchema); !ok || rs.FullName() != EnvelopeName {
		return "", fmt.Errorf("schemas: %s does not define record %s", envelopeFile, EnvelopeName)
	}
	return text, nil
}

// envelopeRef is the envelope field as every fact file spells it, after
// json.Compact. The whole field is matched so no other use of the name can be
// replaced by accident.
const envelopeRef = `{"name":"envelope","type":"` + EnvelopeName + `"}`

// load reads one fact file, inlines the envelope and validates the result.
func load(file, env string) (Schema, error) {
	raw, err := files.ReadFile(file)
	if err != nil {
		return Schema{}, fmt.Errorf("schemas: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return Schema{}, fmt.Errorf("schemas: %s: %w", file, err)
	}
	compact := buf.String()
	if n := strings.Count(compact, envelopeRef); n != 1 {
		return Schema{}, fmt.Errorf("schemas: %s: want exactly one field %s, found %d", file, envelopeRef, n)
	}
	text := strings.Replace(compact, envelopeRef, `{"name":"envelope","type":`+env+`}`, 1)

	parsed, err := Parse(text)
	if err != nil {
		return Schema{}, fmt.Errorf("schemas: %s: %w", file, err)
	}
	rec, ok := parsed.(*avro.RecordSchema)
	if !ok {
		return Schema{}, fmt.Errorf("schemas: %s: not a record schema", file)
	}
	if rec.Namespace() != Namespace {
		return Schema{}, fmt.Errorf("schemas: %s: namespace %q, want %q", file, rec.Namespace(), Namespace)
	}
	if want := strings.TrimSuffix(file, ".avsc"); rec.Name() != want {
		return Schema{}, fmt.Errorf("schemas: %s defines %s; the file must be named after its record", file, rec.FullName())
	}
	fields := rec.Fields()
	if len(fields) == 0 || fields[0].Name() != "envelope" {
		return Schema{}, fmt.Errorf("schemas: %s: first field must be envelope", file)
	}
	return Schema{Name: rec.FullName(), Subject: Subject(rec.FullName()), Text: text}, nil
}
