package catalog

import (
	"context"
	"net/http"

	"github.com/logmesh/logmesh/processors/catalog/console"
)

// ConsoleLag sets where the console's overview reads the consumer lag per
// processor; without it the overview says lag is not available.
func ConsoleLag(fn func(ctx context.Context) ([]console.ProcessorLag, error)) Option {
	return func(c *config) { c.lag = fn }
}

// mountConsole serves the web console under /console/ (and / redirects
// there). The console calls api with each user's token: its pages see what
// the API lets that token see.
func (s *Server) mountConsole(api *http.ServeMux) {
	c, err := console.New(api, console.Options{Lag: s.cfg.lag, Logger: s.log, Clock: s.cfg.Clock})
	if err != nil {
		s.log.Error("catalog: the console failed to start", "err", err)
		return
	}
	api.Handle(console.Prefix, c)
	api.Handle("GET /{$}", http.RedirectHandler(console.Prefix, http.StatusSeeOther))
}
