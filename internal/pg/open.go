// Package pg owns fleetlens's use of PostgreSQL, the system of record and the coordinator of
// the farm: choosing the database (--db, $FLEETLENS_DB, else a managed local cluster that
// fleetlens starts itself from the installed PostgreSQL binaries), connection pools, and the
// embedded tern migrations that define the schema.
package pg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Source says where a DSN came from, for error messages that point at the right knob.
type Source string

const (
	FromFlag    Source = "--db"
	FromEnv     Source = "FLEETLENS_DB"
	FromManaged Source = "managed cluster"
)

// Resolve picks the database: flagDSN, else $FLEETLENS_DB, else the managed cluster under
// DefaultHome(), which is initialised, started and migrated on demand.
func Resolve(ctx context.Context, flagDSN string) (string, Source, error) {
	if flagDSN != "" {
		return flagDSN, FromFlag, checkDSN(flagDSN, FromFlag)
	}
	if env := os.Getenv("FLEETLENS_DB"); env != "" {
		return env, FromEnv, checkDSN(env, FromEnv)
	}
	c, err := NewCluster(ClusterConfig{Home: DefaultHome()})
	if err != nil {
		return "", FromManaged, err
	}
	if err := c.Start(ctx); err != nil {
		return "", FromManaged, err
	}
	return c.DSN(), FromManaged, nil
}

func checkDSN(dsn string, src Source) error {
	if _, err := pgx.ParseConfig(dsn); err != nil {
		return fmt.Errorf("%s: not a valid PostgreSQL DSN (want postgres://user:pass@host:port/db): %w", src, err)
	}
	return nil
}

// Open resolves the database, migrates it to the newest schema and returns a pool.
func Open(ctx context.Context, flagDSN string) (*pgxpool.Pool, error) {
	dsn, src, err := Resolve(ctx, flagDSN)
	if err != nil {
		return nil, err
	}
	if _, _, err := Migrate(ctx, dsn); err != nil {
		return nil, explain(err, dsn, src)
	}
	return Connect(ctx, dsn, src)
}

// Connect opens a pool on dsn without migrating and checks that the server answers.
func Connect(ctx context.Context, dsn string, src Source) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, explain(err, dsn, src)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, explain(err, dsn, src)
	}
	return pool, nil
}

// explain turns a connection failure into one line naming the server and the knob to fix.
func explain(err error, dsn string, src Source) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("database %s (from %s): %w; check the DSN, or omit --db and FLEETLENS_DB to use the managed local cluster", Redact(dsn), src, err)
}

// Redact hides the password of a DSN for logs and errors.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if cfg, perr := pgx.ParseConfig(dsn); perr == nil {
			return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
		}
		return "(unparseable DSN)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
