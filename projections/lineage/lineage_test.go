package lineage_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/projections"
	"github.com/logmesh/logmesh/projections/lineage"
	"github.com/logmesh/logmesh/projections/projectiontest"
)

// fakeEvent is a test double of an events.Event.
type fakeEvent struct {
	name string
	env  events.Envelope
}

func (e *fakeEvent) Name() string           { return e.name }
func (e *fakeEvent) Meta() *events.Envelope { return &e.env }

func ev(id, corr, cause string) events.Event {
	return &fakeEvent{name: "logmesh.events.Test", env: events.Envelope{EventID: id, CorrelationID: corr, CausationID: cause}}
}

func fold(t *testing.T, evs []events.Event) projectiontest.MemStore {
	t.Helper()
	s := projectiontest.MemStore{}
	for _, e := range evs {
		if err := (lineage.Projection{}).Apply(s, e); err != nil {
			t.Fatalf("apply %s: %v", e.Meta().EventID, err)
		}
	}
	return s
}

func TestApplyIndexesEvents(t *testing.T) {
	s := fold(t, []events.Event{ev("a", "file-1", ""), ev("b", "file-1", "a"), ev("c", "file-2", "b")})
	n, ok, err := lineage.Lookup(s, "b")
	if err != nil || !ok {
		t.Fatalf("lookup b: ok=%v err=%v", ok, err)
	}
	if want := (lineage.Node{Name: "logmesh.events.Test", Correlation: "file-1", Causation: "a"}); n != want {
		t.Fatalf("node b = %+v, want %+v", n, want)
	}
	if _, ok, _ := lineage.Lookup(s, "zz"); ok {
		t.Fatal("unknown event found")
	}
	for corr, want := range map[string]uint64{"file-1": 2, "file-2": 1, "none": 0} {
		if got, err := lineage.Count(s, corr); err != nil || got != want {
			t.Errorf("count %s = %d, %v; want %d", corr, got, err, want)
		}
	}
}

// The chain must tell apart a log applied once, applied twice, or reordered.
func TestChainDetectsDuplicatesAndReorders(t *testing.T) {
	var log []events.Event
	for i := range 50 {
		log = append(log, ev(fmt.Sprint("e", i), fmt.Sprint("c", i%3), ""))
	}
	once := fold(t, log).Digest()
	if again := fold(t, log).Digest(); again != once {
		t.Fatal("same log folded twice gave different digests")
	}
	dup := append(append([]events.Event{}, log...), log[10])
	if fold(t, dup).Digest() == once {
		t.Fatal("a duplicated event left the digest unchanged")
	}
	swapped := append([]events.Event{}, log...)
	swapped[3], swapped[6] = swapped[6], swapped[3] // same correlation (i%3 == 0)
	if fold(t, swapped).Digest() == once {
		t.Fatal("reordering events of one correlation left the digest unchanged")
	}
}

func TestEventWithoutIDIsRefused(t *testing.T) {
	s := projectiontest.MemStore{}
	err := (lineage.Projection{}).Apply(s, ev("", "c", ""))
	if !errors.Is(err, projections.ErrInvariant) {
		t.Fatalf("err = %v, want ErrInvariant", err)
	}
}
