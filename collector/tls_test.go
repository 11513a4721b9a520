package collector_test

import (
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
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/credentials"
)

// selfSigned writes a certificate for 127.0.0.1 and returns the files and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

func TestTLSOnBothTransports(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	cfg := testConfig()
	var roots *x509.CertPool
	cfg.TLS.CertFile, cfg.TLS.KeyFile, roots = selfSigned(t)
	c := startCollector(t, cfg, pool)
	tok := newApp(t, pool, "app.tls")
	ctx := context.Background()
	tc := &tls.Config{RootCAs: roots}
	for name, mk := range map[string]func() (sdktrace.SpanExporter, error){
		"http": func() (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(c.HTTPAddr()), otlptracehttp.WithTLSClientConfig(tc),
				otlptracehttp.WithHeaders(bearer(tok)))
		},
		"grpc": func() (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(c.GRPCAddr()), otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tc)),
				otlptracegrpc.WithHeaders(bearer(tok)))
		},
	} {
		exp, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		if err := exp.ExportSpans(ctx, stubBatch("tls-"+name, 1, 10)); err != nil {
			t.Fatalf("%s over TLS: %v", name, err)
		}
		exp.Shutdown(ctx)
		if got := count(t, pool, `SELECT count(*) FROM spans WHERE release = $1`, "tls-"+name); got != 10 {
			t.Fatalf("%s: stored %d", name, got)
		}
	}
}
