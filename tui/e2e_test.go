package tui_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/fleetlens/fleetlens/tui/internal/seed"
)

// tmuxSession drives the real binary in a private tmux server.
type tmuxSession struct {
	t      *testing.T
	socket string
}

func (s *tmuxSession) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (s *tmuxSession) pane() string { return s.tmux("capture-pane", "-p", "-t", "e2e") }

func (s *tmuxSession) waitFor(want ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := s.pane()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(p, w)
		}
		if ok {
			return p
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("pane never showed %q:\n%s", want, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// send types keys: names tmux knows (Enter, Escape, Down) or literal text.
func (s *tmuxSession) send(keys ...string) {
	for _, k := range keys {
		switch k {
		case "Enter", "Escape", "Down", "Up", "Tab":
			s.tmux("send-keys", "-t", "e2e", k)
		default:
			s.tmux("send-keys", "-t", "e2e", "-l", k)
		}
		time.Sleep(80 * time.Millisecond)
	}
}

// TestTmuxSession runs `fleetlens tui` in tmux against a seeded database: filter the fleet,
// open a run and its failures, start a run from the suite picker and cancel it, quit.
func TestTmuxSession(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is required (Debian package tmux)")
	}
	dsn := pgtest.NewDSN(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := seed.Standard(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "fleetlens")
	build := exec.Command("go", "build", "-o", bin, "../cmd/fleetlens")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build fleetlens: %v\n%s", err, out)
	}
	suites, err := filepath.Abs("testdata/suites")
	if err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "tui.log")
	b := make([]byte, 6)
	rand.Read(b)
	s := &tmuxSession{t: t, socket: "fltui-" + hex.EncodeToString(b)}
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-L", s.socket, "kill-server").Run()
		// tmux leaves the socket file behind when the last session exits on its own.
		_ = os.Remove(filepath.Join(cmp.Or(os.Getenv("TMUX_TMPDIR"), "/tmp"), fmt.Sprintf("tmux-%d", os.Getuid()), s.socket))
	})
	s.tmux("-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", "120", "-y", "35",
		"env", "TERM=xterm-256color", "FLEETLENS_HOME="+dir, bin, "--db", dsn, "tui",
		"--suites", suites, "--export-dir", dir, "--log-file", logFile)
	s.tmux("set-option", "-s", "escape-time", "0")

	s.waitFor("fleetlens", "● live", "24 devices", "idle")
	// Filter.
	s.send("/", "pixel", "Enter")
	scr := s.waitFor("devices of 24", "filter: pixel")
	for _, line := range strings.Split(scr, "\n") {
		if strings.Contains(line, " and ") && !strings.Contains(line, "Pixel") {
			t.Fatalf("a non-Pixel device survived the filter: %q\n%s", line, scr)
		}
	}
	s.send("Escape")
	s.waitFor("24 devices")
	// Open a run and drill into its failures by model.
	s.send("2")
	s.waitFor("2 runs", "#2 running")
	s.send("Enter")
	s.waitFor("Run #2", "FAILED ATTEMPTS", "failed ", "java.lang.AssertionErr")
	s.send("t")
	s.waitFor("TEST", "com.example.shop.")
	s.send("Escape")
	// Start a run from the suite picker and cancel it.
	s.send("n")
	s.waitFor("Start a run", "smoke.yaml")
	s.send("Down", "Down", "Enter")
	s.waitFor("▸ release")
	s.send("2.6.0", "Enter", "Enter", "Enter", "Enter")
	s.waitFor("Run #3", "2.6.0", "suite smoke-tui")
	s.send("x")
	s.waitFor("Cancel run #3")
	s.send("y")
	s.waitFor("Run #3 cancelled")
	var state string
	if err := pool.QueryRow(context.Background(), `SELECT state FROM farm_runs WHERE id = 3`).Scan(&state); err != nil || state != "cancelled" {
		t.Fatalf("run 3 in the database: %q, %v", state, err)
	}
	// The verdict.
	s.send("3")
	s.waitFor("FAIL", "score", "2.4.0 vs 2.3.0")
	s.send("q")
	// The session (and its server) ends when the program exits.
	deadline := time.Now().Add(10 * time.Second)
	for exec.Command("tmux", "-L", s.socket, "has-session", "-t", "e2e").Run() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("q did not quit:\n%s", s.pane())
		}
		time.Sleep(100 * time.Millisecond)
	}
	logs, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(logs), "tui: start") {
		t.Fatalf("log file %s: %v\n%s", logFile, err, logs)
	}
}
