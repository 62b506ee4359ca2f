package platform

import (
	"context"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/lag"
	"github.com/logmesh/logmesh/processors/catalog/console"
	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/projections/orchestration"
	"github.com/logmesh/logmesh/state"
)

// noGroup are the processors that consume in no consumer group (views and
// listings), so have no lag to report.
var noGroup = []string{"watcher", "scheduler", "catalog"}

// groupTopics is what the named processor's consumer group reads, by
// name or pattern; the zero set for those measured on what they committed.
func groupTopics(name string, t events.Topics) events.TopicSet {
	switch name {
	case "planner", "audit":
		return audit.Projection{}.Topics(t)
	case "orchestrator":
		return orchestration.Projection{}.Topics(t)
	case "loader":
		return events.TopicNames(t.Batches())
	case "router", "runner":
		return t.AllDomains()
	}
	if s, ok := lookup(name); ok && s.Projection != nil {
		return s.Projection.Topics(t)
	}
	return events.TopicSet{}
}

// LagGroups returns the consumer groups of the named processors, with the
// topics each reads, for lag.Measure; processors that consume in no group
// are left out.
func LagGroups(cfg Config, names ...string) []lag.Group {
	var out []lag.Group
	for _, n := range names {
		if n == NoProcessors || slices.Contains(noGroup, n) || slices.ContainsFunc(out, func(g lag.Group) bool { return g.Name == cfg.Group(n) }) {
			continue
		}
		if _, ok := lookup(n); !ok {
			continue
		}
		out = append(out, lag.Group{Name: cfg.Group(n), Topics: groupTopics(n, cfg.Topics)})
	}
	return out
}

// filesCollector is logmesh_files{status}: the files of the audit at each
// status, read from the first live store of this process that folds the
// audit (the audit's or the planner's). It reports nothing in a process
// without one.
type filesCollector struct {
	env  *Env
	desc *prometheus.Desc
}

func newFilesCollector(env *Env) *filesCollector {
	return &filesCollector{env: env, desc: prometheus.NewDesc("logmesh_files",
		"Landed files by their audit status (RECEIVED, BATCHED, PROCESSED, FAILED, UNMATCHED), from this process's audit store.",
		[]string{"status"}, nil)}
}

func (c *filesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *filesCollector) Collect(ch chan<- prometheus.Metric) {
	var st *state.Store
	for _, l := range c.env.liveStores() {
		if l.projection == (audit.Projection{}).Name() {
			st = l.store()
			break
		}
	}
	if st == nil {
		return
	}
	for _, s := range audit.Statuses() {
		files, err := audit.ByStatus(st, s)
		if err != nil {
			c.env.Config.Logger.Warn("logmesh_files not measured", "status", s, "err", err)
			return
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(len(files)), s)
	}
}

// registerCollectors adds the lag of the process's processors (and of
// Config.LagOf) and the files by status to the process's registry.
func (p *Platform) registerCollectors() error {
	adm, err := p.Env.admin()
	if err != nil {
		return err
	}
	groups := LagGroups(p.Env.Config, append(slices.Clone(p.Names), p.Env.Config.LagOf...)...)
	// The ages' short-lived clients go without the kprom hooks: a client
	// made during a scrape must not register into the registry being
	// gathered.
	lc := lag.NewCollector(adm, p.Env.Conn.WithHooks(nil).Client, func() []lag.Group { return groups }, 0, p.log)
	if err := p.Env.Metrics.Register(lc); err != nil {
		return fmt.Errorf("platform: lag metrics: %w", err)
	}
	if err := p.Env.Metrics.Register(newFilesCollector(p.Env)); err != nil {
		return fmt.Errorf("platform: files metrics: %w", err)
	}
	return nil
}

// consoleLag is the console overview's consumer lag: every processor of
// the mesh that consumes in a group, its records behind summed over the
// partitions it reads, measured with the process's admin client against
// the log start (lag.Measure).
func consoleLag(e *Env) func(ctx context.Context) ([]console.ProcessorLag, error) {
	return func(ctx context.Context) ([]console.ProcessorLag, error) {
		adm, err := e.admin()
		if err != nil {
			return nil, err
		}
		names := ProcessorNames()
		groups := LagGroups(e.Config, names...)
		parts, err := lag.Measure(ctx, adm, groups)
		if err != nil {
			return nil, err
		}
		behind := map[string]int64{}
		for _, p := range parts {
			behind[p.Group] += p.Records
		}
		out := make([]console.ProcessorLag, 0, len(groups))
		for _, g := range groups {
			i := slices.IndexFunc(names, func(n string) bool { return e.Config.Group(n) == g.Name })
			out = append(out, console.ProcessorLag{Processor: names[i], Group: g.Name, Lag: behind[g.Name]})
		}
		return out, nil
	}
}
