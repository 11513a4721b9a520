// Package pgtest gives tests real PostgreSQL databases: each test gets a fresh, migrated
// database of its own on a cluster private to the test binary (or on the server named by
// $FLEETLENS_TEST_DB), so tests are hermetic and parallel-safe. The cluster is started on
// first use from the installed PostgreSQL binaries and stopped when the package's tests end,
// which is why packages that use it must call pgtest.Main from TestMain.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/internal/pg"
)

var (
	mu        sync.Mutex
	shared    *pg.Cluster // the package's cluster, when we started one
	sharedDir string
	serverDSN string // admin DSN of the server tests create databases on
	template  string // name of the migrated template database
	setupErr  error
	privates  []*pg.Cluster
)

// Main runs the package's tests and then stops every cluster they started.
func Main(m *testing.M) {
	code := m.Run()
	stopAll()
	os.Exit(code)
}

func stopAll() {
	mu.Lock()
	defer mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range append(privates, shared) {
		if c != nil {
			_ = c.Stop(ctx)
		}
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	if template != "" && shared == nil && serverDSN != "" {
		// On an external server, leave nothing behind.
		if conn, err := pgx.Connect(ctx, serverDSN); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{template}.Sanitize()+" WITH (FORCE)")
			conn.Close(ctx)
		}
	}
}

// clusterDir makes a directory the unprivileged server user can enter (MkdirTemp's 0700 under
// /tmp would lock it out when tests run as root), recording which test process owns it.
func clusterDir() (string, error) {
	reapOrphans()
	dir, err := os.MkdirTemp("", "flpg-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o711)
}

const ownerFile = "owner-pid"

var reapOnce sync.Once

// reapOrphans stops clusters whose test process died without cleaning up (a panic or a
// -timeout ends a test binary before pgtest.Main's deferred stop), so a crashed run does not
// leave PostgreSQL servers behind for the next one.
func reapOrphans() {
	reapOnce.Do(func() {
		dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "flpg-*"))
		for _, dir := range dirs {
			raw, err := os.ReadFile(filepath.Join(dir, ownerFile))
			if err != nil {
				continue // not ours, or still being created
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
			if err != nil || pid == os.Getpid() || processAlive(pid) {
				continue
			}
			if c, err := pg.NewCluster(pg.ClusterConfig{Home: dir}); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_ = c.Stop(ctx)
				cancel()
			}
			os.RemoveAll(dir)
		}
	})
}

func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) state ...": a zombie (Z) has died.
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

func setup(ctx context.Context) error {
	mu.Lock()
	defer mu.Unlock()
	if serverDSN != "" || setupErr != nil {
		return setupErr
	}
	setupErr = func() error {
		if dsn := os.Getenv("FLEETLENS_TEST_DB"); dsn != "" {
			serverDSN = dsn
		} else {
			dir, err := clusterDir()
			if err != nil {
				return err
			}
			sharedDir = dir
			c, err := pg.NewCluster(pg.ClusterConfig{Home: dir, Fast: true})
			if err != nil {
				return err
			}
			if err := c.Start(ctx); err != nil {
				return err
			}
			shared = c
			serverDSN = c.DSNFor("postgres")
		}
		// Migrate once into a template database; each test's database is a cheap copy of it.
		template = "fltpl_" + randomSuffix()
		if err := createDatabase(ctx, serverDSN, template, ""); err != nil {
			return err
		}
		if _, _, err := pg.Migrate(ctx, withDatabase(serverDSN, template)); err != nil {
			return err
		}
		return nil
	}()
	return setupErr
}

// NewDSN returns the DSN of a fresh, migrated database private to t, dropped when t ends.
func NewDSN(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := setup(ctx); err != nil {
		t.Fatalf("pgtest: start PostgreSQL for tests: %v", err)
	}
	name := "flt_" + randomSuffix()
	if err := createDatabase(ctx, serverDSN, name, template); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, serverDSN); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			conn.Close(ctx)
		}
	})
	return withDatabase(serverDSN, name)
}

// New returns a pool on a fresh, migrated database private to t; closed and dropped when t ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := NewDSN(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewCluster starts a private, migrated cluster for tests that stop and restart the server
// (fault tests). It is stopped when t ends. Its DSN() names the migrated fleetlens database.
func NewCluster(t testing.TB) *pg.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := clusterDir()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c, err := pg.NewCluster(pg.ClusterConfig{Home: dir, Fast: true})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	mu.Lock()
	privates = append(privates, c)
	mu.Unlock()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
		os.RemoveAll(dir)
	})
	if err := c.Start(ctx); err != nil {
		t.Fatalf("pgtest: start private cluster: %v", err)
	}
	if _, _, err := pg.Migrate(ctx, c.DSN()); err != nil {
		t.Fatalf("pgtest: migrate private cluster: %v", err)
	}
	return c
}

func createDatabase(ctx context.Context, adminDSN, name, tmpl string) error {
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(ctx)
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if tmpl != "" {
		sql += " TEMPLATE " + pgx.Identifier{tmpl}.Sanitize()
	}
	// Two CREATE DATABASE ... TEMPLATE at once can collide on the template ("being accessed by
	// other users"); parallel tests make that common, so retry briefly.
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, sql)
		if err == nil || attempt >= 50 || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(time.Duration(20+attempt*10) * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("create test database %s: %w", name, err)
	}
	return nil
}

func withDatabase(dsn, db string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	u.Path = "/" + db
	return u.String()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
