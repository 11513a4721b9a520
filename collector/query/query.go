// Package query is the read side of the collector's tables, for the release gate, the TUI
// and dashboards. Every call runs in a READ ONLY transaction under the fleetlens_reader
// role (SET LOCAL ROLE), so a read path cannot modify data even through a bug.
//
// API (stable; the gate builds on it):
//
//	q := query.New(pool)
//	q.Releases(ctx, app)                        // releases seen, newest first, with span/session counts
//	q.Spans(ctx, filter, query.Model, ...)      // span counts, errors, slow, mean/max duration per group (span_rollups)
//	q.Events(ctx, filter, query.Model, ...)     // event counts per name/class and group (event_rollups)
//	q.Rates(ctx, filter, query.Model, ...)      // sessions, crashes, ANRs and their per-session rates per group
//	q.Durations(ctx, filter, category, name, n) // raw span durations (ms) for distribution tests (spans)
//	q.RecentCrashes(ctx, filter, n)             // newest app.crash events with exception type/message
//
// A Filter selects one app and release over [From, To); optional fields narrow by model,
// OS version, network class, device tier or span category. Group-by dimensions are the
// Dim constants; results come back ordered by the group key. Counts come from the rollup
// tables (maintained exactly at ingest), so they are cheap for any time range; Durations
// reads raw spans through the spans_app_release_time index and samples evenly when more
// than n rows match.
//
// Table and column contracts are documented in internal/pg/migrations/002_collector.sql.
package query

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Dim is a group-by dimension: a rollup column name (whitelisted, never user text).
type Dim string

// Dimensions of the rollup tables.
const (
	Model     Dim = "model"
	OSVersion Dim = "os_version"
	NetClass  Dim = "net_class"
	Tier      Dim = "tier"
	Category  Dim = "category" // spans only
	Minute    Dim = "minute"
)

func (d Dim) valid(spans bool) bool {
	switch d {
	case Model, OSVersion, NetClass, Tier, Minute:
		return true
	case Category:
		return spans
	}
	return false
}

// Filter selects rows. App, Release, From and To are required; the rest narrow when set.
type Filter struct {
	App, Release string
	From, To     time.Time
	Model        string
	OSVersion    string
	NetClass     string
	Tier         string
	Category     string // spans only: http, app_start, other
}

// Store reads the collector's tables.
type Store struct{ pool *pgxpool.Pool }

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// read runs f in a read-only transaction as fleetlens_reader.
func (s *Store) read(ctx context.Context, f func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL ROLE fleetlens_reader"); err != nil {
			return fmt.Errorf("switch to read-only role fleetlens_reader: %w", err)
		}
		return f(tx)
	})
}

// where builds the WHERE clause for f on a rollup table (time column tcol).
func (f Filter) where(tcol string, spans bool) (string, []any, error) {
	if f.App == "" || f.Release == "" || f.From.IsZero() || f.To.IsZero() {
		return "", nil, fmt.Errorf("query filter: app, release, from and to are required")
	}
	conds := []string{"app_id = $1", "release = $2", tcol + " >= $3", tcol + " < $4"}
	args := []any{f.App, f.Release, f.From, f.To}
	add := func(col, v string) {
		if v != "" {
			args = append(args, v)
			conds = append(conds, fmt.Sprintf("%s = $%d", col, len(args)))
		}
	}
	add("model", f.Model)
	add("os_version", f.OSVersion)
	add("net_class", f.NetClass)
	add("tier", f.Tier)
	if spans {
		add("category", f.Category)
	} else if f.Category != "" {
		return "", nil, fmt.Errorf("query filter: category applies to spans only")
	}
	return strings.Join(conds, " AND "), args, nil
}

func groupCols(dims []Dim, spans bool) (string, error) {
	if len(dims) == 0 {
		return "", nil
	}
	cols := make([]string, len(dims))
	for i, d := range dims {
		if !d.valid(spans) {
			return "", fmt.Errorf("query: cannot group by %q", d)
		}
		cols[i] = string(d)
	}
	return strings.Join(cols, ", "), nil
}

// Group is the key of one result row: the values of the requested dimensions, in order
// (Minute is formatted RFC 3339).
type Group []string

// keySelect renders the group columns as text for scanning.
func keySelect(gc string) string {
	if gc == "" {
		return "ARRAY[]::text[]"
	}
	parts := strings.Split(gc, ", ")
	for i, p := range parts {
		if p == string(Minute) {
			parts[i] = `to_char(minute AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`
		} else {
			parts[i] = p
		}
	}
	return "ARRAY[" + strings.Join(parts, ", ") + "]"
}

func groupBy(gc string) string {
	if gc == "" {
		return ""
	}
	return " GROUP BY " + gc + " ORDER BY " + gc
}
