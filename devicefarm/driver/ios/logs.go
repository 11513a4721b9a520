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
	"time"

	"github.com/danielpaulus/go-ios/ios/crashreport"
	"github.com/danielpaulus/go-ios/ios/syslog"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

// Logs captures the syslog relay: the device's recent backlog, then the live stream until it
// has been quiet for LogIdle (or LogMax passed), keeping lines stamped at or after since.
func (d *Driver) Logs(ctx context.Context, serial string, since time.Time) (string, error) {
	return call(ctx, d, "syslog", serial, func(reg func(io.Closer)) (string, error) {
		e, err := d.entry(serial)
		if err != nil {
			return "", err
		}
		conn, err := syslog.New(e)
		if err != nil {
			return "", fmt.Errorf("start syslog_relay: %w", err)
		}
		reg(conn)
		defer conn.Close()
		lines := make(chan string, 256)
		go func() {
			defer close(lines)
			for {
				m, err := conn.ReadLogMessage()
				if err != nil {
					return
				}
				lines <- m
			}
		}()
		var out strings.Builder
		idle := time.NewTimer(d.cfg.LogIdle)
		deadline := time.NewTimer(d.cfg.LogMax)
		defer idle.Stop()
		defer deadline.Stop()
		cutoff := since.Truncate(time.Second)
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					if !d.present(serial) {
						return out.String(), fmt.Errorf("syslog stream cut: %w", driver.ErrDeviceGone)
					}
					return out.String(), nil
				}
				m = strings.TrimRight(m, "\x00\n")
				if t, ok := syslogTime(m, time.Now()); !ok || !t.Before(cutoff) {
					out.WriteString(m)
					out.WriteByte('\n')
				}
				idle.Reset(d.cfg.LogIdle)
			case <-idle.C:
				return out.String(), nil
			case <-deadline.C:
				return out.String(), nil
			}
		}
	})
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
