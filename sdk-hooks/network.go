package sdkhooks

import (
	"time"

	"github.com/fleetlens/fleetlens/sdk-hooks/nqe"
	sc "github.com/fleetlens/fleetlens/sdk-hooks/semconv"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// NetworkInfo is what the platform reports about the active network
// (Android ConnectivityManager/TelephonyManager, iOS NWPathMonitor/CTTelephonyNetworkInfo).
type NetworkInfo struct {
	Type        string // semconv network.connection.type: wifi, wired, cell, unavailable, unknown
	Subtype     string // semconv network.connection.subtype: gprs, edge, umts, hspa, lte, nr, ...
	CarrierName string
	CarrierMCC  string
	CarrierMNC  string
	CarrierICC  string
}

// netState is immutable once published; updates swap the pointer so the request hot path
// reads it without locks.
type netState struct {
	info NetworkInfo
	est  nqe.Estimate
	kv   []attribute.KeyValue
}

func newNetState(info NetworkInfo, est nqe.Estimate) *netState {
	n := &netState{info: info, est: est}
	n.kv = append(n.kv,
		attribute.String(sc.NetworkConnectionType, orUnknown(info.Type)),
		attribute.String(sc.NetworkClass, string(est.Type)),
		attribute.String(sc.NetworkThroughputClass, string(est.Throughput)),
	)
	for _, p := range [...]struct{ k, v string }{
		{sc.NetworkConnectionSubtype, info.Subtype},
		{sc.NetworkCarrierName, info.CarrierName},
		{sc.NetworkCarrierMCC, info.CarrierMCC},
		{sc.NetworkCarrierMNC, info.CarrierMNC},
		{sc.NetworkCarrierICC, info.CarrierICC},
	} {
		if p.v != "" {
			n.kv = append(n.kv, attribute.String(p.k, p.v))
		}
	}
	if est.RTT > 0 {
		n.kv = append(n.kv, attribute.Int64(sc.NetworkRTTMs, est.RTT.Milliseconds()))
	}
	if est.Kbps > 0 {
		n.kv = append(n.kv, attribute.Int64(sc.NetworkKbps, int64(est.Kbps)))
	}
	return n
}

func orUnknown(s string) string {
	if s == "" {
		return sc.ConnUnknown
	}
	return s
}

func (n *netState) attrs() []attribute.KeyValue { return n.kv }

// SetNetwork records the platform's network. A change of type, subtype or carrier emits a
// network.change event; a return to connectivity retries queued uploads right away.
func (s *SDK) SetNetwork(info NetworkInfo) {
	defer s.guard("SetNetwork")
	info.Type = orUnknown(info.Type)
	for {
		old := s.net.Load()
		if old.info == info {
			return
		}
		next := newNetState(info, old.est)
		if !s.net.CompareAndSwap(old, next) {
			continue
		}
		s.emit(s.sess.Load(), sc.EventNetworkChange, otellog.SeverityInfo, time.Time{},
			attribute.String(sc.NetworkPrevConnectionType, old.info.Type))
		if info.Type != sc.ConnUnavailable && (old.info.Type == sc.ConnUnavailable || old.info.Type == sc.ConnUnknown) {
			s.up.Kick()
		}
		return
	}
}

// Network returns the current network info and quality estimate.
func (s *SDK) Network() (NetworkInfo, nqe.Estimate) {
	n := s.net.Load()
	return n.info, n.est
}

// observe feeds one request's timings to the estimator and publishes a class change.
func (s *SDK) observe(rtt time.Duration, bodyBytes int64, download time.Duration) {
	s.est.AddRTT(rtt)
	if bodyBytes >= nqe.MinTransferBytes {
		s.est.AddTransfer(bodyBytes, download)
	}
	cur := s.est.Current()
	for {
		old := s.net.Load()
		if old.est.Type == cur.Type && old.est.Throughput == cur.Throughput {
			// Refresh the smoothed figures only now and then: they are informative, and
			// rebuilding the attribute set on every request would cost allocations.
			return
		}
		next := newNetState(old.info, cur)
		if !s.net.CompareAndSwap(old, next) {
			continue
		}
		s.emit(s.sess.Load(), sc.EventNetworkChange, otellog.SeverityInfo, time.Time{},
			attribute.String(sc.NetworkPrevClass, string(old.est.Type)),
			attribute.String(sc.NetworkPrevThroughput, string(old.est.Throughput)))
		return
	}
}
