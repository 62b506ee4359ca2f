package spool

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"
)

// FeedSource gives the topic feeds in force: the feeds' definitions on the
// log, followed live (processors/feeds). Its methods must be safe for
// concurrent use.
type FeedSource interface {
	// CatchUp brings the definitions up to date with the log.
	CatchUp(ctx context.Context) error
	// Feeds returns the live topic feeds.
	Feeds() []Feed
}

// Live runs a spool of the topic feeds src has in force and, whenever they
// change (looked at every interval), stops it and starts one of the new
// feeds: a feed applied or retired on a running platform is spooled, or no
// longer, without a restart. Stopping a spool between runs is safe (see the
// package documentation: the landing bus is its log of progress). start
// builds and prepares the spool of a set of feeds (creating their topics,
// say); its error, and a spool's, stops Live. Live returns nil when ctx
// ends.
func Live(ctx context.Context, src FeedSource, interval time.Duration, log *slog.Logger,
	start func(ctx context.Context, feeds []Feed) (*Spool, error)) error {
	if interval <= 0 {
		return errors.New("spool: Live: interval must be positive")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		cur    []Feed
		cancel context.CancelFunc = func() {}
		done   chan error
	)
	defer func() {
		cancel()
		if done != nil {
			<-done
		}
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return nil
			case err := <-done:
				done = nil
				if ctx.Err() != nil {
					return nil
				}
				return err
			case <-t.C:
			}
		}
		if err := src.CatchUp(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("spool: the feeds' definitions could not be read; trying again", "err", err)
			continue
		}
		feeds := sortedFeeds(src.Feeds())
		if !first && slices.Equal(feeds, cur) {
			continue
		}
		cancel()
		if done != nil {
			if err := <-done; err != nil && ctx.Err() == nil {
				return err
			}
			done = nil
		}
		if !first {
			log.Info("spool: the topic feeds changed; spooling the new set", "feeds", len(feeds))
		}
		cur = feeds
		s, err := start(ctx, feeds)
		if err != nil {
			return err
		}
		sctx, stop := context.WithCancel(ctx)
		cancel = stop
		done = make(chan error, 1)
		go func() { done <- s.Run(sctx) }()
	}
}

func sortedFeeds(feeds []Feed) []Feed {
	out := slices.Clone(feeds)
	slices.SortFunc(out, func(a, b Feed) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}
