package registry

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// TestConcurrentRegistrations: writers are serialised, so the same schema
// registered concurrently in many subjects gets one id, and distinct schemas
// get distinct ids.
func TestConcurrentRegistrations(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	const n = 16
	ids := make([]int, 2*n)
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			s, err := e.cl.CreateSchema(ctx, fmt.Sprintf("shared/%d", i), avroSchema(userV1))
			ids[i], errs[i] = s.ID, err
		}()
		go func() {
			defer wg.Done()
			own := fmt.Sprintf(`{"type":"record","name":"Own%d","fields":[{"name":"a","type":"int"}]}`, i)
			s, err := e.cl.CreateSchema(ctx, fmt.Sprintf("own-%d", i), avroSchema(own))
			ids[n+i], errs[n+i] = s.ID, err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("registration %d: %v", i, err)
		}
	}
	for i := 1; i < n; i++ {
		if ids[i] != ids[0] {
			t.Fatalf("same schema got ids %v", ids[:n])
		}
	}
	all := slices.Clone(ids[n:])
	all = append(all, ids[0])
	slices.Sort(all)
	if want := len(all); len(slices.Compact(all)) != want || all[0] != 1 || all[want-1] != want {
		t.Fatalf("ids are not 1..%d without gaps or duplicates: %v", want, all)
	}
	// Subjects with a slash survive path escaping.
	vs, err := e.cl.SubjectVersions(ctx, "shared/3")
	if err != nil || !slices.Equal(vs, []int{1}) {
		t.Fatalf("SubjectVersions(shared/3) = %v, %v", vs, err)
	}
}
