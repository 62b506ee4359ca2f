package planner

// UpgradeAudit upgrades a durable store that holds the file audit
// (projections/audit) and was folded before the audit kept its status
// index: it runs audit.Reindex over the store and commits what it writes
// in batches. The planner and the audit processor run it when they start,
// before they fold, so that the files a store held as pending are found,
// and so that the store is again what a replay of the log gives.

import (
	"fmt"

	"github.com/logmesh/logmesh/projections/audit"
	"github.com/logmesh/logmesh/state"
)

// commitEvery is how many writes one batch holds.
const commitEvery = 10_000

// UpgradeAudit rewrites the audit entries of st that predate the status index,
// with their index keys, in synced batches of commitEvery writes; it
// returns how many entries it rewrote (0 for a store folded with the
// index, which it only reads). It reads every entry of st, so its cost is
// the audit's history. Nothing may fold into st meanwhile. An interrupted
// UpgradeAudit is finished by the next one.
func UpgradeAudit(st *state.Store) (int, error) {
	b := st.NewBatch()
	defer func() { _ = b.Close() }()
	writes := 0
	n, err := audit.Reindex(st, func(tp state.TopicPartition, key, value []byte) error {
		if err := b.Scope(tp.Topic, tp.Partition).Set(key, value); err != nil {
			return err
		}
		if writes++; writes%commitEvery == 0 {
			if err := b.Commit(true); err != nil {
				return err
			}
			b = st.NewBatch()
		}
		return nil
	})
	if err == nil && !b.Empty() {
		err = b.Commit(true)
	}
	if err != nil {
		return 0, fmt.Errorf("planner: upgrade the audit: %w", err)
	}
	return n, nil
}
