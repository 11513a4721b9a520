package netprofile

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func rtt(t *testing.T, addr string) time.Duration {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ping" {
		t.Fatalf("echo through proxy: %q %v", line, err)
	}
	return time.Since(start)
}

func TestProfilesShapeTraffic(t *testing.T) {
	up := echoServer(t)
	m := NewManager("")
	t.Cleanup(func() { m.Shutdown(context.Background()) })
	for _, tc := range []struct {
		profile  string
		min, max time.Duration
	}{
		{"3g-average", 200 * time.Millisecond, 1500 * time.Millisecond}, // 100 ms each way
		{"dsl", 10 * time.Millisecond, 500 * time.Millisecond},          // 5 ms each way
	} {
		addr, err := m.Ensure(context.Background(), "run1-"+tc.profile, tc.profile, up)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := m.Ensure(context.Background(), "run1-"+tc.profile, tc.profile, up); again != addr {
			t.Errorf("%s: Ensure twice gave %s then %s", tc.profile, addr, again)
		}
		if d := rtt(t, addr); d < tc.min || d > tc.max {
			t.Errorf("%s: round trip %v, want %v..%v", tc.profile, d, tc.min, tc.max)
		}
		m.Remove("run1-" + tc.profile)
		if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			t.Errorf("%s: proxy still listening after Remove", tc.profile)
		}
	}
	if _, err := m.Ensure(context.Background(), "x", "5g-dreams", up); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestProfilesMatchSpec(t *testing.T) {
	// SPEC §4 (Facebook ATC): 2g-rural 20/18 kbps, 650 ms, 2 % loss.
	p, ok := Lookup("2g-rural")
	if !ok || p.DownKbps != 20 || p.UpKbps != 18 || p.DelayMS != 650 || p.Loss != 0.02 {
		t.Fatalf("2g-rural = %+v", p)
	}
	if len(Names()) != 6 {
		t.Errorf("profiles: %v", Names())
	}
	if kbpsToKBps(20) != 3 || kbpsToKBps(2000) != 250 || kbpsToKBps(1) != 1 {
		t.Error("kbps conversion")
	}
}
