package platform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The catalog's TLS setting: none without files; a client CA alone, a
// missing key pair or a CA file without a certificate are clear errors.
func TestCatalogTLS(t *testing.T) {
	if tc, err := catalogTLS(Config{}); tc != nil || err != nil {
		t.Fatalf("no files: %v %v", tc, err)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{CatalogClientCA: "ca.pem"}, "needs the catalog's own TLS certificate"},
		{Config{CatalogTLSCert: "nope.pem", CatalogTLSKey: "nope.key"}, "catalog TLS"},
	} {
		if _, err := catalogTLS(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	bad := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A client CA file without a PEM certificate, past a valid key pair,
	// is checked in processors/catalog's TestMutualTLS setting; here only
	// the order of the checks: the key pair first.
	if _, err := catalogTLS(Config{CatalogTLSCert: bad, CatalogTLSKey: bad, CatalogClientCA: bad}); err == nil {
		t.Error("a bad key pair was accepted")
	}
}
