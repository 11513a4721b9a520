package tui_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/internal/gate/gatetest"
	"github.com/fleetlens/fleetlens/internal/pg/pgtest"
	"github.com/fleetlens/fleetlens/tui"
	"github.com/fleetlens/fleetlens/tui/data"
)

// TestRegressionsJudgeAndExport: the stored verdict shows first; judging now goes through
// the gate's Load+Judge on the database (which holds no field data for these releases, so
// the gate's own message must show inline); exporting reports where it wrote or why not.
func TestRegressionsJudgeAndExport(t *testing.T) {
	opts := seeded(t)(t)
	opts.ExportDir = t.TempDir()
	s := start(t, opts, 120, 30)
	s.waitFor("● live", "24 devices")
	s.keys("3")
	s.waitFor("FAIL", "stored 5m00s ago", "crash_rate")
	s.keys("r")
	// The error is shown in full (wrapped) and the stored verdict stays on screen under it.
	s.waitFor("✗ baseline 2.3.0 of com.example.shop has no field data", "choose a baseline release", "stored 5m00s ago")
	s.keys("w")
	s.waitFor("export: baseline 2.3.0 of com.example.shop has no field data")
	s.keys("e")
	s.keys("tab", "tab")
	for i := 0; i < 5; i++ {
		s.tm.Send(backspace())
	}
	s.keys("9", ".", "9", "esc")
	s.waitFor("baseline 9.9", "no stored verdict for this release pair")
	entries, _ := os.ReadDir(opts.ExportDir)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".html") {
			t.Errorf("stray file %s in the export dir", filepath.Join(opts.ExportDir, e.Name()))
		}
	}
}

// TestJudgeNowThroughGate: field data seeded through the real collector path (gatetest);
// the TUI judges 2.3.0 against 2.2.0 through the gate, shows the failing stratum, saves the
// verdict and exports the HTML report.
func TestJudgeNowThroughGate(t *testing.T) {
	pool := pgtest.New(t)
	gatetest.SeedStandard(t, pool)
	src, err := data.NewPG(data.Config{DSN: pool.Config().ConnString()})
	if err != nil {
		t.Fatal(err)
	}
	src.Start(context.Background())
	t.Cleanup(func() { src.Shutdown(context.Background()) })
	dir := t.TempDir()
	opts := tui.Options{Src: src, ExportDir: dir,
		Gate: &data.GateAdapter{Pool: src.Pool(), Save: true, Now: time.Now().Add(2 * time.Minute)}}
	s := start(t, opts, 140, 40)
	s.waitFor("● live")
	s.keys("3", "e")
	s.keys(strings.Split(gatetest.App, "")...)
	s.keys("tab", "2", ".", "3", ".", "0", "tab", "2", ".", "2", ".", "0", "enter")
	scr := s.waitFor("FAIL", "judged now", "3g × low", "request_ttfb")
	if !strings.Contains(scr, "fail ") {
		t.Fatalf("no failing check listed:\n%s", scr)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM gate_verdicts WHERE candidate = '2.3.0' AND verdict = 'fail'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("saved verdicts: %d, %v", n, err)
	}
	s.keys("w")
	s.waitFor("report written to")
	html, err := os.ReadFile(filepath.Join(dir, "gate-"+gatetest.App+"-2.3.0-vs-2.2.0.html"))
	if err != nil || !strings.Contains(string(html), "<html") {
		t.Fatalf("exported report: %v (%d bytes)", err, len(html))
	}
}
