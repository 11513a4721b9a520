package android

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

type goldenResult struct {
	Class, Method, Status, Message string
	StackLines                     int
	DurationMS                     int64
}

type golden struct {
	Results []goldenResult
	Summary RunSummary
}

// TestInstrumentParser feeds real-format `am instrument -r` output (testdata/*.txt, also
// split into odd-sized writes) and compares with testdata/*.golden.json.
func TestInstrumentParser(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) < 8 {
		t.Fatalf("only %d testdata files", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			run := func(chunk int) golden {
				var g golden
				p := newInstrParser(func(r driver.TestResult) {
					g.Results = append(g.Results, goldenResult{r.Class, r.Method, string(r.Status), r.Message,
						len(strings.Split(r.Stack, "\n")) * map[bool]int{true: 1, false: 0}[r.Stack != ""], r.Duration.Milliseconds()})
				})
				clock := time.Unix(0, 0)
				p.now = func() time.Time { clock = clock.Add(250 * time.Millisecond); return clock }
				for i := 0; i < len(raw); i += chunk {
					p.Write(raw[i:min(i+chunk, len(raw))])
				}
				g.Summary = p.finish("instrumentation output ended")
				return g
			}
			got := run(len(raw) + 1)
			if odd := run(7); !equalJSON(t, odd, got) {
				t.Errorf("parsing in 7-byte writes differs from one write")
			}
			gp := filepath.Join("testdata", name+".golden.json")
			if *update {
				b, _ := json.MarshalIndent(got, "", "  ")
				os.WriteFile(gp, append(b, '\n'), 0o644)
			}
			wantB, err := os.ReadFile(gp)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			var want golden
			if err := json.Unmarshal(wantB, &want); err != nil {
				t.Fatal(err)
			}
			if !equalJSON(t, got, want) {
				gb, _ := json.MarshalIndent(got, "", "  ")
				t.Errorf("got:\n%s\nwant:\n%s", gb, wantB)
			}
		})
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
