package enrich

import (
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/collector/internal/loadgen"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// BenchmarkDecodeEnrich measures the collector's CPU per OTLP request of 512 spans:
// protobuf decode (pdata) plus scrub + enrich + attribute JSON. Baseline in the same run:
// decode alone, so the ratio is what enrichment adds.
func BenchmarkDecodeEnrich(b *testing.B) {
	bodies, err := loadgen.Bodies(1, 16, 512, time.Now(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	e := New(DefaultConfig())
	var decodeOnly time.Duration
	{
		t0 := time.Now()
		for i := range 64 {
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalProto(bodies[i%len(bodies)]); err != nil {
				b.Fatal(err)
			}
		}
		decodeOnly = time.Since(t0) / 64
	}
	b.ResetTimer()
	for i := range b.N {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(bodies[i%len(bodies)]); err != nil {
			b.Fatal(err)
		}
		rows, _ := e.Traces("app", req.Traces(), time.Now())
		if len(rows) != 512 {
			b.Fatal(len(rows))
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Nanoseconds())/512, "ns/span")
	b.ReportMetric(float64(decodeOnly.Nanoseconds())/512, "decode_ns/span")
	b.ReportMetric(float64(per)/float64(decodeOnly), "ratio_to_decode")
}
