package android

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

func TestTestLog(t *testing.T) {
	logcat := strings.Join([]string{
		"--------- beginning of main",
		"12-01 10:00:00.000  100  111 I TestRunner: started: a(com.x.T)",
		"12-01 10:00:00.100  100  111 I TestRunner: finished: a(com.x.T)",
		"12-01 10:00:00.200  100  111 I TestRunner: started: b(com.x.T)",
		"12-01 10:00:00.300  100  111 D OkHttp  : GET /cart 500",
		"12-01 10:00:00.400  100  111 E TestRunner: failed: b(com.x.T)",
		"12-01 10:00:00.500  100  111 I TestRunner: finished: b(com.x.T)",
		"12-01 10:00:01.000  100  111 I Other   : after",
		"12-01 10:00:02.000  100  111 I Other   : much later",
	}, "\n")
	at := func(s string) time.Time {
		tt, _ := time.Parse("2006 01-02 15:04:05.000", "2026 12-01 "+s)
		return tt
	}
	cases := []struct {
		name     string
		tc       driver.TestCase
		from, to string
		want     []string
		not      []string
	}{
		{"markers", driver.TestCase{Class: "com.x.T", Method: "b"}, "09:00:00.000", "11:00:00.000",
			[]string{"started: b(", "GET /cart 500", "finished: b("}, []string{"started: a(", "after"}},
		{"no markers: time window", driver.TestCase{Class: "com.x.T", Method: "zzz"}, "10:00:00.950", "10:00:01.500",
			[]string{"after"}, []string{"much later", "started:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := testLog(logcat, c.tc, at(c.from), at(c.to))
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("lacks %q:\n%s", w, got)
				}
			}
			for _, n := range c.not {
				if strings.Contains(got, n) {
					t.Errorf("has %q:\n%s", n, got)
				}
			}
		})
	}
}
