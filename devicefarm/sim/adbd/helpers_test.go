package adbd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/adbserver"
)

// rig is a fleet of simulated devices connected to a private real adb server.
type rig struct {
	t     testing.TB
	fleet *Fleet
	srv   *adbserver.Server
}

func newRig(t testing.TB, cfg Config) *rig {
	t.Helper()
	if cfg.TimeScale == 0 {
		cfg.TimeScale = 0.01
	}
	f, err := NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Shutdown(context.Background()) })
	return &rig{t: t, fleet: f, srv: adbserver.ForTest(t)}
}

// connectAll runs host:connect for every device, one at a time as a user's `adb connect`
// loop would: Debian's adb 29 has been seen to crash (fdevent "failed to unregister fd")
// when several connects race with the new transports' handshakes.
func (r *rig) connectAll() {
	r.t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 1)
	errs := make(chan error, len(r.fleet.Devices()))
	for _, d := range r.fleet.Devices() {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			resp, err := adbserver.Query(ctx, r.srv.Addr, "host:connect:"+d.Addr())
			if err == nil && !strings.HasPrefix(resp, "connected to") && !strings.HasPrefix(resp, "already connected") {
				err = errors.New(resp)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		log, _ := os.ReadFile(filepath.Join(r.srv.Home, "adb-server.log"))
		r.t.Fatalf("connect: %v\nadb server log:\n%s", err, log)
	}
}

// waitState polls host:devices until serial shows state (adb connects asynchronously).
func (r *rig) waitState(serial, state string) {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		out, err := adbserver.Query(context.Background(), r.srv.Addr, "host:devices")
		if err == nil {
			last = out
			for _, l := range strings.Split(out, "\n") {
				f := strings.Fields(l)
				if len(f) == 2 && f[0] == serial && f[1] == state {
					return
				}
				if state == "" && len(f) == 2 && f[0] == serial {
					goto next
				}
			}
			if state == "" {
				return
			}
		}
	next:
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(r.srv.Home, "adb-server.log"))
	r.t.Fatalf("device %s never became %q; host:devices:\n%s\nadb server log:\n%s", serial, state, last, log)
}

type result struct {
	stdout, stderr string
	code           int
}

// adb runs the real adb CLI against the rig's server.
func (r *rig) adb(args ...string) result {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := r.srv.Command(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("adb %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func (r *rig) adbOK(args ...string) string {
	r.t.Helper()
	res := r.adb(args...)
	if res.code != 0 {
		r.t.Fatalf("adb %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res.stdout
}

func writeAPK(t testing.TB, dir string, m Manifest, size int64) string {
	t.Helper()
	p := filepath.Join(dir, m.Package+".apk")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := BuildAPK(f, m, size); err != nil {
		t.Fatal(err)
	}
	return p
}

// demoTests is a suite that exercises every scripted outcome.
func demoTests() Manifest {
	return Manifest{Package: "com.example.shop.test", VersionName: "1.0", VersionCode: 1,
		Instrumentation: &Instrumentation{TargetPackage: "com.example.shop", Tests: []TestSpec{
			{Class: "com.example.shop.LoginTest", Method: "logsIn", DurationMS: 1200},
			{Class: "com.example.shop.LoginTest", Method: "rejectsBadPassword", DurationMS: 900,
				Behaviours: []Behaviour{{When: Match{OS: []string{"10"}}, Outcome: OutcomeFail, Message: "expected:<Wrong password> but was:<null>"}}},
			{Class: "com.example.shop.CartTest", Method: "addsItem", DurationMS: 700},
			{Class: "com.example.shop.CartTest", Method: "skipsOnTablets", Behaviours: []Behaviour{{Outcome: OutcomeIgnored}}},
			{Class: "com.example.shop.CartTest", Method: "needsNetwork", Behaviours: []Behaviour{{Outcome: OutcomeAssumption, Message: "no network"}}},
			{Class: "com.example.shop.CheckoutTest", Method: "paysWithCard", DurationMS: 2000},
		}}}
}
