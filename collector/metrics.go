package collector

import (
	"errors"
	"strconv"
	"time"

	"github.com/fleetlens/fleetlens/collector/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics is the collector's self-telemetry, served on the admin port's /metrics.
type metrics struct {
	reg             *prometheus.Registry
	received        *prometheus.CounterVec
	stored          *prometheus.CounterVec
	duplicates      *prometheus.CounterVec
	rejectedItems   *prometheus.CounterVec
	rejectedReqs    *prometheus.CounterVec
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	batchDuration   prometheus.Histogram
	queueBytes      prometheus.Gauge
	writeFailures   prometheus.Counter
}

func newMetrics() *metrics {
	const ns = "fleetlens_collector"
	m := &metrics{
		reg: prometheus.NewRegistry(),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "received_items_total",
			Help: "Spans and log records decoded from authenticated requests."}, []string{"signal", "transport"}),
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "stored_items_total",
			Help: "Spans and log records committed to PostgreSQL."}, []string{"signal"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "duplicate_items_total",
			Help: "Items skipped because a client retry had already stored them."}, []string{"signal"}),
		rejectedItems: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rejected_items_total",
			Help: "Invalid spans and log records left out of otherwise stored requests, by reason."}, []string{"signal", "reason"}),
		rejectedReqs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rejected_requests_total",
			Help: "Requests answered with an error, by reason."}, []string{"signal", "transport", "reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "requests_total",
			Help: "Requests by HTTP status or gRPC code."}, []string{"signal", "transport", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "request_duration_seconds",
			Help: "Request latency from receipt to answer (includes the commit).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)},
			[]string{"signal", "transport"}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "batch_commit_duration_seconds",
			Help: "Time of one group-commit transaction.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		queueBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "queue_bytes",
			Help: "Approximate memory of rows waiting for their commit."}),
		writeFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "write_failures_total",
			Help: "Transactions that failed for a reason other than the data (database down, timeout)."}),
	}
	m.reg.MustRegister(m.received, m.stored, m.duplicates, m.rejectedItems, m.rejectedReqs, m.requests,
		m.requestDuration, m.batchDuration, m.queueBytes, m.writeFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// receiver.Observer

func (m *metrics) Received(signal, transport string, items int) {
	m.received.WithLabelValues(signal, transport).Add(float64(items))
}

func (m *metrics) RequestRejected(signal, transport, reason string) {
	m.rejectedReqs.WithLabelValues(signal, transport, reason).Inc()
}

func (m *metrics) Request(signal, transport string, code int, took time.Duration) {
	m.requests.WithLabelValues(signal, transport, strconv.Itoa(code)).Inc()
	m.requestDuration.WithLabelValues(signal, transport).Observe(took.Seconds())
}

// store.WriterObserver

func (m *metrics) Committed(spans, events, dupSpans, dupEvents int, took time.Duration) {
	m.stored.WithLabelValues("traces").Add(float64(spans))
	m.stored.WithLabelValues("logs").Add(float64(events))
	m.duplicates.WithLabelValues("traces").Add(float64(dupSpans))
	m.duplicates.WithLabelValues("logs").Add(float64(dupEvents))
	m.batchDuration.Observe(took.Seconds())
}

func (m *metrics) Failed(err error) {
	var inv *store.InvalidError
	if !errors.As(err, &inv) {
		m.writeFailures.Inc()
	}
}

func (m *metrics) QueueBytes(n int64) { m.queueBytes.Set(float64(n)) }
