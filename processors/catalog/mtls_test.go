package catalog_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/logmesh/logmesh/processors/catalog"
	"github.com/logmesh/logmesh/processors/proc"
	"github.com/logmesh/logmesh/tables"
)

// ca issues certificates for the test.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key}
}

// issue returns a certificate for cn, a server one with the loopback IP.
func (c *ca) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Over mutual TLS the client certificate's common name is the principal,
// under the same rules; no certificate and no token is anonymous; a
// certificate of another CA is refused at the handshake.
func TestMutualTLS(t *testing.T) {
	r := newRig(t, catalog.Rules{})
	authority := newCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(authority.cert)
	wh, err := tables.OpenWarehouse(context.Background(), r.wh, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := catalog.New(proc.Config{Conn: r.cluster.Conn(), Topics: r.names, Clock: func() time.Time { return judgedAt }},
		r.codec, wh, catalog.Addr("127.0.0.1:0"),
		catalog.TLS(&tls.Config{Certificates: []tls.Certificate{authority.issue(t, "catalog", true)}, ClientCAs: pool,
			ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	get := func(certs []tls.Certificate, path string) (int, error) {
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		resp, err := cl.Get("https://" + addr + path)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for _, c := range []struct {
		cn   string
		path string
		want int
	}{
		{"a", "/v1/tables/own.pub", 200},
		{"d", "/v1/tables/own.pub", 403},
		{"own", "/v1/tables/own.priv", 200},
		{"a", "/v1/tables/own.priv", 403},
		{"governance", "/iceberg/v1/namespaces/own/tables/priv", 200},
	} {
		status, err := get([]tls.Certificate{authority.issue(t, c.cn, false)}, c.path)
		if err != nil || status != c.want {
			t.Errorf("%s as %s: %d %v, want %d", c.path, c.cn, status, err, c.want)
		}
	}
	if status, err := get(nil, "/v1/tables/own.pub"); err != nil || status != 401 {
		t.Errorf("no certificate: %d %v, want 401", status, err)
	}
	if _, err := get([]tls.Certificate{newCA(t).issue(t, "governance", false)}, "/v1/tables/own.pub"); err == nil {
		t.Error("a certificate of another CA was accepted")
	}
}
