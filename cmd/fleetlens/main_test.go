package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

var binary string

// TestMain builds the real binary once: these tests run it as a user would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fleetlens-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "fleetlens")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("build fleetlens: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// home returns a FLEETLENS_HOME the unprivileged server user can enter, and stops the
// managed cluster in it when the test ends.
func home(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "flhome-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	t.Cleanup(func() {
		fleetlens(t, dir, "db", "stop")
		os.RemoveAll(dir)
	})
	return dir
}

// fleetlens runs the binary and returns combined output and exit code.
func fleetlens(t *testing.T, home string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "FLEETLENS_HOME="+home, "FLEETLENS_DB=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("run fleetlens %v: %v", args, err)
	}
	return out.String(), 0
}

func TestDBLifecycleAndStatusAfterKill9(t *testing.T) {
	t.Parallel()
	h := home(t)
	if out, code := fleetlens(t, h, "db", "status"); code != 3 || !strings.Contains(out, "not initialised") {
		t.Fatalf("status before start: %d %q", code, out)
	}
	out, code := fleetlens(t, h, "db", "start")
	if code != 0 || !strings.Contains(out, "running") || !strings.Contains(out, "migrated") {
		t.Fatalf("db start: %d %q", code, out)
	}
	url, code := fleetlens(t, h, "db", "url")
	if code != 0 || !strings.HasPrefix(url, "postgres://fleetlens:") {
		t.Fatalf("db url: %d %q", code, url)
	}
	if out, code := fleetlens(t, h, "db", "migrate"); code != 0 || !strings.Contains(out, "schema at version") {
		t.Fatalf("db migrate: %d %q", code, out)
	}
	pidText, err := os.ReadFile(filepath.Join(h, "pg", "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.SplitN(string(pidText), "\n", 2)[0])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var status string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		// Right after the signal the process may still be exiting: "not accepting
		// connections" (exit 3) is true then too; wait for the pid file to be seen as stale.
		if status, code = fleetlens(t, h, "db", "status"); code == 3 && strings.Contains(status, "gone") {
			break
		}
	}
	if code != 3 || !strings.Contains(status, "gone") {
		t.Fatalf("status after kill -9 of the postmaster: %d %q", code, status)
	}
	if out, code := fleetlens(t, h, "db", "start"); code != 0 || !strings.Contains(out, "running") {
		t.Fatalf("db start after kill -9: %d %q", code, out)
	}
	if out, code := fleetlens(t, h, "db", "stop"); code != 0 || !strings.Contains(out, "stopped") {
		t.Fatalf("db stop: %d %q", code, out)
	}
}

func TestWrongDBDSNIsOneClearLine(t *testing.T) {
	t.Parallel()
	out, code := fleetlens(t, t.TempDir(), "--db", "postgres://x:hunter2@127.0.0.1:1/nope?sslmode=disable&connect_timeout=2", "db", "migrate")
	if code != 2 || !strings.Contains(out, "127.0.0.1:1") || strings.Contains(out, "hunter2") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
		t.Fatalf("wrong --db: exit %d, output %q; want exit 2 and one line naming the server without the password", code, out)
	}
}

func TestEveryCommandHasHelpWithExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c.Example == "" && !c.Hidden && c.Name() != "help" && c.Name() != "completion" && c.Parent() != nil && c.Parent().Name() != "completion" {
			t.Errorf("command %q has no example in --help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
}

// syncBuffer is a bytes.Buffer safe for a writing child process and a polling test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
