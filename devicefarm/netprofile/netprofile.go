// Package netprofile owns the farm's lab network profiles (SPEC §4, Facebook Augmented
// Traffic Control presets) and their realisation as toxiproxy proxies run in-process on the
// agent host: one proxy per (run, profile), listening on a free local port and forwarding to
// the app's upstream with latency, bandwidth and loss toxics on both directions.
package netprofile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"sort"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Profile is one lab network condition.
type Profile struct {
	Name     string
	DownKbps int
	UpKbps   int
	DelayMS  int     // added one way, each direction (ATC applies delay per direction)
	Loss     float64 // fraction 0..1
}

// Lab profiles from Facebook ATC's defaults (SPEC §4: down/up kbps, delay ms, loss).
var profiles = map[string]Profile{
	"2g-rural":   {"2g-rural", 20, 18, 650, 0.02},
	"2g-urban":   {"2g-urban", 35, 32, 650, 0},
	"edge-lossy": {"edge-lossy", 240, 200, 400, 0.01},
	"3g-average": {"3g-average", 780, 330, 100, 0},
	"3g-good":    {"3g-good", 850, 420, 90, 0},
	"dsl":        {"dsl", 2000, 256, 5, 0},
}

// Lookup finds a profile by name.
func Lookup(name string) (Profile, bool) {
	p, ok := profiles[name]
	return p, ok
}

// Names lists the known profiles, sorted.
func Names() []string {
	out := make([]string, 0, len(profiles))
	for n := range profiles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// kbpsToKBps converts to toxiproxy's bandwidth unit (KB/s), never below 1.
func kbpsToKBps(kbps int) int64 {
	return max(1, int64(math.Round(float64(kbps)/8)))
}

// toxics is what the profile becomes in toxiproxy. TCP has no packet loss to inject, so
// loss is modelled as toxiproxy's reset_peer on that fraction of connections ("toxicity"):
// the connection-level symptom an app sees on a lossy link.
func (p Profile) toxics() []map[string]any {
	var out []map[string]any
	for _, dir := range []struct {
		stream string
		kbps   int
	}{{"downstream", p.DownKbps}, {"upstream", p.UpKbps}} {
		if p.DelayMS > 0 {
			out = append(out, map[string]any{"name": "latency_" + dir.stream, "type": "latency", "stream": dir.stream,
				"toxicity": 1.0, "attributes": map[string]any{"latency": p.DelayMS, "jitter": 0}})
		}
		if dir.kbps > 0 {
			out = append(out, map[string]any{"name": "bandwidth_" + dir.stream, "type": "bandwidth", "stream": dir.stream,
				"toxicity": 1.0, "attributes": map[string]any{"rate": kbpsToKBps(dir.kbps)}})
		}
	}
	if p.Loss > 0 {
		out = append(out, map[string]any{"name": "loss", "type": "reset_peer", "stream": "downstream",
			"toxicity": p.Loss, "attributes": map[string]any{"timeout": 0}})
	}
	return out
}

// Manager runs the proxies of one agent host.
type Manager struct {
	mu      sync.Mutex
	server  *toxiproxy.ApiServer
	proxies map[string]*toxiproxy.Proxy
	host    string
}

// NewManager makes a manager whose proxies listen on host (default 127.0.0.1).
func NewManager(host string) *Manager {
	if host == "" {
		host = "127.0.0.1"
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	return &Manager{server: srv, proxies: map[string]*toxiproxy.Proxy{}, host: host}
}

// Ensure starts (or returns) the proxy named key for profile toward upstream and returns
// its listen address.
func (m *Manager) Ensure(ctx context.Context, key, profile, upstream string) (string, error) {
	p, ok := Lookup(profile)
	if !ok {
		return "", fmt.Errorf("network profile %q: unknown (known: %v)", profile, Names())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if px, ok := m.proxies[key]; ok {
		return px.Listen, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(m.host, "0"))
	if err != nil {
		return "", fmt.Errorf("network profile %s: pick a port: %w", profile, err)
	}
	addr := ln.Addr().String()
	ln.Close()
	px := toxiproxy.NewProxy(m.server, key, addr, upstream)
	if err := px.Start(); err != nil {
		return "", fmt.Errorf("network profile %s: start proxy on %s: %w", profile, addr, err)
	}
	for _, tx := range p.toxics() {
		b, _ := json.Marshal(tx)
		if _, err := px.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
			px.Stop()
			return "", fmt.Errorf("network profile %s: toxic %s: %w", profile, tx["name"], err)
		}
	}
	m.proxies[key] = px
	return px.Listen, nil
}

// Remove stops the proxy named key.
func (m *Manager) Remove(key string) {
	m.mu.Lock()
	px := m.proxies[key]
	delete(m.proxies, key)
	m.mu.Unlock()
	if px != nil {
		px.Stop()
	}
}

// Shutdown stops every proxy.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, px := range m.proxies {
		px.Stop()
		delete(m.proxies, k)
	}
	return nil
}
