package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/projections/definitions"
)

// EnsureInstallation returns the installation's id: the first
// InstallationDefined on the central bus. If the log has none (the
// installation's first start), it records one with a random id and reads
// the log again, so that of two processes starting at once both take the
// first one on the log. Derived ids stay deterministic within an
// installation (replay needs that) and differ across installations.
func EnsureInstallation(ctx context.Context, conn kafkaconn.Conn, codec *events.Codec, names events.Topics, definedBy string) (string, error) {
	for attempt := 0; attempt < 2; attempt++ {
		all, err := ReadDefinitions(ctx, conn, codec, names)
		if err != nil {
			return "", err
		}
		if id, ok := definitions.Installation(all); ok {
			return id, nil
		}
		if attempt > 0 {
			break
		}
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("platform: installation id: %w", err)
		}
		id := hex.EncodeToString(b[:])
		ev := &events.InstallationDefined{
			Envelope: events.Envelope{EventID: events.DeriveID("installation", id), OccurredAt: time.Now().UTC().Truncate(time.Microsecond),
				Domain: events.DomainCentral, CorrelationID: id},
			InstallationID: id, DefinedBy: definedBy,
		}
		rec, err := codec.Record(ev)
		if err != nil {
			return "", err
		}
		rec.Topic = names.For(ev)
		cl, err := conn.Client()
		if err != nil {
			return "", err
		}
		err = cl.ProduceSync(ctx, rec).FirstErr()
		cl.Close()
		if err != nil {
			return "", fmt.Errorf("platform: record the installation: %w", err)
		}
	}
	return "", fmt.Errorf("platform: the installation recorded on %s is not read back", names.Central())
}

// stampInstallation sets the installation id on the product definitions
// among evs that have none, so the products' job ids include it.
func stampInstallation(evs []events.Event, id string) {
	if id == "" {
		return
	}
	for _, ev := range evs {
		if pp, ok := ev.(*events.ProductPublished); ok && pp.InstallationID == nil {
			pp.InstallationID = &id
		}
	}
}
