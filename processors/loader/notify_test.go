package loader_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/processors/loader"
)

// webhookRequest is what the test server saw of one request.
type webhookRequest struct {
	method, contentType string
	body                []byte
}

func TestWebhook(t *testing.T) {
	table := "raw.trades"
	inc := &events.IncidentOpened{
		Envelope: events.Envelope{
			EventID: "inc-1", OccurredAt: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
			Domain: events.DomainRaw, CorrelationID: "file-1",
		},
		IncidentID: "inc-1", Severity: "critical", SubjectKind: "file", Subject: "trades/a.csv",
		Table: &table, Summary: "trades/a.csv failed: 3 of 4 records rejected",
	}
	want, err := events.JSON(inc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		status  int
		wantErr string // "" for success; else a substring of the error
	}{
		{"ok", http.StatusOK, ""},
		{"accepted", http.StatusAccepted, ""},
		{"server error", http.StatusInternalServerError, "500"},
		{"not found", http.StatusNotFound, "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan webhookRequest, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				got <- webhookRequest{r.Method, r.Header.Get("Content-Type"), body}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()

			err := loader.Webhook(srv.URL).Notify(context.Background(), inc)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Notify: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Notify = %v, want an error naming %s", err, tc.wantErr)
			}
			req := <-got
			if req.method != http.MethodPost || req.contentType != "application/json" {
				t.Errorf("request: %s with Content-Type %q, want POST application/json", req.method, req.contentType)
			}
			if !bytes.Equal(req.body, want) {
				t.Errorf("body:\n%s\nwant the incident's JSON:\n%s", req.body, want)
			}
		})
	}
}

func TestWebhookUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	inc := &events.IncidentOpened{IncidentID: "inc-2", Severity: "warning", SubjectKind: "file", Subject: "k", Summary: "s"}
	if err := loader.Webhook(url).Notify(context.Background(), inc); err == nil {
		t.Fatal("Notify to a closed server: no error")
	}
}
