package registry

import "testing"

// FuzzApply: folding arbitrary records never panics; a record either applies
// or is refused with an error.
func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`),
		[]byte(`{"subject":"s","version":1,"id":1,"schema":"\"string\"","deleted":false}`))
	f.Add([]byte(`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`), []byte(nil))
	f.Add([]byte(`{"keytype":"CONFIG","subject":null,"magic":0}`), []byte(`{"compatibilityLevel":"FULL"}`))
	f.Add([]byte(`{"keytype":"MAX_ID","magic":0}`), []byte(`{"maxId":7}`))
	f.Add([]byte(`{"keytype":"NOOP","magic":0}`), []byte(`{}`))
	f.Add([]byte(`{`), []byte(`{"schema":"{\"type\":\"record\"}"}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		st := newState()
		_ = st.apply(key, value)
		_ = st.apply(key, nil)
		_ = st.digest()
	})
}

// FuzzParseSchema: parsing arbitrary text never panics, and the canonical
// form of a valid schema parses to the same canonical form.
func FuzzParseSchema(f *testing.F) {
	for _, s := range []string{userV1, userOptional, `"string"`, `["null","int"]`, `{"type":"enum","name":"E","symbols":["A"]}`, `{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ps, err := parseSchema(text)
		if err != nil {
			return
		}
		again, err := parseSchema(ps.canonical)
		if err != nil {
			t.Fatalf("canonical form %q does not parse: %v", ps.canonical, err)
		}
		if again.canonical != ps.canonical {
			t.Fatalf("canonical form not stable: %q then %q", ps.canonical, again.canonical)
		}
	})
}
