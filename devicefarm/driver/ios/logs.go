package ios

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/danielpaulus/go-ios/ios/crashreport"
	"github.com/danielpaulus/go-ios/ios/syslog"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

// Logs returns the syslog lines stamped at or after since. The first call for a device starts
// a background recorder on syslog_relay (a real device relays only live lines), so later calls
// see everything since then: call Logs once at the start of a test to arm it. Each call waits
// until the stream has been quiet for LogIdle within the call (at most LogMax) so in-flight
// lines arrive.
func (d *Driver) Logs(ctx context.Context, serial string, since time.Time) (string, error) {
	rec, err := d.recorderFor(ctx, serial)
	if err != nil {
		return "", err
	}
	idle := time.NewTicker(d.cfg.LogIdle / 3)
	defer idle.Stop()
	begin := time.Now()
	deadline := begin.Add(d.cfg.LogMax)
	for {
		// Quiet must be observed during this call: lines already in flight when it began
		// (say, from an install that just returned) must land first.
		last, ended := rec.state()
		if last.Before(begin) {
			last = begin
		}
		if ended || time.Since(last) >= d.cfg.LogIdle || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("ios: syslog on %s: %w", serial, ctx.Err())
		case <-idle.C:
		}
	}
	out := rec.since(since)
	if _, ended := rec.state(); ended && !d.present(serial) {
		return out, fmt.Errorf("ios: syslog on %s: stream cut: %w", serial, driver.ErrDeviceGone)
	}
	return out, nil
}

type logLine struct {
	at   time.Time
	text string
}

// recorder keeps the last LogBuffer syslog lines of one device.
type recorder struct {
	mu    sync.Mutex
	lines []logLine
	next  int
	max   int
	last  time.Time
	ended bool
	stop  func()
}

func (r *recorder) add(l logLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = time.Now()
	if len(r.lines) < r.max {
		r.lines = append(r.lines, l)
		return
	}
	r.lines[r.next] = l
	r.next = (r.next + 1) % r.max
}

func (r *recorder) state() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.ended
}

func (r *recorder) since(t time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	cutoff := t.Truncate(time.Second)
	var b strings.Builder
	for _, l := range append(append([]logLine(nil), r.lines[r.next:]...), r.lines[:r.next]...) {
		if !l.at.Before(cutoff) {
			b.WriteString(l.text)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// recorderFor returns the device's running recorder or starts one.
func (d *Driver) recorderFor(ctx context.Context, serial string) (*recorder, error) {
	d.mu.Lock()
	rec, ok := d.recs[serial]
	d.mu.Unlock()
	if ok {
		if _, ended := rec.state(); !ended {
			return rec, nil
		}
	}
	conn, err := call(ctx, d, "syslog", serial, func(reg func(io.Closer)) (*syslog.Connection, error) {
		e, err := d.entry(serial)
		if err != nil {
			return nil, err
		}
		c, err := syslog.New(e)
		if err != nil {
			return nil, fmt.Errorf("start syslog_relay: %w", err)
		}
		reg(c)
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	rec = &recorder{max: d.cfg.LogBuffer, last: time.Now(), stop: func() { _ = conn.Close() }}
	d.mu.Lock()
	if old, ok := d.recs[serial]; ok {
		old.stop()
	}
	d.recs[serial] = rec
	d.mu.Unlock()
	go func() {
		defer func() {
			if r := recover(); r != nil {
				d.log.Error("go-ios panicked reading syslog", "udid", serial, "panic", r)
			}
			rec.mu.Lock()
			rec.ended = true
			rec.mu.Unlock()
			_ = conn.Close()
		}()
		for {
			m, err := conn.ReadLogMessage()
			if err != nil {
				return
			}
			m = strings.TrimRight(m, "\x00\n")
			at, ok := syslogTime(m, time.Now())
			if !ok {
				at = time.Now()
			}
			rec.add(logLine{at: at, text: m})
		}
	}()
	return rec, nil
}

// Close stops every syslog recorder.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for s, r := range d.recs {
		r.stop()
		delete(d.recs, s)
	}
	return nil
}

// syslogTime reads the BSD syslog stamp ("Dec  1 22:03:03"), which has no year: the year is
// the one that puts the stamp closest before now.
func syslogTime(line string, now time.Time) (time.Time, bool) {
	if len(line) < 15 {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(time.Stamp, line[:15], time.Local)
	if err != nil {
		return time.Time{}, false
	}
	t = t.AddDate(now.Year(), 0, 0)
	if t.After(now.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t, true
}

// Crashes moves fresh reports into the copy area, pulls them all and parses those of appID
// (bundle id or process name; all apps if empty) from since on.
func (d *Driver) Crashes(ctx context.Context, serial, appID string, since time.Time) ([]driver.Crash, error) {
	dir, err := os.MkdirTemp("", "fleetlens-crashes-")
	if err != nil {
		return nil, fmt.Errorf("ios: crashes of %s: %w", serial, err)
	}
	defer os.RemoveAll(dir)
	_, err = call(ctx, d, "crash reports", serial, func(func(io.Closer)) (struct{}, error) {
		e, err := d.entry(serial)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, crashreport.DownloadReports(e, "*", dir)
	})
	if err != nil {
		return nil, err
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ios: crashes of %s: %w", serial, err)
	}
	var out []driver.Crash
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			return nil, fmt.Errorf("ios: crash report %s of %s: %w", f.Name(), serial, err)
		}
		c, bundleID, err := ParseCrash(b)
		if err != nil {
			d.log.Warn("ios: unreadable crash report", "udid", serial, "file", f.Name(), "err", err)
			continue
		}
		if appID != "" && appID != bundleID && appID != c.Process {
			continue
		}
		if !since.IsZero() && !c.At.IsZero() && c.At.Before(since.Truncate(time.Second)) {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// watchdogCode is the termination code of an app killed for hanging (0x8badf00d, "ate bad food").
const watchdogCode = 0x8badf00d

// ParseCrash reads an iOS crash report without symbolicating it: the .ips JSON format of iOS 15+
// (header line + body) or the older text .crash format. It returns the bundle id separately.
func ParseCrash(b []byte) (driver.Crash, string, error) {
	c := driver.Crash{Kind: "crash", Text: string(b)}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(t))
		var hdr struct {
			AppName   string `json:"app_name"`
			Name      string `json:"name"`
			BundleID  string `json:"bundleID"`
			OSVersion string `json:"os_version"`
			Timestamp string `json:"timestamp"`
			BugType   string `json:"bug_type"`
		}
		if err := dec.Decode(&hdr); err != nil {
			return c, "", fmt.Errorf("ips header: %w", err)
		}
		var body struct {
			ProcName    string `json:"procName"`
			CaptureTime string `json:"captureTime"`
			OSVersion   struct {
				Train string `json:"train"`
			} `json:"osVersion"`
			BundleInfo struct {
				ID string `json:"CFBundleIdentifier"`
			} `json:"bundleInfo"`
			Exception struct {
				Type   string `json:"type"`
				Signal string `json:"signal"`
			} `json:"exception"`
			Termination struct {
				Code uint64 `json:"code"`
			} `json:"termination"`
		}
		if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			return c, "", fmt.Errorf("ips body: %w", err)
		}
		c.Process = firstNonEmpty(body.ProcName, hdr.AppName, hdr.Name)
		c.Exception = body.Exception.Type
		if body.Exception.Signal != "" {
			c.Exception += " (" + body.Exception.Signal + ")"
		}
		c.OSVersion = osVersionOf(firstNonEmpty(body.OSVersion.Train, hdr.OSVersion))
		c.At = parseCrashTime(firstNonEmpty(body.CaptureTime, hdr.Timestamp))
		if body.Termination.Code == watchdogCode || hdr.BugType == "298" {
			c.Kind = "anr"
		}
		if c.Process == "" {
			return c, "", errors.New("ips report names no process")
		}
		return c, firstNonEmpty(body.BundleInfo.ID, hdr.BundleID), nil
	}
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		k = strings.TrimSpace(k)
		if _, seen := fields[k]; ok && !seen && legacyKeys[k] {
			fields[k] = strings.TrimSpace(v)
		}
	}
	proc := fields["Process"]
	if i := strings.Index(proc, " ["); i >= 0 {
		proc = proc[:i]
	}
	if proc == "" || fields["Exception Type"] == "" {
		return c, "", errors.New("not a crash report: no Process or Exception Type")
	}
	c.Process = proc
	c.Exception = fields["Exception Type"]
	c.OSVersion = osVersionOf(fields["OS Version"])
	c.At = parseCrashTime(fields["Date/Time"])
	if strings.Contains(strings.ToLower(fields["Termination Reason"]), "8badf00d") {
		c.Kind = "anr"
	}
	return c, fields["Identifier"], nil
}

var legacyKeys = map[string]bool{"Process": true, "Identifier": true, "Exception Type": true, "OS Version": true, "Date/Time": true, "Termination Reason": true}

var osVersionRE = regexp.MustCompile(`(\d+\.\d+(?:\.\d+)?)`)

// osVersionOf pulls "17.6" out of "iPhone OS 17.6 (21G80)".
func osVersionOf(s string) string {
	return osVersionRE.FindString(s)
}

func parseCrashTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05.0000 -0700", "2006-01-02 15:04:05.00 -0700", "2006-01-02 15:04:05.000 -0700", "2006-01-02 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
