package registry

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
)

// The log format of the registry topic. Like Confluent's _schemas topic,
// every change is one record whose key names the thing changed, so that
// compaction keeps exactly the latest state of each thing:
//
//	{"keytype":"SCHEMA","subject":s,"version":v,"magic":1} → schemaValue, or nil (hard delete)
//	{"keytype":"CONFIG","subject":s|null,"magic":0}       → configValue, or nil (reset)
//	{"keytype":"MAX_ID","magic":0}                         → maxIDValue
//	{"keytype":"NOOP","magic":0}                           → startup marker, ignored
//
// MAX_ID is written before a hard delete so that the highest id ever
// assigned survives compaction of the tombstoned version: ids are never
// reused. Records with other key types are skipped, so newer writers can add
// kinds without breaking older readers.
const (
	keySchema = "SCHEMA"
	keyConfig = "CONFIG"
	keyMaxID  = "MAX_ID"
	keyNoop   = "NOOP"
)

// recordKey is the key of every registry record. Field order is fixed, so
// equal keys are equal bytes, which compaction relies on.
type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject,omitempty"`
	Version int     `json:"version,omitempty"`
	Magic   int     `json:"magic"`
}

type schemaValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	Schema  string `json:"schema"`
	Deleted bool   `json:"deleted"`
}

type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

type maxIDValue struct {
	MaxID int `json:"maxId"`
}

func schemaKey(subject string, version int) []byte {
	return mustJSON(recordKey{KeyType: keySchema, Subject: &subject, Version: version, Magic: 1})
}

// configKey is the key of a subject's config, or the global config for "".
func configKey(subject string) []byte {
	if subject == "" {
		// Global: "subject":null, as Confluent writes it.
		return []byte(`{"keytype":"CONFIG","subject":null,"magic":0}`)
	}
	return mustJSON(recordKey{KeyType: keyConfig, Subject: &subject})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings, ints and bools are marshalled.
		panic(fmt.Sprintf("registry: marshal %T: %v", v, err))
	}
	return b
}

// version is one subject version.
type version struct {
	subject string
	version int
	id      int
	schema  string
	deleted bool
}

// schemaEntry is one global schema id.
type schemaEntry struct {
	text      string
	canonical string
	parsed    parsedSchema
	refs      int // versions (live or soft-deleted) that use this id
}

// state is the registry's in-memory projection of its topic. apply is a
// deterministic fold; the same records give the same state. It is not safe
// for concurrent use; Registry guards it.
type state struct {
	subjects    map[string]map[int]*version
	ids         map[int]*schemaEntry
	byCanonical map[string]int
	maxID       int
	global      string // "" means the default level
	subjectCfg  map[string]string
}

func newState() *state {
	return &state{
		subjects:    map[string]map[int]*version{},
		ids:         map[int]*schemaEntry{},
		byCanonical: map[string]int{},
		subjectCfg:  map[string]string{},
	}
}

// apply folds one record into the state.
func (s *state) apply(key, value []byte) error {
	var k recordKey
	if err := json.Unmarshal(key, &k); err != nil {
		return fmt.Errorf("decode key %q: %w", key, err)
	}
	switch k.KeyType {
	case keySchema:
		if k.Subject == nil {
			return fmt.Errorf("schema key %q without subject", key)
		}
		if value == nil {
			s.removeVersion(*k.Subject, k.Version)
			return nil
		}
		var v schemaValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("decode schema value for %q: %w", key, err)
		}
		if v.Subject != *k.Subject || v.Version != k.Version || v.ID <= 0 || v.Version <= 0 {
			return fmt.Errorf("schema value %q does not match key %q", value, key)
		}
		return s.putVersion(v)
	case keyConfig:
		if value == nil {
			if k.Subject == nil {
				s.global = ""
			} else {
				delete(s.subjectCfg, *k.Subject)
			}
			return nil
		}
		var c configValue
		if err := json.Unmarshal(value, &c); err != nil {
			return fmt.Errorf("decode config value for %q: %w", key, err)
		}
		level, err := normLevel(c.CompatibilityLevel)
		if err != nil {
			return fmt.Errorf("config value for %q: %w", key, err)
		}
		if k.Subject == nil {
			s.global = level
		} else {
			s.subjectCfg[*k.Subject] = level
		}
		return nil
	case keyMaxID:
		if value == nil {
			return nil
		}
		var m maxIDValue
		if err := json.Unmarshal(value, &m); err != nil {
			return fmt.Errorf("decode max id value: %w", err)
		}
		s.maxID = max(s.maxID, m.MaxID)
		return nil
	default: // NOOP and kinds this version does not know
		return nil
	}
}

func (s *state) putVersion(v schemaValue) error {
	e, ok := s.ids[v.ID]
	if !ok {
		ps, err := parseSchema(v.Schema)
		if err != nil {
			return fmt.Errorf("subject %q version %d: %w", v.Subject, v.Version, err)
		}
		e = &schemaEntry{text: v.Schema, canonical: ps.canonical, parsed: ps}
		s.ids[v.ID] = e
		s.byCanonical[ps.canonical] = v.ID
	}
	vs := s.subjects[v.Subject]
	if vs == nil {
		vs = map[int]*version{}
		s.subjects[v.Subject] = vs
	}
	if old, ok := vs[v.Version]; ok {
		if old.id != v.ID {
			s.unref(old.id)
			e.refs++
		}
	} else {
		e.refs++
	}
	vs[v.Version] = &version{subject: v.Subject, version: v.Version, id: v.ID, schema: v.Schema, deleted: v.Deleted}
	s.maxID = max(s.maxID, v.ID)
	return nil
}

func (s *state) removeVersion(subject string, ver int) {
	vs := s.subjects[subject]
	old, ok := vs[ver]
	if !ok {
		return
	}
	delete(vs, ver)
	if len(vs) == 0 {
		delete(s.subjects, subject)
	}
	s.unref(old.id)
}

// unref drops an id that no version uses any more, so the live state equals
// the state replayed from the compacted log (where the id is gone too).
func (s *state) unref(id int) {
	e := s.ids[id]
	if e == nil {
		return
	}
	e.refs--
	if e.refs <= 0 {
		delete(s.ids, id)
		if s.byCanonical[e.canonical] == id {
			delete(s.byCanonical, e.canonical)
		}
	}
}

// versions returns a subject's versions in ascending order; deleted ones only
// if withDeleted.
func (s *state) versions(subject string, withDeleted bool) []*version {
	vs := s.subjects[subject]
	out := make([]*version, 0, len(vs))
	for _, v := range vs {
		if withDeleted || !v.deleted {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out
}

// nextVersion is one more than the highest version the subject holds.
func (s *state) nextVersion(subject string) int {
	n := 0
	for v := range s.subjects[subject] {
		n = max(n, v)
	}
	return n + 1
}

// subjectNames lists subjects in order: those with a live version, plus
// those with only soft-deleted versions if withDeleted.
func (s *state) subjectNames(withDeleted, deletedOnly bool) []string {
	var out []string
	for name := range s.subjects {
		live := len(s.versions(name, false)) > 0
		switch {
		case deletedOnly && !live:
			out = append(out, name)
		case !deletedOnly && (live || withDeleted):
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// level is the effective compatibility level of subject.
func (s *state) level(subject, def string) string {
	if l, ok := s.subjectCfg[subject]; ok {
		return l
	}
	if s.global != "" {
		return s.global
	}
	return def
}
