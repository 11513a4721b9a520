package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The writer encodes COPY's binary format itself instead of going through
// pgx.CopyFromSource: pgx boxes every value in an interface and looks up an encode plan
// per value, which was a third of the collector's CPU per span in BenchmarkIngestHTTP.
// The rows have fixed, known column types, so writing the wire format directly is short.
// The baseline of that benchmark still uses pgx's CopyFrom (SpanSource), and
// TestCopyEncodingMatchesPgx checks both produce the same stored rows.

var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

const microsecFromUnixEpochToY2K = 946684800 * 1000000

type copyBuf struct{ b []byte }

func (c *copyBuf) fields(n int16) { c.b = binary.BigEndian.AppendUint16(c.b, uint16(n)) }
func (c *copyBuf) null()          { c.b = binary.BigEndian.AppendUint32(c.b, math.MaxUint32) }
func (c *copyBuf) length(n int)   { c.b = binary.BigEndian.AppendUint32(c.b, uint32(n)) }
func (c *copyBuf) text(s string)  { c.length(len(s)); c.b = append(c.b, s...) }
func (c *copyBuf) bytea(v []byte) { c.length(len(v)); c.b = append(c.b, v...) }
func (c *copyBuf) int2(v int16)   { c.length(2); c.b = binary.BigEndian.AppendUint16(c.b, uint16(v)) }
func (c *copyBuf) int4(v int32)   { c.length(4); c.b = binary.BigEndian.AppendUint32(c.b, uint32(v)) }
func (c *copyBuf) float8(v float64) {
	c.length(8)
	c.b = binary.BigEndian.AppendUint64(c.b, math.Float64bits(v))
}
func (c *copyBuf) boolean(v bool) {
	c.length(1)
	if v {
		c.b = append(c.b, 1)
	} else {
		c.b = append(c.b, 0)
	}
}
func (c *copyBuf) timestamptz(t time.Time) {
	c.length(8)
	us := t.Unix()*1000000 + int64(t.Nanosecond())/1000 - microsecFromUnixEpochToY2K
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(us))
}
func (c *copyBuf) jsonb(v []byte) {
	if v == nil {
		c.null()
		return
	}
	c.length(len(v) + 1)
	c.b = append(c.b, 1)
	c.b = append(c.b, v...)
}

// idOrNull writes a trace or span id, NULL when it is all zero (absent in OTLP).
func (c *copyBuf) idOrNull(id []byte) {
	for _, b := range id {
		if b != 0 {
			c.bytea(id)
			return
		}
	}
	c.null()
}

// float8OrNull writes v, NULL when it is negative (the rows' "absent" marker).
func (c *copyBuf) float8OrNull(v float64) {
	if v >= 0 {
		c.float8(v)
	} else {
		c.null()
	}
}

func (c *copyBuf) span(r *SpanRow) {
	c.fields(int16(len(SpanColumns)))
	c.timestamptz(r.StartTime)
	c.timestamptz(r.EndTime)
	c.float8(r.DurationMS)
	c.text(r.AppID)
	c.bytea(r.TraceID[:])
	c.bytea(r.SpanID[:])
	c.idOrNull(r.ParentSpanID[:])
	c.text(r.Name)
	c.int2(r.Kind)
	c.int2(r.StatusCode)
	for _, s := range [...]string{r.StatusMessage, r.Release, r.Model, r.Manufacturer, r.OSName, r.OSVersion,
		r.SessionID, r.Category, r.NetClass, r.ThroughputClass, r.NetType, r.NetSubtype, r.Tier} {
		c.text(s)
	}
	c.int2(r.YearClass)
	c.int4(r.HTTPStatus)
	c.float8OrNull(r.RTTMS)
	c.text(r.StartType)
	c.boolean(r.Slow)
	c.jsonb(r.Attributes)
	c.bytea(r.ResourceHash[:])
	c.jsonb(r.SpanEvents)
	c.text(r.Scope)
	c.timestamptz(r.ReceivedAt)
}

func (c *copyBuf) event(r *EventRow) {
	c.fields(int16(len(EventColumns)))
	c.timestamptz(r.Time)
	c.text(r.AppID)
	c.bytea(r.RecordHash[:])
	c.text(r.Name)
	c.text(r.Class)
	c.float8OrNull(r.DurationMS)
	c.int2(r.Severity)
	c.text(r.SeverityText)
	c.text(r.Body)
	c.idOrNull(r.TraceID[:])
	c.idOrNull(r.SpanID[:])
	for _, s := range [...]string{r.Release, r.Model, r.Manufacturer, r.OSName, r.OSVersion, r.SessionID, r.NetClass, r.NetType, r.Tier} {
		c.text(s)
	}
	c.int2(r.YearClass)
	c.jsonb(r.Attributes)
	c.bytea(r.ResourceHash[:])
	c.text(r.Scope)
	c.timestamptz(r.ReceivedAt)
}

// copyRows COPYs n rows, encoded by enc, into table on tx's connection.
func copyRows(ctx context.Context, tx pgx.Tx, table string, cols []string, n int, size int64, enc func(*copyBuf, int)) error {
	c := &copyBuf{b: make([]byte, 0, size+int64(n)*64+32)}
	c.b = append(c.b, copyHeader...)
	for i := range n {
		enc(c, i)
	}
	c.b = binary.BigEndian.AppendUint16(c.b, math.MaxUint16) // trailer: -1
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT binary)", pgx.Identifier{table}.Sanitize(), quoteCols(cols))
	_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(c.b), sql)
	return err
}

func quoteCols(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(q, ", ")
}

func copySpans(ctx context.Context, tx pgx.Tx, table string, rows []SpanRow) error {
	var size int64
	for i := range rows {
		size += rows[i].approxSize()
	}
	return copyRows(ctx, tx, table, SpanColumns, len(rows), size, func(c *copyBuf, i int) { c.span(&rows[i]) })
}

func copyEvents(ctx context.Context, tx pgx.Tx, table string, rows []EventRow) error {
	var size int64
	for i := range rows {
		size += rows[i].approxSize()
	}
	return copyRows(ctx, tx, table, EventColumns, len(rows), size, func(c *copyBuf, i int) { c.event(&rows[i]) })
}
