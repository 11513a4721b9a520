package agent

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	reg          *prometheus.Registry
	devices      *prometheus.GaugeVec
	tests        *prometheus.CounterVec
	claims       *prometheus.CounterVec
	claimSeconds prometheus.Histogram
	leasesLost   prometheus.Counter
	healthFails  prometheus.Counter
	dbErrors     prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		devices: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fleetlens_agent_devices",
			Help: "Devices of this host by state."}, []string{"state"}),
		tests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fleetlens_agent_attempts_total",
			Help: "Test attempts recorded, by status."}, []string{"status"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fleetlens_agent_claims_total",
			Help: "Claim calls, by result (work, empty, error)."}, []string{"result"}),
		claimSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fleetlens_agent_claim_seconds",
			Help: "Latency of farm_claim.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		leasesLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "fleetlens_agent_leases_lost_total",
			Help: "Work items abandoned because their lease was reaped."}),
		healthFails: prometheus.NewCounter(prometheus.CounterOpts{Name: "fleetlens_agent_health_failures_total",
			Help: "Health checks a device failed."}),
		dbErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "fleetlens_agent_db_errors_total",
			Help: "Database calls that failed and were retried."}),
	}
	m.reg.MustRegister(m.devices, m.tests, m.claims, m.claimSeconds, m.leasesLost, m.healthFails, m.dbErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
