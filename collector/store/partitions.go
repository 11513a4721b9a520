package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PartitionedTables are the collector's daily-partitioned tables.
var PartitionedTables = []string{"spans", "events"}

// Partitions keeps one partition per UTC day for each partitioned table, from Retention
// days ago to Ahead days from now, and drops older ones. Data is accepted only inside that
// window (see Window), so a COPY never meets a missing partition.
type Partitions struct {
	Pool      *pgxpool.Pool
	Retention time.Duration
	Ahead     int // whole days of partitions kept ready ahead of today
}

// Window is the range of timestamps that have a partition for as long as they may be
// stored: from the start of the oldest kept day to one day before the furthest partition
// (so a day boundary between two maintenance runs cannot leave a gap).
func (p Partitions) Window(now time.Time) (oldest, newest time.Time) {
	today := now.UTC().Truncate(24 * time.Hour)
	return today.Add(-p.Retention).Truncate(24 * time.Hour), today.Add(time.Duration(p.Ahead) * 24 * time.Hour)
}

func partitionName(table string, day time.Time) string {
	return table + "_p" + day.Format("20060102")
}

// Maintain creates the missing partitions and drops the expired ones.
func (p Partitions) Maintain(ctx context.Context, now time.Time) error {
	today := now.UTC().Truncate(24 * time.Hour)
	first := today.Add(-p.Retention).Truncate(24 * time.Hour)
	last := today.Add(time.Duration(p.Ahead) * 24 * time.Hour)
	// Several collectors may run this at once; the advisory lock makes them take turns.
	return pgx.BeginFunc(ctx, p.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('fleetlens.collector.partitions'))`); err != nil {
			return fmt.Errorf("lock partition maintenance: %w", err)
		}
		for _, table := range PartitionedTables {
			existing, err := p.partitions(ctx, tx, table)
			if err != nil {
				return err
			}
			for day := first; !day.After(last); day = day.Add(24 * time.Hour) {
				name := partitionName(table, day)
				if existing[name] {
					continue
				}
				sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
					pgx.Identifier{name}.Sanitize(), pgx.Identifier{table}.Sanitize(),
					day.Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339))
				if _, err := tx.Exec(ctx, sql); err != nil {
					var pe *pgconn.PgError
					if errors.As(err, &pe) && pe.Code == "42P07" {
						continue
					}
					return fmt.Errorf("create partition %s: %w", name, err)
				}
			}
			for name := range existing {
				day, err := time.Parse("20060102", strings.TrimPrefix(name, table+"_p"))
				if err != nil || !day.Add(24*time.Hour).Before(first.Add(time.Nanosecond)) {
					continue // not ours, or still inside retention
				}
				if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
					return fmt.Errorf("drop expired partition %s: %w", name, err)
				}
				slog.Info("collector store: dropped expired partition", "partition", name)
			}
		}
		return nil
	})
}

func (p Partitions) partitions(ctx context.Context, tx pgx.Tx, table string) (map[string]bool, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace`, table)
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m, nil
}
