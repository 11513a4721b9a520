package pgtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/fleetlens/fleetlens/internal/pg"
)

func TestMain(m *testing.M) { Main(m) }

func TestDatabasesAreMigratedAndIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := New(t), New(t)
	if _, err := a.Exec(ctx, "INSERT INTO apps (id) VALUES ('com.example.a')"); err != nil {
		t.Fatalf("insert into migrated schema: %v", err)
	}
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM apps").Scan(&n); err != nil || n != 0 {
		t.Fatalf("second database sees %d apps (err %v): databases are not isolated", n, err)
	}
}

func TestPrivateClusterRestarts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := NewCluster(t)
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Status(ctx).Running {
		t.Fatal("status says running after Stop")
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !c.Status(ctx).Running {
		t.Fatal("status says stopped after Start")
	}
}

// A cluster whose test process died (panic, -timeout) is stopped and removed by the next
// test binary that needs PostgreSQL.
func TestOrphanedClusterIsReaped(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "flpg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	c, err := pg.NewCluster(pg.ClusterConfig{Home: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(ctx); os.RemoveAll(dir) })
	// Owned by a process that has exited.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(dead.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	reapOnce = sync.Once{}
	reapOrphans()
	if c.Status(ctx).Running {
		t.Fatal("orphaned cluster still running after reapOrphans")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("orphaned cluster directory still there: %v", err)
	}
}
