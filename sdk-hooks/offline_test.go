package sdkhooks

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/sdk-hooks/internal/otlptest"
	"github.com/fleetlens/fleetlens/sdk-hooks/queue"
)

// TestOfflineThenOnline: the collector is down while the app works and even restarts;
// when it comes back every span arrives exactly once.
func TestOfflineThenOnline(t *testing.T) {
	rcv := otlptest.Start(t)
	api := backend(t)
	dir := t.TempDir()
	rcv.Down()

	s1 := startSDK(t, rcv.URL(), dir, nil)
	c1 := &http.Client{Transport: s1.WrapTransport(nil)}
	for range 20 {
		get(t, c1, api.URL+"/api/small")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	s1.Shutdown(ctx) // the app is killed/closed while offline: queued data stays on disk
	cancel()
	if st := s1.Stats(); st.QueuedBatches == 0 || st.Uploaded != 0 {
		t.Fatalf("offline stats %+v", st)
	}

	s2 := startSDK(t, rcv.URL(), dir, nil) // next app launch, still offline
	c2 := &http.Client{Transport: s2.WrapTransport(nil)}
	for range 10 {
		get(t, c2, api.URL+"/api/small")
	}
	s2.Flush(context.Background())
	time.Sleep(100 * time.Millisecond)
	rcv.Up()
	s2.NetworkAvailable()
	drain(t, s2)

	if err := otlptest.Wait(5*time.Second, func() bool { return len(rcv.Spans()) >= 30 }); err != nil {
		t.Fatalf("%d spans arrived, want 30", len(rcv.Spans()))
	}
	time.Sleep(100 * time.Millisecond)
	seen := map[string]int{}
	for _, sp := range rcv.Spans() {
		seen[string(sp.SpanId)]++
	}
	if len(seen) != 30 || len(rcv.Spans()) != 30 {
		t.Fatalf("%d spans, %d distinct, want 30 exactly once", len(rcv.Spans()), len(seen))
	}
	if d := rcv.DuplicateBatches(); len(d) > 0 {
		t.Fatalf("duplicate uploads %v", d)
	}
	if st := s2.Stats(); len(st.Dropped) != 0 {
		t.Fatalf("dropped while offline: %v", st.Dropped)
	}
}

// TestRetryAfter: a 503 with Retry-After holds the next attempt back that long, then
// the batch is delivered once.
func TestRetryAfter(t *testing.T) {
	rcv := otlptest.Start(t)
	rcv.Fail(http.StatusServiceUnavailable, "1")
	s := startSDK(t, rcv.URL(), t.TempDir(), nil)
	s.FrameRendered(time.Second) // one jank event
	s.Flush(context.Background())
	if err := otlptest.Wait(3*time.Second, func() bool { return rcv.Requests() >= 1 }); err != nil {
		t.Fatal("no upload attempt")
	}
	time.Sleep(500 * time.Millisecond)
	if n := rcv.Requests(); n != 1 {
		t.Fatalf("%d attempts within 500 ms of a Retry-After: 1", n)
	}
	rcv.Fail(0, "")
	if err := otlptest.Wait(3*time.Second, func() bool { return len(rcv.Logs()) >= 2 }); err != nil {
		t.Fatalf("not delivered after Retry-After: %d logs", len(rcv.Logs()))
	}
	hits := rcv.Hits()
	if gap := hits[1].Sub(hits[0]); gap < 900*time.Millisecond {
		t.Fatalf("retried after %v despite Retry-After: 1", gap)
	}
}

// TestRejectedIsCounted: a permanent 400 discards the batch and counts it.
func TestRejectedIsCounted(t *testing.T) {
	rcv := otlptest.Start(t)
	rcv.Fail(http.StatusBadRequest, "")
	s := startSDK(t, rcv.URL(), t.TempDir(), nil)
	s.FrameRendered(time.Second)
	drain(t, s)
	if d := s.Stats().Dropped[queue.DropRejected]; d == 0 {
		t.Fatalf("rejected batch not counted: %v", s.Stats().Dropped)
	}
	// The count is reported upstream once, on the next session event.
	rcv.Fail(0, "")
	s.StartSession()
	drain(t, s)
	otlptest.Wait(3*time.Second, func() bool { return len(rcv.Logs()) > 0 })
	found := false
	for _, l := range rcv.Logs() {
		if otlptest.Attr(l.Attributes, "fleetlens.sdk.dropped.rejected") != "" {
			found = true
		}
	}
	if !found {
		t.Fatal("dropped count never reported upstream")
	}
}
