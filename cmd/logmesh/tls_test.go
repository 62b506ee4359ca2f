package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logmesh/logmesh/events"
	"github.com/logmesh/logmesh/internal/kafkaconn"
	"github.com/logmesh/logmesh/internal/kafkatest"
	"github.com/logmesh/logmesh/platform"
)

// selfSigned writes a CA-less self-signed certificate for 127.0.0.1 and
// returns the server's TLS config and the PEM file clients trust.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "logmesh test broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ca
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `logmesh run` against a cluster that takes only TLS with SCRAM-SHA-256:
// with the right settings it connects and its processor folds what is on
// the log; with a wrong password it stops at once with an error naming the
// mechanism and the user.
func TestRunWithTLSAndSCRAM(t *testing.T) {
	serverTLS, caFile := selfSigned(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(serverTLS), kfake.EnableSASL(),
		kfake.Superuser(kafkaconn.MechanismSCRAMSHA256, "logmesh", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	codec, regURL := kafkatest.Codec(t)
	good := kafkaconn.Config{Brokers: c.ListenAddrs(), TLSCA: caFile,
		SASLMechanism: kafkaconn.MechanismSCRAMSHA256, SASLUser: "logmesh", SASLPassword: "s3cret"}
	conn, err := kafkaconn.New(good)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	names := events.Topics{}
	if err := conn.EnsureTopics(ctx, names.Specs(1)...); err != nil {
		t.Fatal(err)
	}
	cl, err := conn.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rec, err := codec.Record(&events.FileLanded{Envelope: events.Envelope{EventID: "e1", OccurredAt: time.Unix(1, 0).UTC(),
		Domain: "raw", CorrelationID: "f1"}, Key: "a.csv", Source: "local", Checksum: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}

	flags := func(password string) []string {
		return []string{"--brokers", strings.Join(c.ListenAddrs(), ","), "--registry", regURL, "--tls-ca", caFile,
			"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "logmesh", "--sasl-password", password}
	}
	// A wrong password: a clear error, promptly (bounded here only by the
	// safety net).
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var stderr syncBuffer
	err = run(wctx, append([]string{"run", "lineage", "--data", t.TempDir()}, flags("wrong")...), &bytes.Buffer{}, &stderr)
	if err == nil || wctx.Err() != nil || !strings.Contains(err.Error(), "SCRAM-SHA-256") || !strings.Contains(err.Error(), `"logmesh"`) {
		t.Fatalf("run with a wrong password: %v (ctx %v); want an error naming SCRAM-SHA-256 and the user", err, wctx.Err())
	}
	t.Logf("wrong password: %v", err)

	// The right settings, flags after the command: lineage folds the event.
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	stderr = syncBuffer{}
	go func() {
		done <- run(rctx, append([]string{"run", "lineage", "--data", t.TempDir(), "--admin-addr", "127.0.0.1:0"}, flags("s3cret")...),
			&bytes.Buffer{}, &stderr)
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if i := strings.Index(stderr.String(), "admin http://"); i >= 0 {
			admin := strings.Fields(stderr.String()[i+len("admin "):])[0]
			var cp platform.Checkpoints
			if err := getJSON(ctx, http.DefaultClient, admin+"/v1/stores/lineage/checkpoints", &cp); err == nil {
				folded := false
				for _, p := range cp.Partitions {
					folded = folded || p.Topic == names.Domain("raw") && p.Next > 0
				}
				if folded {
					break
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run stopped: %v\n%s", err, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("lineage never folded the event over TLS + SCRAM:\n%s", stderr.String())
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
