// Package traffic owns `fleetlens sim traffic`: simulated user sessions of a sample shop
// app running the real sdk-hooks SDK on device models from the shared catalog, making real
// HTTP requests to a local sample backend through toxiproxy lab network profiles (SPEC §4),
// so weak-network numbers come from real delays, bandwidth limits and resets. Seeded
// regressions (slower TTFB for low-tier devices on 3g, a crash on one OS version) let the
// demo and the release gate see a known difference between two releases.
package traffic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/netprofile"
	"github.com/fleetlens/fleetlens/devicefarm/sim/catalog"
	sdkhooks "github.com/fleetlens/fleetlens/sdk-hooks"
	"github.com/fleetlens/fleetlens/sdk-hooks/device"
	"github.com/fleetlens/fleetlens/sdk-hooks/export"
	"github.com/fleetlens/fleetlens/sdk-hooks/nqe"
	sc "github.com/fleetlens/fleetlens/sdk-hooks/semconv"
	"github.com/fleetlens/fleetlens/sdk-hooks/vitals"
)

// Network is one network a session can be on: a lab profile (or none for a fast wifi)
// and what the phone's connectivity APIs would report for it.
type Network struct {
	Profile string // netprofile lab profile; "" means direct (fast wifi)
	Type    string
	Subtype string
	Weight  float64
}

// DefaultMix is a weak-network-heavy market: half the sessions on 3g-class links.
var DefaultMix = []Network{
	{"", sc.ConnWifi, "", 0.20},
	{"dsl", sc.ConnWifi, "", 0.10},
	{"3g-good", sc.ConnCell, "hspa", 0.20},
	{"3g-average", sc.ConnCell, "umts", 0.30},
	{"edge-lossy", sc.ConnCell, "edge", 0.10},
	{"2g-urban", sc.ConnCell, "gprs", 0.05},
	{"2g-rural", sc.ConnCell, "gprs", 0.05},
}

// Regression is what a release does wrong on purpose.
type Regression struct {
	// TTFB3GLowPct adds this percentage to the time to first byte of requests made by
	// low-tier devices on 3g profiles (implemented as server time, so it travels the real path).
	TTFB3GLowPct int
	// CrashOSVersion makes sessions on this OS version crash ("11", or "android/11").
	CrashOSVersion string
}

// Config configures a run.
type Config struct {
	App      string // service.name; default com.example.shop
	Release  string
	Sessions int    // default 50
	Endpoint string // OTLP/HTTP base URL of the collector
	Token    string // ingest token
	Seed     uint64 // same seed -> same devices, networks and behaviour; default 1

	Concurrency        int // sessions at once; default 16
	RequestsPerSession int // default 6
	Mix                []Network
	AndroidShare       float64 // default 0.6
	Regression         Regression
	// WorkDir holds each simulated phone's SDK queue; default a temp dir removed at the end.
	WorkDir string
	Logger  *slog.Logger
}

// Validate reports the first configuration error.
func (c *Config) Validate() error {
	switch {
	case strings.TrimSpace(c.Release) == "":
		return errors.New("traffic: --release is required")
	case c.Sessions < 0 || c.Concurrency < 0 || c.RequestsPerSession < 0:
		return errors.New("traffic: sessions, concurrency and requests must not be negative")
	case c.Regression.TTFB3GLowPct < 0 || c.Regression.TTFB3GLowPct > 1000:
		return fmt.Errorf("traffic: TTFB regression %d%% outside 0..1000", c.Regression.TTFB3GLowPct)
	case c.AndroidShare < 0 || c.AndroidShare > 1:
		return fmt.Errorf("traffic: android share %v outside 0..1", c.AndroidShare)
	}
	for _, n := range c.Mix {
		if _, ok := netprofile.Lookup(n.Profile); n.Profile != "" && !ok {
			return fmt.Errorf("traffic: network profile %q unknown (known: %v)", n.Profile, netprofile.Names())
		}
		if n.Weight < 0 {
			return fmt.Errorf("traffic: network %q has a negative weight", n.Profile)
		}
	}
	up := export.UploaderConfig{Endpoint: c.Endpoint}
	if err := up.Validate(); err != nil {
		return fmt.Errorf("traffic: --endpoint: %w", err)
	}
	return nil
}

func (c *Config) defaults() {
	if c.App == "" {
		c.App = "com.example.shop"
	}
	if c.Sessions == 0 {
		c.Sessions = 50
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.RequestsPerSession == 0 {
		c.RequestsPerSession = 6
	}
	if len(c.Mix) == 0 {
		c.Mix = DefaultMix
	}
	if c.AndroidShare == 0 {
		c.AndroidShare = 0.6
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Result summarises a run.
type Result struct {
	Sessions, Requests, RequestErrors, Crashes int64
	Uploaded                                   int64 // OTLP batches delivered
	LeftQueued                                 int64 // batches not delivered when the run ended
	Dropped                                    int64
	ByNetwork                                  map[string]int64 // sessions per profile ("wifi" for direct)
	Elapsed                                    time.Duration
}

// Run plays cfg.Sessions sessions and returns when all have ended and uploaded (or ctx ends).
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg.defaults()
	t0 := time.Now()
	work := cfg.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "fleetlens-traffic-")
		if err != nil {
			return Result{}, fmt.Errorf("traffic: work dir: %w", err)
		}
		defer os.RemoveAll(d)
		work = d
	}
	be, err := StartBackend()
	if err != nil {
		return Result{}, err
	}
	defer be.Shutdown(context.WithoutCancel(ctx))
	nets := netprofile.NewManager("127.0.0.1")
	defer nets.Shutdown(context.WithoutCancel(ctx))
	addrs := map[string]string{"": be.Addr()}
	for _, n := range cfg.Mix {
		if n.Profile == "" || addrs[n.Profile] != "" {
			continue
		}
		a, err := nets.Ensure(ctx, "traffic-"+n.Profile, n.Profile, be.Addr())
		if err != nil {
			return Result{}, fmt.Errorf("traffic: %w", err)
		}
		addrs[n.Profile] = a
	}

	// Calibrate the TTFB regression on each 3g profile's measured TTFB, so "+40%" is 40% of
	// what this machine's proxies actually produce, not of a nominal figure.
	ttfb := map[string]time.Duration{}
	if cfg.Regression.TTFB3GLowPct > 0 {
		var pmu sync.Mutex
		var pwg sync.WaitGroup
		for prof, a := range addrs {
			if !strings.HasPrefix(prof, "3g") {
				continue
			}
			pwg.Go(func() {
				d := probeTTFB(ctx, "http://"+a+"/api/feed")
				pmu.Lock()
				ttfb[prof] = d
				pmu.Unlock()
			})
		}
		pwg.Wait()
	}

	android := catalog.Fleet(catalog.Android, cfg.Sessions, "traffic")
	ios := catalog.Fleet(catalog.IOS, cfg.Sessions, "traffic")
	res := Result{ByNetwork: map[string]int64{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, cfg.Concurrency)
	var ai, ii atomic.Int64
	for i := range cfg.Sessions {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		var inst catalog.Instance
		if rng.Float64() < cfg.AndroidShare {
			inst = android[ai.Add(1)-1]
		} else {
			inst = ios[ii.Add(1)-1]
		}
		nw := pick(rng, cfg.Mix)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return res, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s := session{cfg: &cfg, rng: rng, inst: inst, nw: nw, base: "http://" + addrs[nw.Profile],
				dir: filepath.Join(work, strconv.Itoa(i)), ttfb: ttfb[nw.Profile]}
			out := s.run(ctx)
			mu.Lock()
			defer mu.Unlock()
			res.Sessions++
			res.Requests += out.requests
			res.RequestErrors += out.errors
			res.Uploaded += out.stats.Uploaded
			res.LeftQueued += int64(out.stats.QueuedBatches)
			for _, v := range out.stats.Dropped {
				res.Dropped += v
			}
			if out.crashed {
				res.Crashes++
			}
			name := nw.Profile
			if name == "" {
				name = "wifi"
			}
			res.ByNetwork[name]++
			if out.err != nil {
				cfg.Logger.Warn("traffic: session failed", "session", i, "err", out.err)
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(t0)
	return res, ctx.Err()
}

func pick(rng *rand.Rand, mix []Network) Network {
	total := 0.0
	for _, n := range mix {
		total += n.Weight
	}
	x := rng.Float64() * total
	for _, n := range mix {
		if x < n.Weight {
			return n
		}
		x -= n.Weight
	}
	return mix[len(mix)-1]
}

var carriers = []struct{ name, mcc, mnc string }{
	{"Vodafone", "262", "02"}, {"T-Mobile", "310", "260"}, {"Airtel", "404", "10"}, {"Orange", "208", "01"}, {"Telcel", "334", "020"},
}

type session struct {
	cfg  *Config
	rng  *rand.Rand
	inst catalog.Instance
	nw   Network
	base string
	dir  string
	ttfb time.Duration // calibrated TTFB of this session's profile (regression runs only)
}

type sessionResult struct {
	requests, errors int64
	crashed          bool
	stats            sdkhooks.Stats
	err              error
}

func (s *session) profile() device.Profile {
	m := s.inst.Model
	return device.Profile{Platform: device.Platform(m.Platform), Manufacturer: m.Manufacturer,
		Model: firstNonEmpty(m.ModelCode, m.ProductType, m.Name), ModelName: m.Name, OSVersion: s.inst.OSVersion,
		RAMMB: m.RAMMB, CPUCores: m.CPUCores, CPUMaxMHz: m.CPUMaxMHz}
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func (s *session) crashes() bool {
	want := s.cfg.Regression.CrashOSVersion
	if want == "" {
		return false
	}
	if plat, ver, ok := strings.Cut(want, "/"); ok {
		return strings.EqualFold(plat, string(s.inst.Model.Platform)) && ver == s.inst.OSVersion
	}
	return want == s.inst.OSVersion
}

func (s *session) run(ctx context.Context) (out sessionResult) {
	p := s.profile()
	headers := map[string]string{}
	if s.cfg.Token != "" {
		headers["Authorization"] = "Bearer " + s.cfg.Token
	}
	sdk, err := sdkhooks.Start(ctx, sdkhooks.Config{
		ServiceName: s.cfg.App, Release: s.cfg.Release, Endpoint: s.cfg.Endpoint, Headers: headers,
		QueueDir: s.dir, Device: p, DeviceID: s.inst.Serial, ExportInterval: time.Second,
		UploadInitialBackoff: 200 * time.Millisecond, UploadMaxBackoff: 5 * time.Second,
	})
	if err != nil {
		out.err = err
		return out
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := sdk.Shutdown(sctx); err != nil && out.err == nil {
			out.err = err
		}
		out.stats = sdk.Stats()
	}()
	c := carriers[s.rng.IntN(len(carriers))]
	info := sdkhooks.NetworkInfo{Type: s.nw.Type, Subtype: s.nw.Subtype}
	if s.nw.Type == sc.ConnCell {
		info.CarrierName, info.CarrierMCC, info.CarrierMNC = c.name, c.mcc, c.mnc
	}
	sdk.SetNetwork(info)

	tier := p.Tier()
	startType, startDur := s.appStart(tier)
	now := time.Now()
	sdk.AppStarted(startType, now.Add(-startDur), now)

	client := &http.Client{Transport: sdk.WrapTransport(&http.Transport{MaxIdleConnsPerHost: 2}), Timeout: 90 * time.Second}
	defer client.CloseIdleConnections()
	crashAt := -1
	if s.crashes() {
		crashAt = s.rng.IntN(max(s.cfg.RequestsPerSession, 1))
	}
	for r := range s.cfg.RequestsPerSession {
		if ctx.Err() != nil {
			break
		}
		sdk.Heartbeat()
		if r == crashAt {
			s.crash(sdk)
			out.crashed = true
			return out
		}
		method, path := s.nextRequest(r, sdk)
		out.requests++
		if err := do(ctx, client, method, s.base+path, s.extraDelay(tier, sdk)); err != nil {
			out.errors++
		}
	}
	sdk.FrameStats(s.frames(tier))
	sdk.EndSession()
	return out
}

// appStart draws a plausible start: mostly cold for a fresh session, slower on weak devices.
func (s *session) appStart(tier device.Tier) (vitals.StartType, time.Duration) {
	base := map[device.Tier]float64{device.TierLow: 3200, device.TierMid: 1700, device.TierHigh: 900}[tier]
	if base == 0 {
		base = 1700
	}
	t := vitals.StartCold
	switch x := s.rng.Float64(); {
	case x > 0.85:
		t, base = vitals.StartHot, base*0.25
	case x > 0.6:
		t, base = vitals.StartWarm, base*0.5
	}
	ms := base * (0.6 + 0.9*s.rng.Float64())
	return t, time.Duration(ms) * time.Millisecond
}

// extraDelay is the seeded TTFB regression for low-tier devices on 3g: pct of the TTFB
// the request would have without it. That TTFB is read from the session's own SDK
// estimate, which already includes earlier regressed requests, hence pct/(100+pct) of it
// (the fixed point of est = base + extra is est = base*(1+pct)); before the first sample
// it is the profile's measured TTFB (else its nominal one: both link delays plus think
// time). Reading the live estimate keeps the regression at pct% on a loaded machine too.
func (s *session) extraDelay(tier device.Tier, sdk *sdkhooks.SDK) int {
	pct := s.cfg.Regression.TTFB3GLowPct
	if pct == 0 || tier != device.TierLow || !strings.HasPrefix(s.nw.Profile, "3g") {
		return 0
	}
	if _, est := sdk.Network(); est.RTT > 0 {
		return int(est.RTT.Milliseconds()) * pct / (100 + pct)
	}
	base := int(s.ttfb / time.Millisecond)
	if base <= 0 {
		p, _ := netprofile.Lookup(s.nw.Profile)
		base = 2*p.DelayMS + int(ThinkTime/time.Millisecond)
	}
	return base * pct / 100
}

// probeTTFB measures the median time to first byte of three requests to url, the way the
// SDK does (request written to first response byte).
func probeTTFB(ctx context.Context, url string) time.Duration {
	c := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	var ds []time.Duration
	for range 3 {
		var wrote, first time.Time
		tr := &httptrace.ClientTrace{
			WroteRequest:         func(httptrace.WroteRequestInfo) { wrote = time.Now() },
			GotFirstResponseByte: func() { first = time.Now() },
		}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, tr), http.MethodGet, url, nil)
		if err != nil {
			return 0
		}
		resp, err := c.Do(req)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if !wrote.IsZero() && first.After(wrote) {
			ds = append(ds, first.Sub(wrote))
		}
	}
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// nextRequest is the sample app's screen flow: a feed, then images sized by the SDK's own
// network class (apps adapt image quality to NQE), a cart POST now and then.
func (s *session) nextRequest(r int, sdk *sdkhooks.SDK) (method, path string) {
	if r == 0 || r%4 == 0 {
		return http.MethodGet, "/api/feed?page=" + strconv.Itoa(r/4)
	}
	if s.rng.Float64() < 0.15 {
		return http.MethodPost, "/api/cart"
	}
	_, est := sdk.Network()
	size := 48_000
	switch est.Type {
	case nqe.ECT4G:
		size = 96_000
	case nqe.ECT2G, nqe.ECTSlow2G:
		size = 8_000
	}
	return http.MethodGet, "/api/image?id=" + strconv.Itoa(s.rng.IntN(40)) + "&bytes=" + strconv.Itoa(size)
}

func do(ctx context.Context, c *http.Client, method, url string, extraMs int) error {
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"sku":"A-1","qty":1}`)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if extraMs > 0 {
		req.Header.Set("X-Sim-Delay-Ms", strconv.Itoa(extraMs))
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func (s *session) crash(sdk *sdkhooks.SDK) {
	if s.inst.Model.Platform == catalog.IOS {
		sdk.Crash("EXC_BAD_ACCESS", "KERN_INVALID_ADDRESS at 0x0000000000000010", "0 Shop 0x1000a4f2c CartViewController.viewDidLoad() + 412", "mach")
		return
	}
	sdk.Crash("java.lang.NullPointerException", "Attempt to invoke virtual method 'int java.util.List.size()' on a null object reference",
		"at com.example.shop.CartFragment.onViewCreated(CartFragment.kt:88)", "jvm")
}

// frames draws a session's frame counts: weaker devices drop more frames.
func (s *session) frames(tier device.Tier) (total, slow, frozen int64) {
	total = int64(1800 + s.rng.IntN(1800))
	slowP := map[device.Tier]float64{device.TierLow: 0.09, device.TierMid: 0.04, device.TierHigh: 0.015}[tier]
	if slowP == 0 {
		slowP = 0.04
	}
	slow = int64(float64(total) * slowP * (0.5 + s.rng.Float64()))
	frozen = int64(s.rng.IntN(3))
	if tier == device.TierLow {
		frozen += int64(s.rng.IntN(3))
	}
	return total, slow, frozen
}
