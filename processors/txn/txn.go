// Package txn is logmesh's one consume → transform → produce loop: a Loop
// consumes topics in a consumer group (read_committed), hands each record to
// a Handler, and produces what the handler returns in one Kafka transaction
// together with the consumed offsets (kgo.GroupTransactSession). A record's
// outputs therefore appear exactly once, or not at all and the record comes
// again. The loader runs on it, and so will the router and the orchestrator.
//
// # Failure
//
//   - A record that can never decode (events.IsPoison) is copied to its
//     topic's dead-letter topic in the same transaction, with the reason.
//   - A handler error, or outputs the brokers refuse (a topic that is
//     missing, say), abort the transaction; the record is redelivered after
//     a backoff. After MaxAttempts attempts the loop stops retrying it and
//     asks the handler, if it implements GiveUpper, for the records that say
//     why (a FileFailed and an incident, say), produces those with the
//     offset instead, and logs the cause at ERROR. A processor that cannot
//     make progress therefore says so, and moves on.
//   - A transaction the session aborts by itself (a rebalance took the
//     partitions) is not an attempt: the records come again, here or at the
//     member that owns them now.
//   - An error the loop cannot get past (the transactional producer fenced
//     or in a fatal state, give-up records or dead letters that cannot be
//     produced) is returned by Run.
package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/logging"
	"github.com/logmesh/logmesh/processors/host"
	"github.com/logmesh/logmesh/processors/proc"
)

// ErrNotCommitted wraps the cause handed to GiveUp when the record's
// transaction would not commit (its outputs were refused, or it aborted), as
// opposed to a Handle error.
var ErrNotCommitted = errors.New("txn: the transaction did not commit")

// Handler turns one consumed record into the records to produce in the
// transaction that commits the record's offset. ev is the decoded event.
// Handle may be called again for the same record (after an abort), so it
// must not have effects outside Kafka that a repeat would double; data
// files written but never committed are garbage, not a double.
type Handler interface {
	Handle(ctx context.Context, r *kgo.Record, ev events.Event) ([]*kgo.Record, error)
}

// GiveUpper is an optional capability of a Handler: the records to produce
// instead of Handle's when a record failed MaxAttempts times, cause being
// the last failure. They are produced with the record's offset; if they do
// not commit either, Run returns the error.
type GiveUpper interface {
	GiveUp(ctx context.Context, r *kgo.Record, ev events.Event, attempts int, cause error) ([]*kgo.Record, error)
}

// Committer is an optional capability of a Handler: Committed is called
// after a transaction commits, with the records it produced (topic,
// partition and offset set), so the handler can read its own writes before
// they come back through the log.
type Committer interface {
	Committed(ctx context.Context, produced []*kgo.Record)
}

// Preparer is an optional capability of a Handler: Prepare is called once
// per poll, before the poll's records are handled (a router catches up its
// view of the definitions there). An error is handled like a Handle error.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// Aborter is an optional capability of a Handler: Aborted is called after a
// transaction aborted, before the record is redelivered.
type Aborter interface {
	Aborted(ctx context.Context)
}

// Decoder decodes record values; *events.Codec is one.
type Decoder interface {
	Decode(ctx context.Context, value []byte) (events.Event, error)
}

// Defaults of the options.
const (
	DefaultMaxAttempts = 5
	DefaultBackoff     = time.Second
	DefaultMaxBackoff  = 30 * time.Second
)

type config struct {
	proc.Config
	name        string
	txnID       string
	instanceID  string
	maxAttempts int
	backoff     time.Duration
	maxBackoff  time.Duration
	maxPoll     int
	txnTimeout  time.Duration
}

// Option configures a Loop.
type Option func(*config)

// Name names the processor in logs and dead-letter records. Default "txn".
func Name(n string) Option { return func(c *config) { c.name = n } }

// TransactionalID sets this instance's transactional id; each running
// instance needs its own. Default the group, "-" and a random suffix.
func TransactionalID(id string) Option { return func(c *config) { c.txnID = id } }

// StaticMember makes the loop a static member of its group (KIP-345) under
// id, which each running instance needs its own of: an instance restarted
// with the same id takes its place in the group at once, keeping its
// partitions, instead of waiting out its dead predecessor's session. A
// static member that stops does not leave the group; its partitions move
// after the session timeout unless it comes back.
func StaticMember(id string) Option { return func(c *config) { c.instanceID = id } }

// MaxAttempts sets how often a record is tried before the loop gives up on
// it. Default DefaultMaxAttempts; it must be >= 1.
func MaxAttempts(n int) Option { return func(c *config) { c.maxAttempts = n } }

// Backoff sets the wait before the second attempt, doubled for each later
// one up to max. Defaults DefaultBackoff and DefaultMaxBackoff.
func Backoff(first, max time.Duration) Option {
	return func(c *config) { c.backoff, c.maxBackoff = first, max }
}

// RecordsPerTransaction bounds the records handled in one transaction.
// Default 1 (a loader batch is a transaction of its own).
func RecordsPerTransaction(n int) Option { return func(c *config) { c.maxPoll = n } }

// TransactionTimeout sets the broker's transaction timeout. Default 60s.
func TransactionTimeout(d time.Duration) Option { return func(c *config) { c.txnTimeout = d } }

// Loop is one consume-transform-produce processor. Create it with New, run
// it with Run; it is single-use.
type Loop struct {
	conn   kafkaconn.Conn
	group  string
	topics events.TopicSet
	dec    Decoder
	h      Handler
	cfg    config
	log    *slog.Logger

	attempts map[position]failure // failed attempts of records not yet committed
}

// failure is how often a record failed, and the last cause.
type failure struct {
	n   int
	err error
}

type position struct {
	topic     string
	partition int32
	offset    int64
}

// New validates its arguments and returns a Loop; it does not connect.
//
// The loop consumes topics in pc.Group (required: a loop has no default
// group) through pc.Conn, with pc.ClientOpts added to its session's client
// and pc.Logger as its logger; pc.Topics and pc.Clock are not used.
func New(pc proc.Config, topics events.TopicSet, dec Decoder, h Handler, opts ...Option) (*Loop, error) {
	cfg := config{Config: pc.WithDefaults(""), name: "txn", maxAttempts: DefaultMaxAttempts, backoff: DefaultBackoff, maxBackoff: DefaultMaxBackoff,
		maxPoll: 1, txnTimeout: 60 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	conn, group := cfg.Conn, cfg.Group
	switch {
	case len(conn.Brokers()) == 0:
		return nil, errors.New("txn: no brokers")
	case group == "":
		return nil, errors.New("txn: no consumer group")
	case topics.Empty():
		return nil, errors.New("txn: no topics")
	case dec == nil || h == nil:
		return nil, errors.New("txn: nil decoder or handler")
	case cfg.maxAttempts < 1:
		return nil, fmt.Errorf("txn: MaxAttempts %d, want >= 1", cfg.maxAttempts)
	case cfg.backoff < 0 || cfg.maxBackoff < cfg.backoff:
		return nil, fmt.Errorf("txn: backoff %v up to %v", cfg.backoff, cfg.maxBackoff)
	case cfg.maxPoll < 1:
		return nil, fmt.Errorf("txn: RecordsPerTransaction %d, want >= 1", cfg.maxPoll)
	}
	if cfg.txnID == "" {
		cfg.txnID = group + "-" + events.NewID()
	}
	return &Loop{conn: conn, group: group, topics: topics, dec: dec, h: h, cfg: cfg,
		log: cfg.Logger.With("processor", cfg.name), attempts: map[position]failure{}}, nil
}

// Run consumes until ctx ends and returns nil then. See the package
// documentation for what it returns an error for.
func (l *Loop) Run(ctx context.Context) error {
	consume := []kgo.Opt{kgo.ConsumeTopics(l.topics.Names...)}
	if l.topics.Pattern != "" {
		consume = []kgo.Opt{kgo.ConsumeRegex(), kgo.ConsumeTopics(l.topics.Regex()), kgo.MetadataMaxAge(10 * time.Second)}
	}
	if l.cfg.instanceID != "" {
		consume = append(consume, kgo.InstanceID(l.cfg.instanceID))
	}
	sess, err := kgo.NewGroupTransactSession(l.conn.Opts(append(append(consume,
		kgo.TransactionalID(l.cfg.txnID),
		kgo.TransactionTimeout(l.cfg.txnTimeout),
		kgo.ConsumerGroup(l.group),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RequireStableFetchOffsets(),
		// After a join, franz-go fetches the partitions whose start it
		// knows first (ones without a committed offset) and the others
		// once their offsets are loaded; a fetch of empty partitions must
		// not hold those back for the default 5s (an inbox has one busy
		// partition, so every restart waited that long).
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.WithLogger(logging.Kafka(l.cfg.Logger)),
	), l.cfg.ClientOpts...)...)...)
	if err != nil {
		return fmt.Errorf("txn: %s: session: %w", l.cfg.name, err)
	}
	defer sess.Close()
	for {
		fetches := sess.PollRecords(ctx, l.cfg.maxPoll)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		for _, fe := range fetches.Errors() {
			l.log.Warn("fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		recs := fetches.Records()
		if len(recs) == 0 {
			continue
		}
		if err := l.transact(ctx, sess, recs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// transact handles recs and commits their outputs with their offsets, or
// aborts so they come again.
func (l *Loop) transact(ctx context.Context, sess *kgo.GroupTransactSession, recs []*kgo.Record) error {
	var outs []*kgo.Record
	gaveUp := false
	var failed error
	if p, ok := l.h.(Preparer); ok {
		if err := p.Prepare(ctx); err != nil {
			failed = err
			l.failedAttempt(recs[0], err)
		}
	}
	for _, r := range recs {
		if failed != nil {
			break
		}
		o, giving, err := l.handle(ctx, r)
		if err != nil {
			if giving {
				return err
			}
			failed = err
			l.failedAttempt(r, err)
			break
		}
		gaveUp = gaveUp || giving
		outs = append(outs, o...)
	}
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("txn: %s: begin transaction: %w", l.cfg.name, err)
	}
	var perr error
	if failed == nil {
		perr = sess.Client().ProduceSync(ctx, outs...).FirstErr()
	}
	commit := failed == nil && perr == nil
	committed, err := sess.End(ctx, kgo.TransactionEndTry(commit))
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("txn: %s: end transaction: %w", l.cfg.name, err)
	}
	if committed {
		for _, r := range recs {
			delete(l.attempts, pos(r))
		}
		if c, ok := l.h.(Committer); ok {
			c.Committed(ctx, outs)
		}
		return nil
	}
	if a, ok := l.h.(Aborter); ok {
		a.Aborted(ctx)
	}
	switch {
	case failed != nil:
		// Counted where the handler failed.
	case perr != nil:
		cause := fmt.Errorf("%w: %w", ErrNotCommitted, perr)
		if gaveUp {
			return fmt.Errorf("txn: %s: the records explaining a give-up could not be produced: %w", l.cfg.name, cause)
		}
		for _, r := range recs {
			l.failedAttempt(r, cause)
		}
	default:
		// The session aborted (a rebalance took the partitions, or the
		// group moved on): nothing is wrong with the records, and whoever
		// owns them now handles them. Not an attempt.
		l.log.Info("transaction aborted by a rebalance; the records come again", "records", len(recs))
		return nil
	}
	return l.wait(ctx, recs)
}

// handle decodes r and returns its outputs. giving reports that they are
// give-up outputs (or that a give-up itself failed, with err).
func (l *Loop) handle(ctx context.Context, r *kgo.Record) (outs []*kgo.Record, giving bool, err error) {
	ev, err := l.dec.Decode(ctx, r.Value)
	switch {
	case err != nil && events.IsPoison(err):
		if f := l.attempts[pos(r)]; f.n >= l.cfg.maxAttempts {
			return nil, true, fmt.Errorf("txn: %s: cannot dead-letter %s/%d@%d after %d attempts: %w",
				l.cfg.name, r.Topic, r.Partition, r.Offset, f.n, f.err)
		}
		reason := "decode: " + err.Error()
		l.log.Warn("poison record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reason)
		return []*kgo.Record{host.DeadLetterRecord(r, events.DeadLetterTopic(r.Topic), reason, l.cfg.name)}, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("decode %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if f := l.attempts[pos(r)]; f.n >= l.cfg.maxAttempts {
		g, ok := l.h.(GiveUpper)
		if !ok {
			return nil, true, fmt.Errorf("txn: %s: %s/%d@%d failed %d times and the handler cannot give up: %w",
				l.cfg.name, r.Topic, r.Partition, r.Offset, f.n, f.err)
		}
		l.log.Error("giving up on a record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
			"event", ev.Name(), "attempts", f.n, "err", f.err)
		outs, err := g.GiveUp(ctx, r, ev, f.n, f.err)
		if err != nil {
			return nil, true, fmt.Errorf("txn: %s: give up on %s/%d@%d: %w", l.cfg.name, r.Topic, r.Partition, r.Offset, err)
		}
		return outs, true, nil
	}
	outs, err = l.h.Handle(ctx, r, ev)
	return outs, false, err
}

func pos(r *kgo.Record) position { return position{r.Topic, r.Partition, r.Offset} }

// failedAttempt counts a failed attempt of r and logs it.
func (l *Loop) failedAttempt(r *kgo.Record, err error) {
	f := l.attempts[pos(r)]
	f.n++
	f.err = err
	l.attempts[pos(r)] = f
	l.log.Warn("attempt failed; the record will come again", "topic", r.Topic, "partition", r.Partition,
		"offset", r.Offset, "attempt", f.n, "of", l.cfg.maxAttempts, "err", err)
}

// wait sleeps the backoff of the next attempt of the most-failed record of
// recs, or until ctx ends.
func (l *Loop) wait(ctx context.Context, recs []*kgo.Record) error {
	n := 0
	for _, r := range recs {
		n = max(n, l.attempts[pos(r)].n)
	}
	d := l.cfg.backoff
	for i := 1; i < n && d < l.cfg.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, l.cfg.maxBackoff)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}
