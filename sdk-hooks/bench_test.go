package sdkhooks

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/sdk-hooks/internal/otlptest"
	"github.com/fleetlens/fleetlens/sdk-hooks/queue"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func roundTrip(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

// BenchmarkHTTPOverhead measures an instrumented request against an uninstrumented
// http.Client round trip to the same local server, interleaved in blocks within one run so
// both see the same machine load. Reports the added ns and allocations per request.
func BenchmarkHTTPOverhead(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":true}`) }))
	defer srv.Close()
	rcv := otlptest.Start(b)
	rcv.Down() // the collector is another machine: keep its decoding off this CPU
	s := startSDK(b, rcv.URL(), b.TempDir(), nil)
	plain := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	inst := &http.Client{Transport: s.WrapTransport(&http.Transport{MaxIdleConnsPerHost: 4})}
	url := srv.URL + "/api/small?q=1"
	roundTrip(b, plain, url)
	roundTrip(b, inst, url)
	const block = 64
	var tPlain, tInst time.Duration
	var aPlain, aInst uint64
	b.ResetTimer()
	for done := 0; done < b.N; done += block {
		n := min(block, b.N-done)
		m0, t0 := mallocs(), time.Now()
		for range n {
			roundTrip(b, plain, url)
		}
		m1, t1 := mallocs(), time.Now()
		for range n {
			roundTrip(b, inst, url)
		}
		m2, t2 := mallocs(), time.Now()
		tPlain += t1.Sub(t0)
		tInst += t2.Sub(t1)
		aPlain += m1 - m0
		aInst += m2 - m1
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(tPlain.Nanoseconds())/n, "baseline-ns/req")
	b.ReportMetric(float64(tInst.Nanoseconds())/n, "instrumented-ns/req")
	b.ReportMetric(float64((tInst-tPlain).Nanoseconds())/n, "added-ns/req")
	b.ReportMetric(float64(tInst)/float64(tPlain), "ratio")
	b.ReportMetric((float64(aInst)-float64(aPlain))/n, "added-allocs/req")
}

// measure times n calls of f in the running benchmark (testing.Benchmark cannot nest).
func measure(n int, f func()) (nsPerOp, allocsPerOp float64) {
	m0, t0 := mallocs(), time.Now()
	for range n {
		f()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n), float64(mallocs()-m0) / float64(n)
}

// cpuNs is this process's user+system CPU time: on a shared machine it is far less
// disturbed by other processes than wall time.
func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// memTransport answers from memory: it isolates the hook's own cost from network noise.
type memTransport struct{}

func (memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"ok":true}`)), Header: http.Header{}, Request: r}, nil
}

// BenchmarkHookOnly is the same comparison over an in-memory transport; the b.N loop is
// the instrumented one, the baseline is measured before it in the same run. "onpath"
// exports to a discarding exporter so only the request path (and batching) is measured;
// "allin" also pays, amortized, for OTLP encoding, gzip and the fsynced queue write on the
// background goroutines.
func BenchmarkHookOnly(b *testing.B) {
	b.Run("onpath", func(b *testing.B) { benchHook(b, discard{}) })
	b.Run("allin", func(b *testing.B) { benchHook(b, nil) })
}

// discard is a span exporter that drops batches: with it the batch processor runs in its
// steady state but nothing is encoded, isolating the request path.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

func benchHook(b *testing.B, exp sdktrace.SpanExporter) {
	rcv := otlptest.Start(b)
	rcv.Down()
	s := startSDK(b, rcv.URL(), b.TempDir(), func(c *Config) { c.ExportInterval = 50 * time.Millisecond; c.spanExporter = exp })
	plain := &http.Client{Transport: memTransport{}}
	inst := &http.Client{Transport: s.WrapTransport(memTransport{})}
	url := "http://api.example.com/api/small?q=1"
	nBase := max(b.N, 1000)
	c0 := cpuNs()
	baseNs, baseAllocs := measure(nBase, func() { roundTrip(b, plain, url) })
	baseCPU := float64(cpuNs()-c0) / float64(nBase)
	b.ReportAllocs()
	m0 := mallocs()
	c1 := cpuNs()
	b.ResetTimer()
	for range b.N {
		roundTrip(b, inst, url)
	}
	b.StopTimer()
	instCPU := float64(cpuNs()-c1) / float64(b.N)
	b.ReportMetric(baseCPU, "baseline-cpu-ns/op")
	b.ReportMetric(instCPU-baseCPU, "added-cpu-ns/op")
	instNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(baseNs, "baseline-ns/op")
	b.ReportMetric(baseAllocs, "baseline-allocs/op")
	b.ReportMetric(instNs-baseNs, "added-ns/op")
	b.ReportMetric(float64(mallocs()-m0)/float64(b.N)-baseAllocs, "added-allocs/op")
	b.ReportMetric(instNs/baseNs, "ratio")
}

// BenchmarkStart measures SDK start (queue open, profile, exporters, uploader, session).
func BenchmarkStart(b *testing.B) {
	rcv := otlptest.Start(b)
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		s, err := Start(context.Background(), Config{ServiceName: "a", Release: "1", Endpoint: rcv.URL(), QueueDir: dir, Device: lowEndAndroid})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.Shutdown(ctx)
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(5e6, "target-ns")
}

// BenchmarkQueueAppend appends SDK-produced span batches (the real gzip OTLP bodies) with
// fsync, reporting bytes on disk per span; the no-fsync run in the same benchmark is the
// baseline for the durability cost.
func BenchmarkQueueAppend(b *testing.B) {
	batch, spans := spanBatch(b, 100)
	dir := b.TempDir()
	nq, _ := queue.Open(queue.Config{Dir: filepath.Join(dir, "nosync"), MaxBytes: 1 << 30, NoSync: true})
	baseNs, _ := measure(200, func() { nq.Append("traces", batch) })
	q, err := queue.Open(queue.Config{Dir: filepath.Join(dir, "sync"), MaxBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for range b.N {
		if _, err := q.Append("traces", batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(q.Stats().Bytes)/float64(b.N*spans), "disk-bytes/span")
	b.ReportMetric(float64(b.N*spans)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(baseNs, "nosync-ns/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/baseNs, "fsync-ratio")
}

// spanBatch produces one real queued trace batch of n request spans.
func spanBatch(b *testing.B, n int) ([]byte, int) {
	rcv := otlptest.Start(b)
	rcv.Down()
	dir := b.TempDir()
	s := startSDK(b, rcv.URL(), dir, func(c *Config) { c.ExportInterval = time.Hour })
	c := &http.Client{Transport: s.WrapTransport(memTransport{})}
	for range n {
		roundTrip(b, c, "http://api.example.com/api/v2/catalog/items?page=3")
	}
	s.tp.ForceFlush(context.Background())
	q, _ := queue.Open(queue.Config{Dir: filepath.Join(dir, "otlp")})
	for {
		r, ok, _ := q.Peek()
		if !ok {
			b.Fatal("no trace batch queued")
		}
		if r.Kind == "traces" {
			return r.Payload, n
		}
		q.Remove(r.Seq)
	}
}

// BenchmarkFullQueueMemory: collector down, the 10 MiB queue already full of real span
// batches, the app keeps making requests; reports the peak Go heap in use over the heap
// before the SDK started, and how many old batches were evicted to stay under the bound.
func BenchmarkFullQueueMemory(b *testing.B) {
	batch, _ := spanBatch(b, 100)
	dir := b.TempDir()
	q, err := queue.Open(queue.Config{Dir: filepath.Join(dir, "otlp"), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	for q.Stats().Bytes+int64(len(batch)) < queue.DefaultMaxBytes {
		q.Append("traces", batch)
	}
	rcv := otlptest.Start(b)
	rcv.Down()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	before := m.HeapInuse
	s := startSDK(b, rcv.URL(), dir, func(c *Config) { c.ExportInterval = 20 * time.Millisecond })
	c := &http.Client{Transport: s.WrapTransport(memTransport{})}
	peak := uint64(0)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		roundTrip(b, c, "http://api.example.com/api/v2/catalog/items?page=3")
		if i%500 == 0 {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		}
	}
	b.StopTimer()
	s.Flush(context.Background())
	runtime.ReadMemStats(&m)
	peak = max(peak, m.HeapInuse)
	st := s.Stats()
	b.ReportMetric(float64(peak-before)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(st.QueuedBytes)/(1<<20), "queue-MiB")
	b.ReportMetric(float64(st.Dropped[queue.DropOverflow]), "overflow-evicted")
	_ = os.RemoveAll(dir)
}
