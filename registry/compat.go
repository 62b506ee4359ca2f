package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// Compatibility levels, spelled as the Confluent Schema Registry spells them.
const (
	LevelBackward           = "BACKWARD"
	LevelBackwardTransitive = "BACKWARD_TRANSITIVE"
	LevelForward            = "FORWARD"
	LevelForwardTransitive  = "FORWARD_TRANSITIVE"
	LevelFull               = "FULL"
	LevelFullTransitive     = "FULL_TRANSITIVE"
	LevelNone               = "NONE"
)

var (
	// ErrInvalidLevel is returned (wrapped) for a compatibility level that is
	// not one of the Level constants.
	ErrInvalidLevel = errors.New("registry: invalid compatibility level")
	// ErrInvalidSchema is returned (wrapped, with the parser's message) for
	// text that is not a valid Avro schema.
	ErrInvalidSchema = errors.New("registry: invalid schema")
)

// normLevel returns level in upper case if it is a known level.
func normLevel(level string) (string, error) {
	l := strings.ToUpper(strings.TrimSpace(level))
	switch l {
	case LevelBackward, LevelBackwardTransitive, LevelForward, LevelForwardTransitive,
		LevelFull, LevelFullTransitive, LevelNone:
		return l, nil
	}
	return "", fmt.Errorf("%w: %q (want one of BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE)", ErrInvalidLevel, level)
}

// parsedSchema is an Avro schema with the forms the registry needs.
type parsedSchema struct {
	schema avro.Schema
	// canonical identifies "the same schema": hamba's full JSON form, which
	// normalises whitespace and attribute order but, unlike the Parsing
	// Canonical Form, keeps defaults, docs, aliases and properties, so a
	// schema that only adds a default is a new schema, not the old one.
	canonical string
}

// parseSchema parses text as Avro with a fresh name cache, so that equal
// full names in unrelated schemas never collide and hamba's global cache is
// never touched.
func parseSchema(text string) (ps parsedSchema, err error) {
	defer func() {
		if rec := recover(); rec != nil {
			err = fmt.Errorf("%w: parser panic: %v", ErrInvalidSchema, rec)
		}
	}()
	if strings.TrimSpace(text) == "" {
		return parsedSchema{}, fmt.Errorf("%w: empty schema", ErrInvalidSchema)
	}
	if !utf8.ValidString(text) {
		return parsedSchema{}, fmt.Errorf("%w: schema text is not valid UTF-8", ErrInvalidSchema)
	}
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		return parsedSchema{}, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return parsedSchema{}, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	return parsedSchema{schema: s, canonical: string(b)}, nil
}

// prior is an existing schema a candidate is checked against.
type prior struct {
	version int
	schema  avro.Schema
}

// checkParsed checks candidate against existing (oldest first) under level
// (already normalised) and returns one message per incompatibility; none
// means compatible. Non-transitive levels use only the last element.
func checkParsed(level string, candidate avro.Schema, existing []prior) []string {
	if level == LevelNone || len(existing) == 0 {
		return nil
	}
	against := existing
	if !strings.HasSuffix(level, "_TRANSITIVE") {
		against = existing[len(existing)-1:]
	}
	backward := strings.HasPrefix(level, LevelBackward) || strings.HasPrefix(level, LevelFull)
	forward := strings.HasPrefix(level, LevelForward) || strings.HasPrefix(level, LevelFull)
	// A fresh checker per call: its cache is keyed by fingerprints and
	// would otherwise grow without bound.
	sc := avro.NewSchemaCompatibility()
	var msgs []string
	for _, p := range against {
		if backward {
			if err := sc.Compatible(candidate, p.schema); err != nil {
				msgs = append(msgs, fmt.Sprintf("%s: the new schema cannot read data written with version %d: %v", level, p.version, err))
			}
		}
		if forward {
			if err := sc.Compatible(p.schema, candidate); err != nil {
				msgs = append(msgs, fmt.Sprintf("%s: version %d cannot read data written with the new schema: %v", level, p.version, err))
			}
		}
	}
	return msgs
}

// CheckCompatibility reports whether the Avro schema candidate may follow the
// schemas in existing (oldest first) under the compatibility level, with the
// same rules the registry enforces on registration: BACKWARD means the
// candidate can read data written with the previous schema, FORWARD the
// reverse, FULL both; a non-transitive level checks against the last schema
// only, a transitive level against all of them; NONE checks nothing.
//
// It returns one message per incompatibility (nil means compatible), or an
// error wrapping ErrInvalidLevel or ErrInvalidSchema. It is a pure function,
// safe for concurrent use.
func CheckCompatibility(level string, candidate string, existing []string) ([]string, error) {
	l, err := normLevel(level)
	if err != nil {
		return nil, err
	}
	c, err := parseSchema(candidate)
	if err != nil {
		return nil, fmt.Errorf("candidate: %w", err)
	}
	priors := make([]prior, 0, len(existing))
	for i, text := range existing {
		p, err := parseSchema(text)
		if err != nil {
			return nil, fmt.Errorf("existing schema %d: %w", i+1, err)
		}
		priors = append(priors, prior{version: i + 1, schema: p.schema})
	}
	return checkParsed(l, c.schema, priors), nil
}
