package adbd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/adbserver"
)

// TestDetachAttach: a device pulled off the bus leaves `adb devices` (or shows offline while
// adb retries), and comes back when plugged in again.
func TestDetachAttach(t *testing.T) {
	r := newRig(t, Config{Count: 2, Seed: "detach"})
	r.connectAll()
	d := r.fleet.Devices()[0]
	r.waitState(d.Addr(), "device")
	d.Detach()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _ := adbserver.Query(context.Background(), r.srv.Addr, "host:devices")
		if !strings.Contains(out, d.Addr()+"\tdevice") {
			t.Logf("after detach:\n%s", out)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("adb still lists the detached device as online:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := d.Attach(); err != nil {
		t.Fatal(err)
	}
	r.adbOK("connect", d.Addr())
	r.waitState(d.Addr(), "device")
}
