package adbd

import (
	"fmt"
	"strings"
	"time"
)

// logRing is a bounded logcat buffer (all buffers interleaved, as `logcat -b all` shows).
type logRing struct {
	entries []logEntry
	max     int
	seq     uint64
	notify  chan struct{} // closed (and replaced) on every add, for `logcat` followers
}

type logEntry struct {
	seq    uint64
	at     time.Time
	buffer string // main, system, crash, events
	prio   byte
	tag    string
	pid    int
	msg    string
}

func (r *logRing) add(e logEntry) {
	if r.max == 0 {
		r.max = 400
	}
	if len(r.entries) >= r.max {
		n := copy(r.entries, r.entries[len(r.entries)-r.max+1:])
		r.entries = r.entries[:n]
	}
	r.seq++
	e.seq = r.seq
	r.entries = append(r.entries, e)
	if r.notify != nil {
		close(r.notify)
		r.notify = nil
	}
}

// wait returns a channel closed at the next add.
func (r *logRing) wait() <-chan struct{} {
	if r.notify == nil {
		r.notify = make(chan struct{})
	}
	return r.notify
}

// threadtime renders an entry in logcat's default "threadtime" format.
func (e logEntry) threadtime() string {
	var b strings.Builder
	for i, line := range strings.Split(e.msg, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s %5d %5d %c %-8s: %s", e.at.UTC().Format("01-02 15:04:05.000"), e.pid, e.pid+11, e.prio, e.tag, line)
	}
	return b.String()
}

// logcat implements `logcat [-d] [-c] [-b BUF]... [-T 'MM-DD hh:mm:ss.mmm'|-t N] [-s TAG...]`.
// Without -d it renders what is there and reports follow, so the caller streams new entries
// (those after the returned sequence number) until the stream closes.
func (d *Device) logcat(args []string, after uint64) (out, errs string, code int, follow bool, last uint64) {
	dump, clear := false, false
	buffers := map[string]bool{}
	var since time.Time
	tail := -1
	var tags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case a == "-d":
			dump = true
		case a == "-c":
			clear = true
		case a == "-b":
			for _, b := range strings.Split(next(), ",") {
				buffers[b] = true
			}
		case a == "-T" || a == "-t":
			v := next()
			if n, err := fmt.Sscanf(v, "%d", &tail); n == 1 && err == nil && !strings.Contains(v, "-") {
				dump = dump || a == "-t"
				continue
			}
			tail = -1
			t, err := time.Parse("01-02 15:04:05.000", v)
			if err != nil {
				return "", fmt.Sprintf("logcat: invalid time format %q\n", v), 1, false, 0
			}
			now := time.Now().UTC()
			since = time.Date(now.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
			if a == "-t" {
				dump = true
			}
		case a == "-s":
			// remaining args are tag filters
		case a == "-v":
			next() // only threadtime is rendered
		case strings.HasPrefix(a, "-"):
		default:
			tags = append(tags, strings.SplitN(a, ":", 2)[0])
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if clear {
		d.logs.entries = d.logs.entries[:0]
		return "", "", 0, false, d.logs.seq
	}
	if len(buffers) == 0 {
		buffers = map[string]bool{"main": true, "system": true, "crash": true}
	}
	var sel []logEntry
	for _, e := range d.logs.entries {
		if e.seq <= after {
			continue
		}
		if !buffers["all"] && !buffers[e.buffer] {
			continue
		}
		if !since.IsZero() && e.at.Before(since) {
			continue
		}
		if len(tags) > 0 && !contains(tags, e.tag) && !contains(tags, "*") {
			continue
		}
		sel = append(sel, e)
	}
	if tail >= 0 && len(sel) > tail {
		sel = sel[len(sel)-tail:]
	}
	var b strings.Builder
	seen := map[string]bool{}
	for _, e := range sel {
		if !seen[e.buffer] && after == 0 {
			fmt.Fprintf(&b, "--------- beginning of %s\n", e.buffer)
			seen[e.buffer] = true
		}
		b.WriteString(e.threadtime())
		b.WriteByte('\n')
	}
	return b.String(), "", 0, !dump, d.logs.seq
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
