package events_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/logmesh/logmesh/events"
)

// An id the schema registry does not know is ErrUnknownSchema and still
// the registry's answer, for errors.As.
func TestSRRegistryUnknownKeepsTheAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error_code": 40403, "message": "Schema 7 not found"}`)
	}))
	defer srv.Close()
	cl, err := sr.NewClient(sr.URLs(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	_, err = events.SRRegistry(cl).SchemaByID(context.Background(), 7)
	var re *sr.ResponseError
	if !errors.Is(err, events.ErrUnknownSchema) || !errors.As(err, &re) || re.ErrorCode != 40403 {
		t.Errorf("SchemaByID of an unknown id: %v, want ErrUnknownSchema wrapping the registry's 40403", err)
	}
}
