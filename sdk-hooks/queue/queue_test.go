package queue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, cfg Config) *Queue {
	t.Helper()
	q, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func drain(t *testing.T, q *Queue) []Record {
	t.Helper()
	var out []Record
	for {
		r, ok, err := q.Peek()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, r)
		if err := q.Remove(r.Seq); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFIFOAndReopen(t *testing.T) {
	dir := t.TempDir()
	q := open(t, Config{Dir: dir})
	for i := range 5 {
		if _, err := q.Append("traces", []byte(fmt.Sprintf("batch-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	q2 := open(t, Config{Dir: dir}) // as after a restart
	got := drain(t, q2)
	if len(got) != 5 {
		t.Fatalf("reopened queue has %d records, want 5", len(got))
	}
	for i, r := range got {
		if string(r.Payload) != fmt.Sprintf("batch-%d", i) || r.Kind != "traces" {
			t.Fatalf("record %d = %s %q", i, r.Kind, r.Payload)
		}
	}
	// Sequence numbers keep growing after a reopen: no reuse of a name.
	seq, _ := q2.Append("logs", []byte("x"))
	if seq <= got[4].Seq {
		t.Fatalf("seq %d reused after reopen (last %d)", seq, got[4].Seq)
	}
	if s := q2.Stats(); s.Records != 1 || len(s.Dropped) != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBounds(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	payload := bytes.Repeat([]byte("a"), 1000)
	recSize := int64(hdrSize + len("logs") + len(payload))
	for _, tc := range []struct {
		name        string
		appends     int
		advance     time.Duration // before the final Peek
		wantRecords int
		wantDrops   map[string]int64
	}{
		{"under the byte bound", 5, 0, 5, map[string]int64{}},
		{"overflow drops oldest first", 12, 0, 10, map[string]int64{DropOverflow: 2}},
		{"older than 18h expires", 3, 18*time.Hour + time.Second, 0, map[string]int64{DropExpired: 3}},
		{"exactly 18h is kept", 3, 18 * time.Hour, 3, map[string]int64{}},
		{"clock jumps backwards: kept", 3, -48 * time.Hour, 3, map[string]int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			q := open(t, Config{Dir: t.TempDir(), MaxBytes: 10 * recSize, Now: c.now})
			var seqs []uint64
			for range tc.appends {
				s, err := q.Append("logs", payload)
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, s)
			}
			c.t = c.t.Add(tc.advance)
			got := drain(t, q)
			if len(got) != tc.wantRecords {
				t.Fatalf("%d records left, want %d", len(got), tc.wantRecords)
			}
			if len(got) > 0 && got[len(got)-1].Seq != seqs[len(seqs)-1] {
				t.Fatalf("newest record was evicted")
			}
			if d := q.Stats().Dropped; fmt.Sprint(d) != fmt.Sprint(tc.wantDrops) {
				t.Fatalf("dropped %v, want %v", d, tc.wantDrops)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	q := open(t, Config{Dir: t.TempDir(), MaxRecordBytes: 100})
	if _, err := q.Append("traces", make([]byte, 200)); err == nil {
		t.Fatal("200-byte record accepted under a 100-byte limit")
	}
	if _, err := q.Append("", []byte("x")); err == nil {
		t.Fatal("empty kind accepted")
	}
	if d := q.Stats().Dropped[DropTooLarge]; d != 1 {
		t.Fatalf("too_large count %d", d)
	}
}

func TestCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	q := open(t, Config{Dir: dir})
	for i := range 4 {
		if _, err := q.Append("traces", []byte(fmt.Sprintf("payload-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// seq 1 (payload-0) truncated, seq 2 (payload-1) a flipped payload byte, plus garbage files and an interrupted write.
	p1 := filepath.Join(dir, recName(1))
	b, _ := os.ReadFile(p1)
	os.WriteFile(p1, b[:len(b)-3], 0o600)
	p2 := filepath.Join(dir, recName(2))
	b, _ = os.ReadFile(p2)
	b[len(b)-1] ^= 0xff
	os.WriteFile(p2, b, 0o600)
	os.WriteFile(filepath.Join(dir, recName(99)), []byte("not a record at all"), 0o600)
	os.WriteFile(filepath.Join(dir, "garbage.rec"), []byte("FLQ1"), 0o600)
	os.WriteFile(filepath.Join(dir, recName(100)+tmpExt), []byte("FLQ1 half"), 0o600)
	os.WriteFile(filepath.Join(dir, dropFile), []byte("{{{"), 0o600)

	q2 := open(t, Config{Dir: dir})
	got := drain(t, q2)
	var payloads []string
	for _, r := range got {
		payloads = append(payloads, string(r.Payload))
	}
	if strings.Join(payloads, ",") != "payload-2,payload-3" {
		t.Fatalf("survivors %v, want payload-2,payload-3", payloads)
	}
	// truncated + 99 + garbage.rec at open, the flipped byte at read.
	if d := q2.Stats().Dropped[DropCorrupt]; d != 4 {
		t.Fatalf("corrupt count %d, want 4", d)
	}
	if _, err := os.Stat(filepath.Join(dir, recName(100)+tmpExt)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("interrupted write left behind")
	}
}

func TestUnreportedOnce(t *testing.T) {
	dir := t.TempDir()
	q := open(t, Config{Dir: dir, MaxBytes: 200})
	for range 5 {
		q.Append("logs", make([]byte, 80))
	}
	u := q.TakeUnreported()
	if u[DropOverflow] == 0 {
		t.Fatalf("no overflow reported: %v", u)
	}
	if again := q.TakeUnreported(); again != nil {
		t.Fatalf("reported twice: %v", again)
	}
	q2 := open(t, Config{Dir: dir, MaxBytes: 200})
	if again := q2.TakeUnreported(); again != nil {
		t.Fatalf("reported again after reopen: %v", again)
	}
	if q2.Stats().Dropped[DropOverflow] != u[DropOverflow] {
		t.Fatal("totals lost across reopen")
	}
}

// TestWriteFailure stands in for a full disk: with RLIMIT_FSIZE below the record size
// every write fails; Append must return an error, count it, and keep working afterwards.
// The limit is process-wide, so it stays above the few KiB go test's own testlog.txt
// (written while the limit is set) reaches; 4 KiB made cacheable runs fail with EFBIG.
func TestWriteFailure(t *testing.T) {
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Reset(syscall.SIGXFSZ)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	q := open(t, Config{Dir: t.TempDir()})
	if _, err := q.Append("traces", []byte("small")); err != nil {
		t.Fatal(err)
	}
	lim := syscall.Rlimit{Cur: 32 << 10, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	_, err := q.Append("traces", make([]byte, 64<<10))
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	if err == nil {
		t.Fatal("append beyond the file size limit succeeded")
	}
	if d := q.Stats().Dropped[DropDiskFull]; d != 1 {
		t.Fatalf("disk_full count %d", d)
	}
	if _, err := q.Append("traces", []byte("after")); err != nil {
		t.Fatalf("queue unusable after a failed write: %v", err)
	}
	got := drain(t, q)
	if len(got) != 2 || string(got[1].Payload) != "after" {
		t.Fatalf("records after failure: %d", len(got))
	}
}

// TestKill9MidWrite runs a writer in a child process, kills it with SIGKILL while it is
// appending, and checks that every acknowledged record is intact and nothing is corrupt.
func TestKill9MidWrite(t *testing.T) {
	if dir := os.Getenv("QUEUE_KILL_CHILD"); dir != "" {
		q, err := Open(Config{Dir: dir, MaxBytes: 1 << 30})
		if err != nil {
			os.Exit(3)
		}
		payload := bytes.Repeat([]byte("z"), 64<<10)
		for i := 0; ; i++ {
			seq, err := q.Append("traces", payload)
			if err != nil {
				os.Exit(4)
			}
			fmt.Printf("%d\n", seq)
		}
	}
	dir := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9MidWrite$")
		cmd.Env = append(os.Environ(), "QUEUE_KILL_CHILD="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var acked []uint64
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				continue
			}
			acked = append(acked, s)
			if len(acked) == 20+round*7 {
				cmd.Process.Kill()
				break
			}
		}
		cmd.Wait()
		if len(acked) == 0 {
			t.Fatal("child acknowledged nothing")
		}
		q := open(t, Config{Dir: dir, MaxBytes: 1 << 30})
		if d := q.Stats().Dropped[DropCorrupt]; d != 0 {
			t.Fatalf("round %d: %d corrupt records after kill -9", round, d)
		}
		have := map[uint64]bool{}
		for _, r := range drain(t, q) {
			if len(r.Payload) != 64<<10 {
				t.Fatalf("round %d: record %d has %d bytes", round, r.Seq, len(r.Payload))
			}
			have[r.Seq] = true
		}
		for _, s := range acked {
			if !have[s] {
				t.Fatalf("round %d: acknowledged record %d lost", round, s)
			}
		}
	}
}
