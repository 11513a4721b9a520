package collector_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/collector"
	"github.com/fleetlens/fleetlens/internal/config"
)

func TestConfigYAMLEnvAndValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "collector.yaml")
	os.WriteFile(file, []byte(`
http: {endpoint: "0.0.0.0:14318"}
grpc: {endpoint: ""}
store: {retention: 168h, workers: 3}
limits: {max_attributes: 256}
scrub: {emails: false, user_id_keys: [enduser.id]}
`), 0o600)
	t.Setenv("FLEETLENS_COLLECTOR_RETENTION", "72h")
	cfg := collector.DefaultConfig()
	if err := config.Load(file, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Endpoint != "0.0.0.0:14318" || cfg.GRPC.Endpoint != "" || cfg.Store.Workers != 3 ||
		cfg.Store.Retention != 72*time.Hour || cfg.Limits.MaxAttributes != 256 || cfg.Scrub.Emails ||
		cfg.Limits.MaxBodyBytes != 20<<20 {
		t.Fatalf("loaded %+v", cfg)
	}

	os.Unsetenv("FLEETLENS_COLLECTOR_RETENTION")
	bad := []struct {
		yaml, want string
	}{
		{"http: {endpoint: nope}", "http.endpoint"},
		{"http: {endpoint: ''}\ngrpc: {endpoint: ''}", "nothing to receive on"},
		{"store: {retention: 1h}", "store.retention"},
		{"limits: {max_body_bytes: 100, max_decoded_bytes: 10}", "max_decoded_bytes"},
		{"tls: {cert_file: a.pem}", "tls"},
		{"htpp: {endpoint: x}", "htpp"}, // unknown field
	}
	for _, b := range bad {
		os.WriteFile(file, []byte(b.yaml), 0o600)
		cfg := collector.DefaultConfig()
		err := config.Load(file, &cfg)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: err %v, want one naming %q", b.yaml, err, b.want)
		}
	}
}
