package catalog

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/internal/confluent"
)

// Record counts of GET /v1/tail.
const (
	DefaultTailLimit = 50
	MaxTailLimit     = 500
)

// tailWait bounds how long GET /v1/tail reads: it answers what arrived by
// then.
const tailWait = 1500 * time.Millisecond

// WithConfluent makes GET /v1/tail decode the records that are not
// logmesh facts with their writer's schema, through d; without it such a
// record is answered with the error "not a logmesh fact (schema id N)".
func WithConfluent(d *confluent.Decoder) Option { return func(c *config) { c.generic = d } }

// TailView is the answer of GET /v1/tail: records of a topic in timestamp
// order (then partition and offset), and the cursor to ask for the next.
type TailView struct {
	Topic   string           `json:"topic"`
	Records []TailRecordView `json:"records"`
	// Next is the opaque cursor to pass as after for the records that
	// follow these.
	Next string `json:"next"`
}

// TailRecordView is one record of a tail: a logmesh fact with its name,
// id and time; any other Avro value with its schema's name; or, when it
// does not decode, the error.
type TailRecordView struct {
	Partition  int32           `json:"partition"`
	Offset     int64           `json:"offset"`
	Timestamp  time.Time       `json:"timestamp"`
	Name       string          `json:"name,omitempty"`
	EventID    string          `json:"event_id,omitempty"`
	OccurredAt *time.Time      `json:"occurred_at,omitempty"`
	Value      json.RawMessage `json:"value,omitempty"`
	Error      string          `json:"error,omitempty"`
}

// TailTopicsView is the answer of GET /v1/tail/topics.
type TailTopicsView struct {
	Topics []string `json:"topics"`
}

// tail answers GET /v1/tail: the newest limit records of topic or, with
// after, up to limit records that follow the cursor, read straight from
// the log (read_committed, no group). Governance tails any topic of the
// installation, a domain its own events topic.
func (s *Server) tail(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) error {
	q := r.URL.Query()
	topic := q.Get("topic")
	if topic == "" {
		return fmt.Errorf("topic is required (GET /v1/tail/topics lists those you may tail): %w", errBadRequest)
	}
	limit := DefaultTailLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxTailLimit {
			return fmt.Errorf("limit %q must be 1 to %d: %w", v, MaxTailLimit, errBadRequest)
		}
		limit = n
	}
	var after map[int32]int64
	if v := q.Get("after"); v != "" {
		var err error
		if after, err = parseTailCursor(v); err != nil {
			return fmt.Errorf("after %q is not a cursor this catalog gave (the next of an answer): %w: %w", v, err, errBadRequest)
		}
	}
	if ok, why := s.mayTail(principal, topic); !ok {
		return s.forbidden(ctx, principal, "tail", topic, "catalog", why)
	}
	recs, next, err := s.readTail(ctx, topic, limit, after)
	if err != nil {
		return err
	}
	out := TailView{Topic: topic, Records: []TailRecordView{}, Next: tailCursor(next)}
	for _, rec := range recs {
		v := TailRecordView{Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp.UTC()}
		ro, err := s.readout.Decode(ctx, rec)
		if err != nil {
			v.Error = err.Error()
		} else {
			v.Name, v.Value = ro.Name, ro.JSON
			if ro.Fact {
				v.EventID = ro.EventID
				at := ro.OccurredAt.UTC()
				v.OccurredAt = &at
			}
		}
		out.Records = append(out.Records, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// tailTopics answers GET /v1/tail/topics: the topics principal may tail
// (governance: every existing topic of the installation; a domain: its
// events topic).
func (s *Server) tailTopics(ctx context.Context, w http.ResponseWriter, _ *http.Request, principal string) error {
	if principal != Governance {
		writeJSON(w, http.StatusOK, TailTopicsView{Topics: []string{s.cfg.Topics.Domain(principal)}})
		return nil
	}
	cl, err := s.client()
	if err != nil {
		return err
	}
	tds, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("catalog: listing topics: %w", err)
	}
	out := TailTopicsView{Topics: []string{}}
	for _, name := range tds.Names() {
		if ok, _ := s.mayTail(principal, name); ok {
			out.Topics = append(out.Topics, name)
		}
	}
	slices.Sort(out.Topics)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// mayTail decides whether principal may tail topic, and why not.
func (s *Server) mayTail(principal, topic string) (bool, string) {
	if principal == Governance {
		all := s.cfg.Topics.All()
		match, err := all.Compile()
		if err != nil {
			return false, err.Error()
		}
		if !match(topic) {
			return false, fmt.Sprintf("not a topic of this installation (its topics match %s)", all)
		}
		return true, ""
	}
	if own := s.cfg.Topics.Domain(principal); topic != own {
		return false, fmt.Sprintf("a domain tails its own events topic, %s, only; governance tails any", own)
	}
	return true, ""
}

// tailPart is the read of one partition: from from to stop (exclusive),
// pos the next offset not yet read.
type tailPart struct{ from, stop, pos int64 }

// readTail reads topic: without after, the newest limit records; with
// after, up to limit records from after's offsets on. It returns them in
// timestamp order (then partition and offset) and the next offset of
// every partition. It reads until the last stable offset listed at the
// start or tailWait, whichever comes first; control records (transaction
// markers) move the cursor and are not returned, aborted records are not
// read at all.
func (s *Server) readTail(ctx context.Context, topic string, limit int, after map[int32]int64) ([]*kgo.Record, map[int32]int64, error) {
	admin, err := s.client()
	if err != nil {
		return nil, nil, err
	}
	adm := kadm.NewClient(admin)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, nil, fmt.Errorf("no topic %s: %w", topic, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("catalog: listing the start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("catalog: listing the end offsets of %s: %w", topic, err)
	}
	parts := map[int32]*tailPart{}
	offsets := map[int32]kgo.Offset{}
	for p, end := range ends[topic] {
		start := starts[topic][p].Offset
		tp := &tailPart{from: max(start, end.Offset-int64(limit)), stop: end.Offset}
		if after != nil {
			from, ok := after[p]
			if !ok {
				from = start
			}
			tp.from = min(max(from, start), end.Offset)
			tp.stop = min(end.Offset, tp.from+int64(limit))
		}
		tp.pos = tp.from
		parts[p] = tp
		if tp.from < tp.stop {
			offsets[p] = kgo.NewOffset().At(tp.from)
		}
	}
	var recs []*kgo.Record
	if len(offsets) > 0 {
		if recs, err = s.fetchTail(ctx, topic, parts, offsets); err != nil {
			return nil, nil, err
		}
	}
	slices.SortFunc(recs, func(a, b *kgo.Record) int {
		return cmp.Or(a.Timestamp.Compare(b.Timestamp), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	next := map[int32]int64{}
	for p, tp := range parts {
		next[p] = tp.pos
	}
	if len(recs) <= limit {
		return recs, next, nil
	}
	if after == nil {
		// The newest limit: what is left out is older than what is shown.
		return recs[len(recs)-limit:], next, nil
	}
	// The oldest limit: a partition's cursor stops at its first record
	// left out, and its records after that wait for the next answer.
	for _, rec := range recs[limit:] {
		next[rec.Partition] = min(next[rec.Partition], rec.Offset)
	}
	kept := recs[:0]
	for _, rec := range recs[:limit] {
		if rec.Offset < next[rec.Partition] {
			kept = append(kept, rec)
		}
	}
	return kept, next, nil
}

// fetchTail consumes offsets of topic until each partition of parts
// reaches its stop, or tailWait; it advances each part's pos and returns
// the records read, without control records.
func (s *Server) fetchTail(ctx context.Context, topic string, parts map[int32]*tailPart, offsets map[int32]kgo.Offset) ([]*kgo.Record, error) {
	opts := append(slices.Clone(s.cfg.ClientOpts), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	cl, err := s.conn.Client(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	wctx, cancel := context.WithTimeout(ctx, tailWait)
	defer cancel()
	pending := len(offsets)
	var recs []*kgo.Record
	for pending > 0 {
		fs := cl.PollFetches(wctx)
		if wctx.Err() != nil {
			break
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return nil, fmt.Errorf("catalog: tailing %s/%d: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		for it := fs.RecordIter(); !it.Done(); {
			rec := it.Next()
			tp := parts[rec.Partition]
			if tp == nil || rec.Offset < tp.pos || tp.pos >= tp.stop || rec.Offset >= tp.stop {
				continue
			}
			tp.pos = rec.Offset + 1
			if !rec.Attrs.IsControl() {
				recs = append(recs, rec)
			}
			if tp.pos >= tp.stop {
				pending--
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return recs, nil
}

// tailCursor encodes next offsets as GET /v1/tail's cursor,
// "partition:offset,...".
func tailCursor(next map[int32]int64) string {
	parts := make([]string, 0, len(next))
	for _, p := range slices.Sorted(maps.Keys(next)) {
		parts = append(parts, strconv.Itoa(int(p))+":"+strconv.FormatInt(next[p], 10))
	}
	return strings.Join(parts, ",")
}

// parseTailCursor decodes a tailCursor.
func parseTailCursor(s string) (map[int32]int64, error) {
	out := map[int32]int64{}
	for _, part := range strings.Split(s, ",") {
		ps, offs, ok := strings.Cut(part, ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		off, err2 := strconv.ParseInt(offs, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || off < 0 {
			return nil, fmt.Errorf("malformed %q", part)
		}
		out[int32(p)] = off
	}
	return out, nil
}
