package store

import (
	"time"

	"github.com/jackc/pgx/v5"
)

// SpanRow is one row of the spans table (see internal/pg/migrations/002_collector.sql for
// what each column means). Enrichment fills it; the Writer stores it.
type SpanRow struct {
	StartTime, EndTime time.Time
	DurationMS         float64
	AppID              string
	TraceID            [16]byte
	SpanID             [8]byte
	ParentSpanID       [8]byte // all zero for a root span (stored as NULL)
	Name               string
	Kind, StatusCode   int16
	StatusMessage      string
	Release            string
	Model              string
	Manufacturer       string
	OSName, OSVersion  string
	SessionID          string
	Category           string
	NetClass           string
	ThroughputClass    string
	NetType            string
	NetSubtype         string
	Tier               string
	YearClass          int16
	HTTPStatus         int32
	RTTMS              float64 // < 0 when not measured (stored as NULL)
	StartType          string
	Slow               bool
	Attributes         []byte   // JSON object
	Resource           []byte   // JSON object, shared by the spans of one resource (stored in resources)
	ResourceHash       [16]byte // resources.hash of Resource
	SpanEvents         []byte   // JSON array, nil when none
	Scope              string
	ReceivedAt         time.Time
}

// EventRow is one row of the events table (OTLP log records).
type EventRow struct {
	Time              time.Time
	AppID             string
	RecordHash        [16]byte
	Name              string
	Class             string
	DurationMS        float64 // < 0 when absent (stored as NULL)
	Severity          int16
	SeverityText      string
	Body              string
	TraceID           [16]byte // all zero when absent
	SpanID            [8]byte  // all zero when absent
	Release           string
	Model             string
	Manufacturer      string
	OSName, OSVersion string
	SessionID         string
	NetClass          string
	NetType           string
	Tier              string
	YearClass         int16
	Attributes        []byte
	Resource          []byte   // stored once in resources
	ResourceHash      [16]byte // resources.hash of Resource
	Scope             string
	ReceivedAt        time.Time
}

// SpanColumns and EventColumns are the COPY column lists, in the order of Values.
var (
	SpanColumns = []string{"start_time", "end_time", "duration_ms", "app_id", "trace_id", "span_id",
		"parent_span_id", "name", "kind", "status_code", "status_message", "release", "model",
		"manufacturer", "os_name", "os_version", "session_id", "category", "net_class",
		"throughput_class", "net_type", "net_subtype", "tier", "year_class", "http_status", "rtt_ms",
		"start_type", "slow", "attributes", "resource_hash", "span_events", "scope", "received_at"}
	EventColumns = []string{"time", "app_id", "record_hash", "name", "class", "duration_ms",
		"severity", "severity_text", "body", "trace_id", "span_id", "release", "model",
		"manufacturer", "os_name", "os_version", "session_id", "net_class", "net_type", "tier",
		"year_class", "attributes", "resource_hash", "scope", "received_at"}
)

// approxSize is what a row costs in memory while queued, for the writer's budget.
func (r *SpanRow) approxSize() int64 {
	return int64(320 + len(r.Name) + len(r.StatusMessage) + len(r.Attributes) + len(r.SpanEvents) +
		len(r.SessionID) + len(r.Release) + len(r.Model) + len(r.OSVersion))
}

func (r *EventRow) approxSize() int64 {
	return int64(280 + len(r.Name) + len(r.Body) + len(r.Attributes) + len(r.SessionID) +
		len(r.Release) + len(r.Model) + len(r.OSVersion))
}

func (r *SpanRow) values(dst []any) []any {
	var parent any
	if r.ParentSpanID != ([8]byte{}) {
		parent = r.ParentSpanID[:]
	}
	var rtt any
	if r.RTTMS >= 0 {
		rtt = r.RTTMS
	}
	var evs any
	if r.SpanEvents != nil {
		evs = r.SpanEvents
	}
	return append(dst[:0], r.StartTime, r.EndTime, r.DurationMS, r.AppID, r.TraceID[:], r.SpanID[:],
		parent, r.Name, r.Kind, r.StatusCode, r.StatusMessage, r.Release, r.Model,
		r.Manufacturer, r.OSName, r.OSVersion, r.SessionID, r.Category, r.NetClass,
		r.ThroughputClass, r.NetType, r.NetSubtype, r.Tier, r.YearClass, r.HTTPStatus, rtt,
		r.StartType, r.Slow, r.Attributes, r.ResourceHash[:], evs, r.Scope, r.ReceivedAt)
}

func (r *EventRow) values(dst []any) []any {
	var dur, tid, sid any
	if r.DurationMS >= 0 {
		dur = r.DurationMS
	}
	if r.TraceID != ([16]byte{}) {
		tid = r.TraceID[:]
	}
	if r.SpanID != ([8]byte{}) {
		sid = r.SpanID[:]
	}
	return append(dst[:0], r.Time, r.AppID, r.RecordHash[:], r.Name, r.Class, dur,
		r.Severity, r.SeverityText, r.Body, tid, sid, r.Release, r.Model,
		r.Manufacturer, r.OSName, r.OSVersion, r.SessionID, r.NetClass, r.NetType, r.Tier,
		r.YearClass, r.Attributes, r.ResourceHash[:], r.Scope, r.ReceivedAt)
}

// SpanSource adapts rows to pgx.CopyFromSource; the baseline benchmark uses it too.
func SpanSource(rows []SpanRow) pgx.CopyFromSource { return &spanSource{rows: rows, i: -1} }

// EventSource adapts rows to pgx.CopyFromSource.
func EventSource(rows []EventRow) pgx.CopyFromSource { return &eventSource{rows: rows, i: -1} }

type spanSource struct {
	rows []SpanRow
	i    int
	buf  []any
}

func (s *spanSource) Next() bool { s.i++; return s.i < len(s.rows) }
func (s *spanSource) Err() error { return nil }
func (s *spanSource) Values() ([]any, error) {
	s.buf = s.rows[s.i].values(s.buf)
	return s.buf, nil
}

type eventSource struct {
	rows []EventRow
	i    int
	buf  []any
}

func (s *eventSource) Next() bool { s.i++; return s.i < len(s.rows) }
func (s *eventSource) Err() error { return nil }
func (s *eventSource) Values() ([]any, error) {
	s.buf = s.rows[s.i].values(s.buf)
	return s.buf, nil
}
