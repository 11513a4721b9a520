package pgtest

import (
	"context"
	"testing"
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
