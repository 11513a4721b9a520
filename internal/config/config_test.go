package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Listen  string        `yaml:"listen" env:"FLEETLENS_TEST_LISTEN"`
	Workers int           `yaml:"workers" env:"FLEETLENS_TEST_WORKERS"`
	Timeout time.Duration `yaml:"timeout" env:"FLEETLENS_TEST_TIMEOUT"`
	Tags    []string      `yaml:"tags" env:"FLEETLENS_TEST_TAGS"`
	TLS     struct {
		Enabled bool `yaml:"enabled" env:"FLEETLENS_TEST_TLS"`
	} `yaml:"tls"`
}

func (s *sample) Validate() error {
	if s.Workers < 1 {
		return errors.New("workers must be at least 1")
	}
	return nil
}

func defaults() *sample { return &sample{Listen: "localhost:1", Workers: 2, Timeout: time.Second} }

func TestLoadLayersDefaultsFileEnv(t *testing.T) {
	t.Setenv("FLEETLENS_TEST_WORKERS", "8")
	t.Setenv("FLEETLENS_TEST_TAGS", "a, b")
	t.Setenv("FLEETLENS_TEST_TLS", "true")
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("listen: 0.0.0.0:9\nworkers: 4\ntimeout: 5s\n"), 0o600)
	got := defaults()
	if err := Load(path, got); err != nil {
		t.Fatal(err)
	}
	if got.Listen != "0.0.0.0:9" || got.Workers != 8 || got.Timeout != 5*time.Second ||
		strings.Join(got.Tags, "|") != "a|b" || !got.TLS.Enabled {
		t.Fatalf("got %+v", got)
	}
}

// Every bad config is a testdata file with the error it must produce (Prometheus style).
func TestLoadBadConfigs(t *testing.T) {
	for file, want := range map[string]string{
		"unknown_field.bad.yaml": "unknown_field.bad.yaml: line 2: field colour not found",
		"bad_type.bad.yaml":      "line 1: cannot unmarshal !!str `many` into int",
		"invalid.bad.yaml":       "workers must be at least 1",
		"syntax.bad.yaml":        "line 2",
	} {
		t.Run(file, func(t *testing.T) {
			err := Load(filepath.Join("testdata", file), defaults())
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Load(%s) err = %v, want it to contain %q", file, err, want)
			}
		})
	}
}

func TestBadEnvNamesTheVariable(t *testing.T) {
	t.Setenv("FLEETLENS_TEST_TIMEOUT", "soon")
	err := Load("", defaults())
	if err == nil || !strings.Contains(err.Error(), "FLEETLENS_TEST_TIMEOUT") {
		t.Fatalf("err = %v", err)
	}
}

func TestEmptyFileKeepsDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.yaml")
	os.WriteFile(path, nil, 0o600)
	got := defaults()
	if err := Load(path, got); err != nil || got.Workers != 2 {
		t.Fatalf("got %+v, %v", got, err)
	}
}
