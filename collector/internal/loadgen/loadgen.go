// Package loadgen drives the collector like a fleet of devices would, for benchmarks and
// fault tests: it pre-builds OTLP/HTTP protobuf batches of realistic mobile spans
// (deterministic from a seed, so a baseline can rebuild exactly the same rows) and sends
// them at a fixed rate or flat out, retrying 429/503 and connection failures the way OTLP
// SDKs do, and reports acknowledged spans and request latencies.
package loadgen

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

var models = []struct {
	id, maker, os string
	ram, cores    int
	mhz           int
}{
	{"SM-A125F", "samsung", "11", 3072, 8, 2300},
	{"Pixel 7", "Google", "14", 8192, 8, 2850},
	{"Redmi Note 8", "Xiaomi", "10", 4096, 8, 2000},
	{"moto e(7)", "motorola", "10", 2048, 8, 2000},
}

// Batch builds batch number i of a seeded run: spans spans of one device session, with ids
// unique across (seed, i).
func Batch(seed uint64, i, spans int, now time.Time, release string) ptrace.Traces {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	m := models[rng.IntN(len(models))]
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", "com.example.shop")
	ra.PutStr("service.version", release)
	ra.PutStr("device.model.identifier", m.id)
	ra.PutStr("device.manufacturer", m.maker)
	ra.PutStr("os.name", "Android")
	ra.PutStr("os.version", m.os)
	ra.PutInt("fleetlens.device.ram_mb", int64(m.ram))
	ra.PutInt("fleetlens.device.cpu_cores", int64(m.cores))
	ra.PutInt("fleetlens.device.cpu_max_mhz", int64(m.mhz))
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/fleetlens/fleetlens/sdk-hooks")
	session := fmt.Sprintf("sess-%d-%d", seed, i)
	sl := ss.Spans()
	sl.EnsureCapacity(spans)
	for k := range spans {
		sp := sl.AppendEmpty()
		var tid [16]byte
		var sid [8]byte
		binary.BigEndian.PutUint64(tid[:8], seed)
		binary.BigEndian.PutUint32(tid[8:12], uint32(i))
		binary.BigEndian.PutUint32(tid[12:], uint32(k/8))
		binary.BigEndian.PutUint32(sid[:4], uint32(i)+1)
		binary.BigEndian.PutUint32(sid[4:], uint32(k)+1)
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		dur := time.Duration(50+rng.IntN(2000)) * time.Millisecond
		start := now.Add(-time.Duration(rng.IntN(600_000)) * time.Millisecond)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(dur)))
		a := sp.Attributes()
		if k%16 == 0 {
			sp.SetName("app.start")
			a.PutStr("app.start.type", "cold")
		} else {
			sp.SetName("GET")
			sp.SetKind(ptrace.SpanKindClient)
			a.PutStr("http.request.method", "GET")
			code := 200
			if rng.IntN(50) == 0 {
				code = 503
			}
			a.PutInt("http.response.status_code", int64(code))
			a.PutStr("url.full", "https://api.example.com/v1/items/"+strconv.Itoa(rng.IntN(1000))+"?page=2")
			a.PutStr("server.address", "api.example.com")
			a.PutInt("http.response.body.size", int64(1000+rng.IntN(200_000)))
			a.PutDouble("fleetlens.http.ttfb_ms", float64(dur/time.Millisecond)*0.6)
			a.PutDouble("fleetlens.http.download_ms", float64(dur/time.Millisecond)*0.4)
		}
		a.PutStr("session.id", session)
		a.PutStr("network.connection.type", "cell")
		a.PutStr("network.connection.subtype", "lte")
	}
	return td
}

// Bodies marshals batches [0, n) of a seeded run.
func Bodies(seed uint64, n, spans int, now time.Time, release string) ([][]byte, error) {
	out := make([][]byte, n)
	for i := range out {
		b, err := ptraceotlp.NewExportRequestFromTraces(Batch(seed, i, spans, now, release)).MarshalProto()
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// Options of a run.
type Options struct {
	URL         string
	Token       string
	Concurrency int
	Rate        float64       // requests per second; 0 = as fast as the collector answers
	Retry       bool          // retry 429/503/connection errors until success
	MaxRetryFor time.Duration // give up a request after this long (with Retry)
}

// Result of a run.
type Result struct {
	Requests  int            `json:"requests"`
	Acked     int            `json:"acked"` // requests answered 200
	Codes     map[string]int `json:"codes"` // answers by status ("conn" for transport errors), retries included
	Elapsed   time.Duration  `json:"elapsed"`
	P50       time.Duration  `json:"p50"`
	P99       time.Duration  `json:"p99"`
	AckedIdxs []int          `json:"acked_idxs,omitempty"` // indexes of bodies acknowledged
}

// Run sends every body once (plus retries) and reports.
func Run(ctx context.Context, o Options, bodies [][]byte) Result {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency * 2}, Timeout: 30 * time.Second}
	var next atomic.Int64
	var mu sync.Mutex
	res := Result{Requests: len(bodies), Codes: map[string]int{}}
	var lat []time.Duration
	t0 := time.Now()
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) || ctx.Err() != nil {
					return
				}
				if o.Rate > 0 { // open-loop schedule: request i is due at i/rate
					due := t0.Add(time.Duration(float64(i) / o.Rate * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				}
				deadline := time.Now().Add(o.MaxRetryFor)
				for {
					start := time.Now()
					code, retryAfter := send(ctx, client, o, bodies[i])
					took := time.Since(start)
					mu.Lock()
					res.Codes[code]++
					if code == "200" {
						res.Acked++
						res.AckedIdxs = append(res.AckedIdxs, i)
						lat = append(lat, took)
					}
					mu.Unlock()
					if code == "200" || !o.Retry || (code != "429" && code != "503" && code != "conn") || time.Now().After(deadline) || ctx.Err() != nil {
						break
					}
					if retryAfter <= 0 {
						retryAfter = 200 * time.Millisecond
					}
					time.Sleep(retryAfter)
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(t0)
	slices.Sort(lat)
	if len(lat) > 0 {
		res.P50 = lat[len(lat)/2]
		res.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return res
}

func send(ctx context.Context, c *http.Client, o Options, body []byte) (string, time.Duration) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL, bytes.NewReader(body))
	if err != nil {
		return "conn", 0
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+o.Token)
	resp, err := c.Do(req)
	if err != nil {
		return "conn", 200 * time.Millisecond
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var ra time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		ra = time.Duration(s) * time.Second
		ra = min(ra, time.Second) // a load generator stays busy; real SDKs wait the full value
	}
	return strconv.Itoa(resp.StatusCode), ra
}
