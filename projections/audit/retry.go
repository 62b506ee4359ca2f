package audit

import (
	"strconv"
	"time"

	"github.com/logmesh/logmesh/events"
)

// RetryRequest is the FileRetryRequested of f's next attempt, requested by
// by (a principal) for reason (may be ""): on the raw domain's bus,
// correlated with (and so keyed by) the file id, caused by the outcome
// that ended its latest attempt, with an id derived from the file and the
// attempt, so that two requests of one attempt are one. `logmesh files
// retry` and the catalog's retry both make it here.
func RetryRequest(f File, by, reason string, now time.Time) *events.FileRetryRequested {
	n := events.Attempt(f.Attempt) + 1
	var cause string
	for _, st := range f.Timeline {
		if st.Attempt == f.Attempt && st.Status == f.Status {
			cause = st.EventID
		}
	}
	ev := &events.FileRetryRequested{
		Envelope: events.Envelope{
			EventID:       events.DeriveID("retry", f.ID, strconv.Itoa(int(n))),
			OccurredAt:    now.UTC().Truncate(time.Microsecond),
			Domain:        events.DomainRaw,
			CorrelationID: f.ID,
			CausationID:   cause,
		},
		FileKey: f.Key, FileChecksum: f.Checksum, Attempt: n, RequestedBy: by,
	}
	if reason != "" {
		ev.Reason = &reason
	}
	return ev
}
