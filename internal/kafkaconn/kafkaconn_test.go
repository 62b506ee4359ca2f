package kafkaconn_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/logmesh/logmesh/internal/kafkaconn"
)

func TestNewRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := []string{"127.0.0.1:9092"}
	for name, cfg := range map[string]kafkaconn.Config{
		"no brokers":         {},
		"a URL as broker":    {Brokers: []string{"kafka://h:9092"}},
		"unknown mechanism":  {Brokers: b, SASLMechanism: "GSSAPI", SASLUser: "u"},
		"no user":            {Brokers: b, SASLMechanism: "PLAIN"},
		"cert without key":   {Brokers: b, TLSCert: notPEM},
		"CA that is not PEM": {Brokers: b, TLSCA: notPEM},
		"missing CA":         {Brokers: b, TLSCA: filepath.Join(dir, "none.pem")},
	} {
		if _, err := kafkaconn.New(cfg); !errors.Is(err, kafkaconn.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	for _, m := range []string{"PLAIN", "scram-sha-256", "SCRAM-SHA-512"} {
		c, err := kafkaconn.New(kafkaconn.Config{Brokers: b, SASLMechanism: m, SASLUser: "u", SASLPassword: "p", TLS: true})
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		if got := c.Brokers(); len(got) != 1 || got[0] != b[0] {
			t.Errorf("brokers %v", got)
		}
	}
}
