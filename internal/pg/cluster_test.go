package pg

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newTestCluster makes a cluster in a directory the server user can enter (as root the
// server runs as "postgres", which cannot enter t.TempDir()'s 0700 parents).
func newTestCluster(t *testing.T, port int) *Cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "flpg-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	c, err := NewCluster(ClusterConfig{Home: dir, Port: port, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = c.Stop(ctx)
		os.RemoveAll(dir)
	})
	return c
}

func TestClusterStatusTellsTheTruthAfterKill9(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCluster(t, 0)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil { // idempotent
		t.Fatalf("second start: %v", err)
	}
	st := c.Status(ctx)
	if !st.Running || st.PID == 0 {
		t.Fatalf("status after start = %+v", st)
	}
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	// Wait for the pid file to be seen as stale: right after the signal the process may still
	// be exiting ("alive but not accepting connections").
	for !c.Status(ctx).Stale {
		if time.Now().After(deadline) {
			t.Fatal("status still says running 10s after kill -9 of the postmaster")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := c.Status(ctx); st.Running || !strings.Contains(st.Detail, "db start") {
		t.Fatalf("status after kill -9 = %+v, want stale pid file and advice", st)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start after kill -9: %v", err)
	}
	if !c.Status(ctx).Running {
		t.Fatal("not running after recovery start")
	}
}

func TestClusterRecoversFromHalfInitialisedDataDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCluster(t, 0)
	// What a killed initdb leaves: a data directory with some files and no completion marker.
	if err := os.MkdirAll(filepath.Join(c.dataDir(), "base"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dataDir(), "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start over a half-initialised data dir: %v", err)
	}
	if !c.Status(ctx).Running {
		t.Fatal("not running")
	}
}

func TestClusterPortInUseSaysWhatToDo(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	c := newTestCluster(t, port)
	err = c.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(port)) || !strings.Contains(err.Error(), "--port 0") {
		t.Fatalf("start on a busy port: err = %v, want one naming the port and the fix", err)
	}
}

func TestClusterDataDirOwnedByAnotherUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCluster(t, 0)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Pretend the server would run as someone else than the data directory's owner.
	other := *c
	other.who.uid = c.who.uid + 4242
	other.who.name = "someone-else"
	err := other.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "owned by uid") || !strings.Contains(err.Error(), "FLEETLENS_HOME") {
		t.Fatalf("start with a foreign data dir: err = %v", err)
	}
}

func TestResolveRejectsMalformedDSN(t *testing.T) {
	t.Parallel()
	_, src, err := Resolve(context.Background(), "postgres://user@host:notaport/db")
	if err == nil || src != FromFlag || !strings.Contains(err.Error(), "--db") {
		t.Fatalf("Resolve(bad) = %v, %v", src, err)
	}
}

func TestOpenUnreachableServerNamesIt(t *testing.T) {
	t.Parallel()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, "postgres://u:secret@127.0.0.1:"+strconv.Itoa(port)+"/x?sslmode=disable&connect_timeout=2")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Open(unreachable) err = %v: want the server named and the password hidden", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5/db":         "postgres://u:xxxxx@h:5/db",
		"postgres://u@h/db":              "postgres://u@h/db",
		"host=h port=5 user=u dbname=db": "u@h:5/db",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
