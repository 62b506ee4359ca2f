package registry

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/internal/kafkatest"
)

// digest renders a state deterministically.
func (s *state) digest() string {
	var b strings.Builder
	fmt.Fprintf(&b, "maxID=%d global=%q\n", s.maxID, s.global)
	for _, subj := range slices.Sorted(mapKeys(s.subjectCfg)) {
		fmt.Fprintf(&b, "config %q=%s\n", subj, s.subjectCfg[subj])
	}
	for _, subj := range slices.Sorted(mapKeys(s.subjects)) {
		for _, v := range s.versions(subj, true) {
			fmt.Fprintf(&b, "%q v%d id=%d deleted=%v %q\n", subj, v.version, v.id, v.deleted, v.schema)
		}
	}
	for _, id := range slices.Sorted(mapKeys(s.ids)) {
		e := s.ids[id]
		fmt.Fprintf(&b, "id %d refs=%d %q\n", id, e.refs, e.text)
	}
	for _, c := range slices.Sorted(mapKeys(s.byCanonical)) {
		fmt.Fprintf(&b, "canonical %d %q\n", s.byCanonical[c], c)
	}
	return b.String()
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// readAll reads the whole registry topic through the log view.
func readAll(t *testing.T, c *kafkatest.Cluster, topic string) []*kgo.Record {
	t.Helper()
	return kafkatest.ReadAll(t, c.Brokers, topic)
}

func fold(t *testing.T, recs []*kgo.Record) *state {
	t.Helper()
	st := newState()
	for _, r := range recs {
		if err := st.apply(r.Key, r.Value); err != nil {
			t.Fatalf("apply offset %d: %v", r.Offset, err)
		}
	}
	return st
}

// compact is what log compaction may leave: the last record per key, with
// tombstones removed.
func compact(recs []*kgo.Record) []*kgo.Record {
	last := map[string]int{}
	for i, r := range recs {
		last[string(r.Key)] = i
	}
	var out []*kgo.Record
	for i, r := range recs {
		if last[string(r.Key)] == i && r.Value != nil {
			out = append(out, r)
		}
	}
	return out
}

// TestReplayDeterministicAndCompactionSafe: folding the log twice gives the
// same state, and folding what compaction leaves of it gives the same state
// too, including the highest id ever assigned (so ids are never reused).
func TestReplayDeterministicAndCompactionSafe(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	const hi = `{"type":"record","name":"Hi","fields":[{"name":"x","type":"long"}]}`
	steps := []func() error{
		func() error { _, err := e.cl.CreateSchema(ctx, "a", avroSchema(userV1)); return err },
		func() error { _, err := e.cl.CreateSchema(ctx, "b", avroSchema(userV1Spaced)); return err },
		func() error { _, err := e.cl.CreateSchema(ctx, "a", avroSchema(userOptional)); return err },
		func() error { _, err := e.cl.CreateSchema(ctx, "z", avroSchema(hi)); return err },
		func() error { _, err := e.cl.DeleteSubject(ctx, "z", sr.SoftDelete); return err },
		func() error { _, err := e.cl.DeleteSubject(ctx, "z", sr.HardDelete); return err },
		func() error { _, err := e.cl.DeleteSubject(ctx, "a", sr.SoftDelete); return err },
		func() error { return e.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "b")[0].Err },
		func() error { return e.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull})[0].Err },
		func() error { return e.cl.ResetCompatibility(ctx)[0].Err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	recs := readAll(t, e.cluster, e.topic)
	full := fold(t, recs).digest()
	if again := fold(t, recs).digest(); again != full {
		t.Fatalf("folding twice differs:\n%s\nvs\n%s", full, again)
	}
	e.reg.stMu.RLock()
	live := e.reg.st.digest()
	e.reg.stMu.RUnlock()
	if live != full {
		t.Fatalf("live state differs from the replayed log:\nlive:\n%s\nlog:\n%s", live, full)
	}
	compacted := compact(recs)
	if len(compacted) >= len(recs) {
		t.Fatalf("compaction removed nothing (%d records); the test needs overwritten keys", len(recs))
	}
	if got := fold(t, compacted).digest(); got != full {
		t.Fatalf("compacted log folds differently:\ncompacted:\n%s\nfull:\n%s", got, full)
	}
	if !strings.Contains(full, "maxID=3 ") {
		t.Fatalf("maxID not 3 after deleting id 3:\n%s", full)
	}
}

// TestStaleWriteReplays: after a write with an unknown outcome the registry
// replays the log before the next write, so a record that did reach the log
// is seen and its id is not handed out again.
func TestStaleWriteReplays(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	if _, err := e.cl.CreateSchema(ctx, "a", avroSchema(userV1)); err != nil {
		t.Fatal(err)
	}
	// Simulate a write whose ack was lost: the record is on the log, the
	// registry's memory does not have it.
	cl := e.cluster.Client(t)
	val := mustJSON(schemaValue{Subject: "ghost", Version: 1, ID: 2, Schema: userOptional})
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: e.topic, Key: schemaKey("ghost", 1), Value: val}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	e.reg.writeMu.Lock()
	e.reg.stale = true
	e.reg.writeMu.Unlock()

	s, err := e.cl.CreateSchema(ctx, "b", avroSchema(`{"type":"fixed","name":"F","size":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != 3 {
		t.Fatalf("id after replay = %d, want 3 (2 is on the log)", s.ID)
	}
	if got, err := e.cl.SchemaTextByID(ctx, 2); err != nil || got != userOptional {
		t.Fatalf("ghost id 2 = %q, %v", got, err)
	}
}
