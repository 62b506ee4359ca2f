package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/internal/kafkatest"
)

const (
	userV1 = `{"type":"record","name":"User","namespace":"logmesh.test","fields":[
		{"name":"id","type":"string"}]}`
	// userV1Spaced is userV1 with other whitespace and attribute order.
	userV1Spaced = `{ "name" : "User", "namespace":"logmesh.test", "type":"record",
		"fields" : [ { "type":"string", "name":"id" } ] }`
	// userOptional adds an optional field: backward compatible.
	userOptional = `{"type":"record","name":"User","namespace":"logmesh.test","fields":[
		{"name":"id","type":"string"},
		{"name":"email","type":["null","string"],"default":null}]}`
	// userRequired adds a required field without default: not backward compatible.
	userRequired = `{"type":"record","name":"User","namespace":"logmesh.test","fields":[
		{"name":"id","type":"string"},
		{"name":"age","type":"int"}]}`
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// env is a registry on a test cluster behind an httptest server.
type env struct {
	cluster *kafkatest.Cluster
	topic   string
	reg     *Registry
	srv     *httptest.Server
	cl      *sr.Client
}

func newEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	c := kafkatest.New(t)
	return startEnv(t, c, kafkatest.Unique("logmesh._schemas"), opts...)
}

// startEnv starts a registry (with a fresh Kafka client) on topic.
func startEnv(t *testing.T, c *kafkatest.Cluster, topic string, opts ...Option) *env {
	t.Helper()
	reg, err := New(ctxT(t), c.Client(t), append([]Option{Topic(topic)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(srv.Close)
	cl, err := sr.NewClient(sr.URLs(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return &env{cluster: c, topic: topic, reg: reg, srv: srv, cl: cl}
}

func avroSchema(s string) sr.Schema { return sr.Schema{Schema: s, Type: sr.TypeAvro} }

// wantCode fails unless err is an sr.ResponseError with the error code.
func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("got error %v (%T), want sr.ResponseError with code %d", err, err, code)
	}
	if re.ErrorCode != code {
		t.Fatalf("got error code %d (%s), want %d", re.ErrorCode, re.Message, code)
	}
	wantStatus := code
	if code >= 10000 {
		wantStatus = code / 100
	}
	if re.StatusCode != wantStatus {
		t.Fatalf("got HTTP status %d, want %d", re.StatusCode, wantStatus)
	}
}

func TestConformanceSRClient(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)

	types, err := e.cl.SupportedTypes(ctx)
	if err != nil || !slices.Equal(types, []sr.SchemaType{sr.TypeAvro}) {
		t.Fatalf("SupportedTypes = %v, %v", types, err)
	}

	// Register, re-register, register elsewhere.
	s1, err := e.cl.CreateSchema(ctx, "users-value", avroSchema(userV1))
	if err != nil {
		t.Fatalf("CreateSchema: %v", err)
	}
	if s1.ID != 1 || s1.Version != 1 || s1.Subject != "users-value" {
		t.Fatalf("first schema = %+v, want id 1 version 1", s1)
	}
	again, err := e.cl.CreateSchema(ctx, "users-value", avroSchema(userV1Spaced))
	if err != nil {
		t.Fatalf("CreateSchema again: %v", err)
	}
	if again.ID != s1.ID || again.Version != 1 {
		t.Fatalf("re-registering = %+v, want id %d version 1", again, s1.ID)
	}
	other, err := e.cl.CreateSchema(ctx, "users-key", avroSchema(userV1))
	if err != nil {
		t.Fatalf("CreateSchema other subject: %v", err)
	}
	if other.ID != s1.ID || other.Version != 1 {
		t.Fatalf("same schema in another subject = %+v, want id %d version 1", other, s1.ID)
	}

	// Lookup.
	got, err := e.cl.LookupSchema(ctx, "users-value", avroSchema(userV1Spaced))
	if err != nil || got.ID != s1.ID || got.Version != 1 {
		t.Fatalf("LookupSchema = %+v, %v", got, err)
	}
	_, err = e.cl.LookupSchema(ctx, "users-value", avroSchema(userOptional))
	wantCode(t, err, 40403)
	_, err = e.cl.LookupSchema(ctx, "nope", avroSchema(userV1))
	wantCode(t, err, 40401)

	// Version 2 (optional field), then listings.
	s2, err := e.cl.CreateSchema(ctx, "users-value", avroSchema(userOptional))
	if err != nil {
		t.Fatalf("CreateSchema v2: %v", err)
	}
	if s2.ID != 2 || s2.Version != 2 {
		t.Fatalf("v2 = %+v, want id 2 version 2", s2)
	}
	subjects, err := e.cl.Subjects(ctx)
	if err != nil || !slices.Equal(subjects, []string{"users-key", "users-value"}) {
		t.Fatalf("Subjects = %v, %v", subjects, err)
	}
	versions, err := e.cl.SubjectVersions(ctx, "users-value")
	if err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("SubjectVersions = %v, %v", versions, err)
	}
	latest, err := e.cl.SchemaByVersion(ctx, "users-value", -1)
	if err != nil || latest.Version != 2 || latest.ID != 2 || latest.Schema.Schema != userOptional {
		t.Fatalf("SchemaByVersion(latest) = %+v, %v", latest, err)
	}
	v1, err := e.cl.SchemaByVersion(ctx, "users-value", 1)
	if err != nil || v1.Version != 1 || v1.ID != 1 || v1.Schema.Schema != userV1 {
		t.Fatalf("SchemaByVersion(1) = %+v, %v", v1, err)
	}
	text, err := e.cl.SchemaTextByVersion(ctx, "users-value", 2)
	if err != nil || text != userOptional {
		t.Fatalf("SchemaTextByVersion = %q, %v", text, err)
	}

	// By id: text as submitted (the default survives).
	byID, err := e.cl.SchemaByID(ctx, 2)
	if err != nil || byID.Schema != userOptional {
		t.Fatalf("SchemaByID = %+v, %v", byID, err)
	}
	text, err = e.cl.SchemaTextByID(ctx, 2)
	if err != nil || text != userOptional || !strings.Contains(text, `"default":null`) {
		t.Fatalf("SchemaTextByID = %q, %v", text, err)
	}
	svs, err := e.cl.SchemaVersionsByID(ctx, 1)
	wantSV := []sr.SubjectVersion{{Subject: "users-key", Version: 1}, {Subject: "users-value", Version: 1}}
	if err != nil || !slices.Equal(svs, wantSV) {
		t.Fatalf("SchemaVersionsByID = %v, %v", svs, err)
	}
	subs, err := e.cl.SubjectsByID(ctx, 1)
	if err != nil || !slices.Equal(subs, []string{"users-key", "users-value"}) {
		t.Fatalf("SubjectsByID = %v, %v", subs, err)
	}

	// Compatibility check.
	res, err := e.cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "users-value", -1, avroSchema(userRequired))
	if err != nil || res.Is || len(res.Messages) == 0 {
		t.Fatalf("CheckCompatibility(required) = %+v, %v; want incompatible with messages", res, err)
	}
	res, err = e.cl.CheckCompatibility(ctx, "users-value", 2, avroSchema(userOptional))
	if err != nil || !res.Is {
		t.Fatalf("CheckCompatibility(same) = %+v, %v", res, err)
	}

	// Config: global and per subject.
	cr := e.cl.Compatibility(ctx)
	if cr[0].Err != nil || cr[0].Level != sr.CompatBackward {
		t.Fatalf("global Compatibility = %+v", cr[0])
	}
	set := e.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "users-value")
	if set[0].Err != nil || set[0].Level != sr.CompatFull {
		t.Fatalf("SetCompatibility(subject) = %+v", set[0])
	}
	cr = e.cl.Compatibility(ctx, "users-value")
	if cr[0].Err != nil || cr[0].Level != sr.CompatFull {
		t.Fatalf("subject Compatibility = %+v", cr[0])
	}
	cr = e.cl.Compatibility(ctx, "users-key")
	wantCode(t, cr[0].Err, 40408)
	cr = e.cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), "users-key")
	if cr[0].Err != nil || cr[0].Level != sr.CompatBackward {
		t.Fatalf("Compatibility(defaultToGlobal) = %+v", cr[0])
	}
	set = e.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone})
	if set[0].Err != nil || set[0].Level != sr.CompatNone {
		t.Fatalf("SetCompatibility(global) = %+v", set[0])
	}
	cr = e.cl.Compatibility(ctx)
	if cr[0].Err != nil || cr[0].Level != sr.CompatNone {
		t.Fatalf("global Compatibility after set = %+v", cr[0])
	}
	rc := e.cl.ResetCompatibility(ctx, "users-value")
	if rc[0].Err != nil || rc[0].Level != sr.CompatFull {
		t.Fatalf("ResetCompatibility = %+v", rc[0])
	}
	cr = e.cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), "users-value")
	if cr[0].Err != nil || cr[0].Level != sr.CompatNone {
		t.Fatalf("Compatibility after reset = %+v", cr[0])
	}
	modes := e.cl.Mode(ctx)
	if modes[0].Err != nil || modes[0].Mode != sr.ModeReadWrite {
		t.Fatalf("Mode = %+v", modes[0])
	}

	// Errors.
	_, err = e.cl.SubjectVersions(ctx, "nope")
	wantCode(t, err, 40401)
	_, err = e.cl.SchemaByVersion(ctx, "users-value", 9)
	wantCode(t, err, 40402)
	_, err = e.cl.SchemaByID(ctx, 999)
	wantCode(t, err, 40403)
	_, err = e.cl.CreateSchema(ctx, "users-value", avroSchema(`{"type":"record","name":"X","fields":[{"name":"a"}]}`))
	wantCode(t, err, 42201)
	_, err = e.cl.CreateSchema(ctx, "users-value", avroSchema(`{not json`))
	wantCode(t, err, 42201)

	// Delete: soft, then permanent.
	_, err = e.cl.DeleteSubject(ctx, "users-key", sr.HardDelete)
	wantCode(t, err, 40405)
	deleted, err := e.cl.DeleteSubject(ctx, "users-key", sr.SoftDelete)
	if err != nil || !slices.Equal(deleted, []int{1}) {
		t.Fatalf("soft DeleteSubject = %v, %v", deleted, err)
	}
	subjects, err = e.cl.Subjects(ctx)
	if err != nil || !slices.Equal(subjects, []string{"users-value"}) {
		t.Fatalf("Subjects after soft delete = %v, %v", subjects, err)
	}
	subjects, err = e.cl.Subjects(sr.WithParams(ctx, sr.ShowDeleted))
	if err != nil || !slices.Equal(subjects, []string{"users-key", "users-value"}) {
		t.Fatalf("Subjects(deleted) = %v, %v", subjects, err)
	}
	_, err = e.cl.SubjectVersions(ctx, "users-key")
	wantCode(t, err, 40401)
	_, err = e.cl.DeleteSubject(ctx, "users-key", sr.SoftDelete)
	wantCode(t, err, 40404)
	deleted, err = e.cl.DeleteSubject(ctx, "users-key", sr.HardDelete)
	if err != nil || !slices.Equal(deleted, []int{1}) {
		t.Fatalf("hard DeleteSubject = %v, %v", deleted, err)
	}
	subjects, err = e.cl.Subjects(sr.WithParams(ctx, sr.ShowDeleted))
	if err != nil || !slices.Equal(subjects, []string{"users-value"}) {
		t.Fatalf("Subjects(deleted) after hard delete = %v, %v", subjects, err)
	}
	// Id 1 is still used by users-value.
	if _, err := e.cl.SchemaByID(ctx, 1); err != nil {
		t.Fatalf("SchemaByID(1) after deleting one of its subjects: %v", err)
	}

	// Delete one version.
	if err := e.cl.DeleteSchema(ctx, "users-value", 2, sr.HardDelete); err == nil {
		t.Fatal("hard delete of a live version succeeded")
	} else {
		wantCode(t, err, 40407)
	}
	if err := e.cl.DeleteSchema(ctx, "users-value", 2, sr.SoftDelete); err != nil {
		t.Fatalf("soft DeleteSchema: %v", err)
	}
	latest, err = e.cl.SchemaByVersion(ctx, "users-value", -1)
	if err != nil || latest.Version != 1 {
		t.Fatalf("latest after deleting v2 = %+v, %v", latest, err)
	}
	if err := e.cl.DeleteSchema(ctx, "users-value", 2, sr.HardDelete); err != nil {
		t.Fatalf("hard DeleteSchema: %v", err)
	}
	_, err = e.cl.SchemaByID(ctx, 2)
	wantCode(t, err, 40403)
}

func TestBackwardRegistration(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	if _, err := e.cl.CreateSchema(ctx, "u", avroSchema(userV1)); err != nil {
		t.Fatal(err)
	}
	_, err := e.cl.CreateSchema(ctx, "u", avroSchema(userRequired))
	wantCode(t, err, 409)
	if !strings.Contains(err.Error(), "age") {
		t.Errorf("409 message %q does not name the field", err)
	}
	s, err := e.cl.CreateSchema(ctx, "u", avroSchema(userOptional))
	if err != nil {
		t.Fatalf("optional field refused: %v", err)
	}
	if s.Version != 2 {
		t.Fatalf("optional field got version %d, want 2", s.Version)
	}
	vs, err := e.cl.SubjectVersions(ctx, "u")
	if err != nil || !slices.Equal(vs, []int{1, 2}) {
		t.Fatalf("versions = %v, %v (the refused schema must not be a version)", vs, err)
	}
}

// TestDefaultOnlyChangeIsNewSchema: a schema that only adds a default is
// not "the same schema" (the Parsing Canonical Form would say it is and drop
// the default).
func TestDefaultOnlyChangeIsNewSchema(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	const noDefault = `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`
	const withDefault = `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":7}]}`
	a, err := e.cl.CreateSchema(ctx, "s", avroSchema(noDefault))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.cl.CreateSchema(ctx, "s", avroSchema(withDefault))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || b.Version != 2 {
		t.Fatalf("default-only change: %+v then %+v, want a new id and version 2", a, b)
	}
	text, err := e.cl.SchemaTextByID(ctx, b.ID)
	if err != nil || text != withDefault {
		t.Fatalf("text = %q, %v", text, err)
	}
}

// TestSameFullNameAcrossSubjects: schemas are parsed with a fresh name
// cache each, so a name defined in one subject neither resolves in another
// nor collides with a different definition of the same name there.
func TestSameFullNameAcrossSubjects(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	const x1 = `{"type":"record","name":"logmesh.events.X","fields":[{"name":"a","type":"int"}]}`
	const x1b = `{"type":"record","name":"logmesh.events.X","fields":[{"name":"b","type":"string"}]}`
	// y refers to X without defining it.
	const y = `{"type":"record","name":"logmesh.events.Y","fields":[{"name":"x","type":"logmesh.events.X"}]}`
	a, err := e.cl.CreateSchema(ctx, "one", avroSchema(x1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.cl.CreateSchema(ctx, "two", avroSchema(x1b))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID {
		t.Fatalf("different schemas with the same name share id %d", a.ID)
	}
	for id, want := range map[int]string{a.ID: x1, b.ID: x1b} {
		if got, err := e.cl.SchemaTextByID(ctx, id); err != nil || got != want {
			t.Fatalf("SchemaTextByID(%d) = %q, %v; want %q", id, got, err, want)
		}
	}
	_, err = e.cl.CreateSchema(ctx, "three", avroSchema(y))
	wantCode(t, err, 42201)
}

func TestCompatibilityLevels(t *testing.T) {
	const (
		v1 = `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`
		// v2 adds b with a default.
		v2 = `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":""}]}`
		// v3 drops a and makes b required: reads v2 data (b present), not v1 data (no b).
		v3 = `{"type":"record","name":"R","fields":[{"name":"b","type":"string"}]}`
		// addRequired adds a required field to v1.
		addRequired = `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"c","type":"long"}]}`
		// dropA removes v1's only field; v1 readers then miss a (no default).
		dropA = `{"type":"record","name":"R","fields":[]}`
		// aDefault gives a a default, so its readers cope without a.
		aDefault = `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":0}]}`
		// unrelated changes the type of a.
		unrelated = `{"type":"record","name":"R","fields":[{"name":"a","type":"boolean"}]}`
	)
	tests := []struct {
		level     string
		candidate string
		existing  []string
		ok        bool
	}{
		{LevelBackward, addRequired, []string{v1}, false},
		{LevelBackward, v2, []string{v1}, true},
		{LevelBackward, dropA, []string{v1}, true},
		{LevelBackward, v3, []string{v1, v2}, true},
		{LevelBackwardTransitive, v3, []string{v1, v2}, false},
		{LevelBackwardTransitive, v2, []string{v1}, true},
		{LevelForward, addRequired, []string{v1}, true},
		{LevelForward, dropA, []string{v1}, false},
		{LevelForward, v3, []string{v1, v2}, false},
		{LevelForward, dropA, []string{v1, aDefault}, true},
		{LevelForwardTransitive, dropA, []string{v1, aDefault}, false},
		{LevelForwardTransitive, dropA, []string{aDefault}, true},
		{LevelFull, v2, []string{v1}, true},
		{LevelFull, addRequired, []string{v1}, false},
		{LevelFull, dropA, []string{v1}, false},
		{LevelFullTransitive, v2, []string{v1, v2}, true},
		{LevelFull, aDefault, []string{v1}, true},
		{LevelFull, dropA, []string{v1, aDefault}, true},
		{LevelFullTransitive, dropA, []string{v1, aDefault}, false},
		{LevelFullTransitive, unrelated, []string{unrelated, v1}, false},
		{LevelFull, unrelated, []string{v1, unrelated}, true},
		{LevelNone, unrelated, []string{v1}, true},
		{"backward", addRequired, []string{v1}, false},
		{LevelBackward, unrelated, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.level+"/"+strings.ReplaceAll(tc.candidate[36:min(60, len(tc.candidate))], "/", "_"), func(t *testing.T) {
			msgs, err := CheckCompatibility(tc.level, tc.candidate, tc.existing)
			if err != nil {
				t.Fatal(err)
			}
			if ok := len(msgs) == 0; ok != tc.ok {
				t.Fatalf("compatible = %v (%q), want %v", ok, msgs, tc.ok)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		if _, err := CheckCompatibility("SIDEWAYS", v1, nil); !errors.Is(err, ErrInvalidLevel) {
			t.Errorf("bad level: %v", err)
		}
		if _, err := CheckCompatibility(LevelBackward, "{", nil); !errors.Is(err, ErrInvalidSchema) {
			t.Errorf("bad candidate: %v", err)
		}
		if _, err := CheckCompatibility(LevelBackward, v1, []string{`{"type":"nope"}`}); !errors.Is(err, ErrInvalidSchema) {
			t.Errorf("bad existing: %v", err)
		}
	})

	// The registry enforces the same through HTTP, incl. transitivity.
	t.Run("registry", func(t *testing.T) {
		for _, tc := range []struct {
			level sr.CompatibilityLevel
			ok    bool
		}{{sr.CompatBackward, true}, {sr.CompatBackwardTransitive, false}} {
			e := newEnv(t)
			ctx := ctxT(t)
			subject := "r-" + tc.level.String()
			if res := e.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: tc.level}, subject); res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			for _, s := range []string{v1, v2} {
				if _, err := e.cl.CreateSchema(ctx, subject, avroSchema(s)); err != nil {
					t.Fatalf("%s: %v", tc.level, err)
				}
			}
			check, err := e.cl.CheckCompatibility(ctx, subject, -2, avroSchema(v3))
			if err != nil || check.Is != tc.ok {
				t.Fatalf("%s: check all versions = %+v, %v; want %v", tc.level, check, err, tc.ok)
			}
			_, err = e.cl.CreateSchema(ctx, subject, avroSchema(v3))
			if tc.ok && err != nil {
				t.Fatalf("%s: v3 refused: %v", tc.level, err)
			}
			if !tc.ok {
				wantCode(t, err, 409)
			}
		}
	})
}

func TestRestart(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.Unique("logmesh._schemas")
	e1 := startEnv(t, c, topic)
	ctx := ctxT(t)

	mustCreate := func(cl *sr.Client, subject, s string) sr.SubjectSchema {
		t.Helper()
		ss, err := cl.CreateSchema(ctx, subject, avroSchema(s))
		if err != nil {
			t.Fatalf("CreateSchema(%s): %v", subject, err)
		}
		return ss
	}
	mustCreate(e1.cl, "a", userV1)
	mustCreate(e1.cl, "a", userOptional)
	mustCreate(e1.cl, "b", userV1)
	const lonely = `{"type":"record","name":"Lonely","fields":[{"name":"x","type":"long"}]}`
	mustCreate(e1.cl, "gone", lonely) // id 3, then hard-deleted: id 3 must not come back
	mustCreate(e1.cl, "soft", `{"type":"enum","name":"E","symbols":["A","B"]}`)
	if _, err := e1.cl.DeleteSubject(ctx, "gone", sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := e1.cl.DeleteSubject(ctx, "gone", sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := e1.cl.DeleteSubject(ctx, "soft", sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	for _, r := range e1.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatForward}, "b") {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for _, r := range e1.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFullTransitive}) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	before := snapshot(t, e1)
	if err := e1.reg.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e1.reg.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Writes after Close fail with a store error; reads still work.
	_, err := e1.cl.CreateSchema(ctx, "a", avroSchema(lonely))
	wantCode(t, err, 50001)

	e2 := startEnv(t, c, topic)
	after := snapshot(t, e2)
	if before != after {
		t.Fatalf("state after restart differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// The next id is max+1 of all ids ever assigned (4 was the enum), not
	// a reused 3 or 4.
	s := mustCreate(e2.cl, "c", lonely)
	if s.ID != 5 {
		t.Fatalf("new schema after restart got id %d, want 5", s.ID)
	}
	again := mustCreate(e2.cl, "a", userV1Spaced)
	if again.ID != 1 || again.Version != 1 {
		t.Fatalf("re-registering after restart = %+v, want id 1 version 1", again)
	}

	// A third start also sees the write of the second.
	e3 := startEnv(t, c, topic)
	if got, want := snapshot(t, e3), snapshot(t, e2); got != want {
		t.Fatalf("third start differs:\n%s\nvs\n%s", got, want)
	}
}

// snapshot renders everything the API shows, through the API.
func snapshot(t *testing.T, e *env) string {
	t.Helper()
	var b strings.Builder
	for _, path := range []string{
		"/subjects?deleted=true",
		"/schemas?deleted=true",
		"/config",
		"/config/a?defaultToGlobal=true",
		"/config/b",
		"/schemas/ids/1/versions?deleted=true",
		"/schemas/ids/2",
		"/schemas/ids/3",
		"/schemas/ids/4",
		"/schemas/ids/4/versions?deleted=true",
		"/subjects/soft/versions?deleted=true",
	} {
		code, body := get(t, e.srv.URL+path)
		b.WriteString(path + " " + code + " " + body + "\n")
	}
	return b.String()
}

func get(t *testing.T, url string) (string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.Status, strings.TrimSpace(string(body))
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path, ctype, body string
		status, code                    int
	}{
		{"malformed json", "POST", "/subjects/s/versions", "application/vnd.schemaregistry.v1+json", `{"schema": `, 400, 400},
		{"not an object", "POST", "/subjects/s/versions", "application/json", `[1,2]`, 400, 400},
		{"empty body", "POST", "/subjects/s/versions", "application/json", ``, 400, 400},
		{"protobuf", "POST", "/subjects/s/versions", "application/json", `{"schema":"syntax = \"proto3\";","schemaType":"PROTOBUF"}`, 422, 42201},
		{"json schema", "POST", "/subjects/s/versions", "application/json", `{"schema":"{}","schemaType":"JSON"}`, 422, 42201},
		{"references", "POST", "/subjects/s/versions", "application/json", `{"schema":"\"string\"","references":[{"name":"x","subject":"y","version":1}]}`, 422, 42201},
		{"empty schema", "POST", "/subjects/s/versions", "application/json", `{}`, 422, 42201},
		{"bad level", "PUT", "/config", "application/json", `{"compatibility":"SIDEWAYS"}`, 422, 42203},
		{"bad version", "GET", "/subjects/s/versions/abc", "", ``, 422, 42202},
		{"version zero", "GET", "/subjects/s/versions/0", "", ``, 422, 42202},
		{"explicit id", "POST", "/subjects/s/versions", "application/json", `{"schema":"\"string\"","id":77}`, 422, 42205},
		{"bad id", "GET", "/schemas/ids/x", "", ``, 404, 40403},
		{"unknown path", "GET", "/nope", "", ``, 404, 404},
		{"readonly mode", "PUT", "/mode", "application/json", `{"mode":"READONLY"}`, 422, 42205},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, e.srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				ErrorCode int    `json:"error_code"`
				Message   string `json:"message"`
			}
			raw, _ := io.ReadAll(resp.Body)
			if err := jsonUnmarshal(raw, &body); err != nil {
				t.Fatalf("body %q is not a Confluent error: %v", raw, err)
			}
			if resp.StatusCode != tc.status || body.ErrorCode != tc.code || body.Message == "" {
				t.Fatalf("got %d %s, want status %d code %d", resp.StatusCode, raw, tc.status, tc.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != contentType {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
	// Nothing was registered by any of them.
	code, body := get(t, e.srv.URL+"/subjects")
	if code != "200 OK" || body != "[]" {
		t.Fatalf("subjects after bad requests = %s %s", code, body)
	}
	code, body = get(t, e.srv.URL+"/")
	if code != "200 OK" || body != "{}" {
		t.Fatalf("GET / = %s %s", code, body)
	}
}

func TestTopicCreated(t *testing.T) {
	e := newEnv(t)
	adm := kadm.NewClient(e.cluster.Client(t))
	rcs, err := adm.DescribeTopicConfigs(ctxT(t), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(e.topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatal(err, rc.Err)
	}
	var policy string
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			policy = *c.Value
		}
	}
	if policy != "compact" {
		t.Fatalf("cleanup.policy = %q, want compact", policy)
	}
	td, err := adm.ListTopics(ctxT(t), e.topic)
	if err != nil || len(td[e.topic].Partitions) != 1 {
		t.Fatalf("partitions: %v %v", td, err)
	}
}

func TestRefusesDeleteTopic(t *testing.T) {
	c := kafkatest.New(t)
	del := "delete"
	topic := c.Topic(t, "schemas-delete", 1, map[string]*string{"cleanup.policy": &del})
	_, err := New(ctxT(t), c.Client(t), Topic(topic))
	if err == nil || !strings.Contains(err.Error(), "compact") {
		t.Fatalf("New on a delete-policy topic: %v, want an error about compaction", err)
	}
}

func TestOptionsValidated(t *testing.T) {
	c := kafkatest.New(t)
	for name, o := range map[string]Option{
		"topic": Topic("bad topic!"),
		"level": DefaultCompatibility("SIDEWAYS"),
	} {
		if _, err := New(ctxT(t), c.Client(t), o); err == nil {
			t.Errorf("%s: New accepted an invalid option", name)
		}
	}
	if _, err := New(ctxT(t), nil); err == nil {
		t.Error("New accepted a nil client")
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// A failed write is a store error (50001) that keeps its cause for
// errors.Is: here the deadline of a write that cannot finish in time.
func TestStoreErrorKeepsCause(t *testing.T) {
	c := kafkatest.New(t)
	reg, err := New(ctxT(t), c.Client(t), Topic(kafkatest.Unique("logmesh._schemas")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	reg.cfg.writeTimeout = time.Nanosecond
	reg.writeMu.Lock()
	err = reg.write(ctxT(t), &kgo.Record{Key: []byte("k"), Value: []byte("v")})
	reg.writeMu.Unlock()
	if !errors.Is(err, errStore) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a write past its deadline: %v, want errStore wrapping context.DeadlineExceeded", err)
	}
}
