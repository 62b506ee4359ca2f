package loader

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/logmesh/logmesh/events"
)

// Webhook returns a Notifier that POSTs each incident as JSON (the event as
// `logmesh tail --json` prints it) to url. A non-2xx answer is an error.
func Webhook(url string) Notifier {
	return webhook{url: url, client: &http.Client{Timeout: 10 * time.Second}}
}

type webhook struct {
	url    string
	client *http.Client
}

func (w webhook) Notify(ctx context.Context, inc *events.IncidentOpened) error {
	body, err := events.JSON(inc)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("loader: webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("loader: webhook %s: %w", w.url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("loader: webhook %s: %s", w.url, resp.Status)
	}
	return nil
}
