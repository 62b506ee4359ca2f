package catalog

// Routes returns "METHOD path" of every endpoint of the catalog API, for
// the test that openapi.json documents each.
func Routes() []string {
	var out []string
	for _, rt := range routes() {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}
