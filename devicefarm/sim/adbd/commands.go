package adbd

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// command runs one simple command and returns its exit status.
func (d *Device) command(ctx context.Context, args []string, stdin io.Reader, out, errw io.Writer) int {
	w := func(s string) { _, _ = io.WriteString(out, s) }
	e := func(s string) { _, _ = io.WriteString(errw, s) }
	name := args[0]
	if i := strings.LastIndexByte(name, '/'); i >= 0 && strings.HasPrefix(name, "/system/bin/") {
		name = name[i+1:]
	}
	switch name {
	case "true", ":", "export":
		return 0
	case "false":
		return 1
	case "exit":
		if len(args) > 1 {
			n, _ := strconv.Atoi(args[1])
			return n & 0xff
		}
		return 0
	case "echo":
		rest := args[1:]
		nl := "\n"
		if len(rest) > 0 && rest[0] == "-n" {
			rest, nl = rest[1:], ""
		}
		w(strings.Join(rest, " ") + nl)
		return 0
	case "sleep":
		if len(args) > 1 {
			f, _ := strconv.ParseFloat(args[1], 64)
			if d.sleep(ctx, time.Duration(f*float64(time.Second))) != nil {
				return 130
			}
		}
		return 0
	case "id":
		w("uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),3003(inet) context=u:r:shell:s0\n")
		return 0
	case "whoami":
		w("shell\n")
		return 0
	case "getprop":
		if len(args) == 1 {
			w(getpropAll(d.props))
		} else {
			w(d.props[args[1]] + "\n")
		}
		return 0
	case "cat":
		code := 0
		for _, p := range d.expandGlobs(args[1:]) {
			if s, ok := d.readFile(p); ok {
				w(s)
			} else {
				e(fmt.Sprintf("cat: %s: No such file or directory\n", p))
				code = 1
			}
		}
		return code
	case "rm":
		for _, p := range args[1:] {
			if !strings.HasPrefix(p, "-") {
				d.mu.Lock()
				delete(d.files, p)
				d.mu.Unlock()
			}
		}
		return 0
	case "mkdir", "touch", "chmod", "input", "svc", "setprop", "monkey", "sync":
		return 0
	case "pm":
		return d.pm(args[1:], stdin, out, errw)
	case "cmd":
		if len(args) > 1 && args[1] == "package" {
			return d.pm(args[2:], stdin, out, errw)
		}
		if len(args) > 1 && args[1] == "settings" {
			return d.settingsCmd(args[2:], out, errw)
		}
		e(fmt.Sprintf("Can't find service: %s\n", strings.Join(args[1:2], "")))
		return 20
	case "settings":
		return d.settingsCmd(args[1:], out, errw)
	case "dumpsys":
		return d.dumpsys(args[1:], out, errw)
	case "logcat":
		o, er, code, follow, last := d.logcat(args[1:], 0)
		w(o)
		e(er)
		for follow {
			d.mu.Lock()
			ch := d.logs.wait()
			d.mu.Unlock()
			select {
			case <-ctx.Done():
				return 130
			case <-ch:
			}
			o, _, _, _, last = d.logcat(args[1:], last)
			w(o)
		}
		return code
	case "screencap":
		return d.screencap(args[1:], out, errw)
	case "am":
		return d.am(ctx, args[1:], out, errw)
	case "df":
		d.mu.Lock()
		free := d.freeKB
		d.mu.Unlock()
		total := int64(0)
		for total = 32 << 20; total < free*5/4; total *= 2 {
		}
		used := total - free
		w("Filesystem      1K-blocks     Used Available Use% Mounted on\n")
		w(fmt.Sprintf("/dev/block/dm-5 %9d %8d %9d %3d%% /data\n", total, used, free, used*100/total))
		return 0
	case "wm":
		if len(args) > 1 && args[1] == "size" {
			w("Physical size: " + d.inst.Model.Screen + "\n")
			return 0
		}
		if len(args) > 1 && args[1] == "density" {
			w(fmt.Sprintf("Physical density: %d\n", d.inst.Model.DPI))
			return 0
		}
	case "uptime":
		w(fmt.Sprintf(" %s up 1:00,  0 users,  load average: 0.42, 0.51, 0.47\n", time.Now().UTC().Format("15:04:05")))
		return 0
	case "ls":
		return d.ls(args[1:], out, errw)
	}
	e(fmt.Sprintf("/system/bin/sh: %s: inaccessible or not found\n", args[0]))
	return 127
}

func (d *Device) readFile(p string) (string, bool) {
	if s, ok := d.virtualFile(p); ok {
		return s, true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if f, ok := d.files[p]; ok && f.content != nil {
		return string(f.content), true
	}
	return "", false
}

func (d *Device) ls(args []string, out, errw io.Writer) int {
	dir := "/data/local/tmp"
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			dir = a
		}
	}
	dir = strings.TrimSuffix(dir, "/")
	d.mu.Lock()
	var names []string
	for p := range d.files {
		if strings.HasPrefix(p, dir+"/") && !strings.Contains(p[len(dir)+1:], "/") {
			names = append(names, p[len(dir)+1:])
		}
	}
	d.mu.Unlock()
	if len(names) == 0 && !knownDir(dir) {
		fmt.Fprintf(errw, "ls: %s: No such file or directory\n", dir)
		return 1
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintln(out, n)
	}
	return 0
}

func (d *Device) pm(args []string, stdin io.Reader, out, errw io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(errw, "usage: pm [list|path|install|uninstall|clear] ...")
		return 1
	}
	switch args[0] {
	case "list":
		if len(args) < 2 || args[1] != "packages" {
			fmt.Fprintln(errw, "Error: unknown list type")
			return 1
		}
		thirdParty, versions := false, false
		filter := ""
		for _, a := range args[2:] {
			switch a {
			case "-3":
				thirdParty = true
			case "--show-versioncode":
				versions = true
			default:
				if !strings.HasPrefix(a, "-") {
					filter = a
				}
			}
		}
		d.mu.Lock()
		var lines []string
		for n, p := range d.packages {
			if (thirdParty && p.manifest == nil && p.size == 0) || !strings.Contains(n, filter) {
				continue
			}
			l := "package:" + n
			if versions {
				l += fmt.Sprintf(" versionCode:%d", p.versionCode)
			}
			lines = append(lines, l)
		}
		d.mu.Unlock()
		sort.Strings(lines)
		for _, l := range lines {
			fmt.Fprintln(out, l)
		}
		return 0
	case "path":
		if len(args) > 1 {
			d.mu.Lock()
			_, ok := d.packages[args[1]]
			d.mu.Unlock()
			if ok {
				fmt.Fprintf(out, "package:/data/app/%s-1/base.apk\n", args[1])
				return 0
			}
		}
		return 1
	case "clear":
		fmt.Fprintln(out, "Success")
		return 0
	case "uninstall":
		name := ""
		for _, a := range args[1:] {
			if !strings.HasPrefix(a, "-") {
				name = a
			}
		}
		d.mu.Lock()
		p, ok := d.packages[name]
		if ok && p.size > 0 {
			delete(d.packages, name)
		}
		d.mu.Unlock()
		if !ok || p.size == 0 {
			// Real pm refuses system apps and unknown packages with this code.
			fmt.Fprintln(out, "Failure [DELETE_FAILED_INTERNAL_ERROR]")
			return 1
		}
		d.logf("main", 'I', "PackageManager", "Package %s uninstalled", name)
		fmt.Fprintln(out, "Success")
		return 0
	case "install":
		return d.pmInstall(args[1:], stdin, out)
	}
	fmt.Fprintf(errw, "Unknown command: %s\n", args[0])
	return 1
}

// settingsCmd and dumpsys render under d.mu into buffers and write only after unlocking:
// a stream write waits for the host's OKAY, which the transport's read loop delivers, and
// that loop takes d.mu when the host opens another stream (lookupService), so writing
// under d.mu deadlocks the phone (one outstanding WRTE per direction).
func (d *Device) settingsCmd(args []string, out, errw io.Writer) int {
	var o, e bytes.Buffer
	code := d.settingsLocked(args, &o, &e)
	_, _ = out.Write(o.Bytes())
	_, _ = errw.Write(e.Bytes())
	return code
}

func (d *Device) settingsLocked(args []string, out, errw io.Writer) int {
	if len(args) < 3 {
		fmt.Fprintln(errw, "usage: settings [get|put|delete] NAMESPACE KEY [VALUE]")
		return 1
	}
	key := args[1] + "/" + args[2]
	d.mu.Lock()
	defer d.mu.Unlock()
	switch args[0] {
	case "get":
		v, ok := d.settings[key]
		if !ok {
			v = "null"
		}
		fmt.Fprintln(out, v)
	case "put":
		if len(args) < 4 {
			fmt.Fprintln(errw, "settings put: missing value")
			return 1
		}
		d.settings[key] = args[3]
	case "delete":
		_, ok := d.settings[key]
		delete(d.settings, key)
		if ok {
			fmt.Fprintln(out, "Deleted 1 rows")
		} else {
			fmt.Fprintln(out, "Deleted 0 rows")
		}
	default:
		fmt.Fprintf(errw, "Invalid command: %s\n", args[0])
		return 1
	}
	return 0
}

func (d *Device) dumpsys(args []string, out, errw io.Writer) int {
	var o, e bytes.Buffer
	code := d.dumpsysLocked(args, &o, &e)
	_, _ = out.Write(o.Bytes())
	_, _ = errw.Write(e.Bytes())
	return code
}

func (d *Device) dumpsysLocked(args []string, out, errw io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(out, "Currently running services:\n  battery\n  package\n  thermalservice")
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch args[0] {
	case "battery":
		status := 3 // BATTERY_STATUS_DISCHARGING
		if d.plugged {
			status = 2
			if d.battery == 100 {
				status = 5
			}
		}
		health := 2 // BATTERY_HEALTH_GOOD
		if d.tempC >= 45 {
			health = 3 // BATTERY_HEALTH_OVERHEAT
		}
		fmt.Fprintf(out, "Current Battery Service state:\n  AC powered: false\n  USB powered: %t\n  Wireless powered: false\n  Max charging current: 500000\n  Max charging voltage: 5000000\n  Charge counter: %d\n  status: %d\n  health: %d\n  present: true\n  level: %d\n  scale: 100\n  voltage: %d\n  temperature: %d\n  technology: Li-ion\n",
			d.plugged, d.battery*30000, status, health, d.battery, 3600+d.battery*6, int(d.tempC*10))
	case "thermalservice":
		fmt.Fprintf(out, "IsStatusOverride: false\nThermalEventListeners:\n\tcallbacks: 1\nThermalStatusListeners:\n\tcallbacks: 1\nThermal Status: %d\nCached temperatures:\n\tTemperature{mValue=%.1f, mType=2, mName=battery, mStatus=%d}\nHAL Ready: true\n",
			d.thermal, d.tempC, d.thermal)
	case "dropbox":
		// dumpsys dropbox [--print] [TAG]: the records DropBoxManager keeps across log rotation.
		tag := ""
		for _, a := range args[1:] {
			if !strings.HasPrefix(a, "-") {
				tag = a
			}
		}
		var sel []dropboxEntry
		for _, e := range d.dropbox {
			if tag == "" || e.tag == tag {
				sel = append(sel, e)
			}
		}
		fmt.Fprintf(out, "Drop box contents: %d entries\nMax entries: 1000\n", len(sel))
		for _, e := range sel {
			fmt.Fprintf(out, "\n========================================\n%s %s (text, %d bytes)\n%s", e.at.UTC().Format("2006-01-02 15:04:05"), e.tag, len(e.text), e.text)
		}
	case "package":
		if len(args) > 1 {
			p, ok := d.packages[args[1]]
			if !ok {
				fmt.Fprintf(out, "Unable to find package: %s\n", args[1])
				return 0
			}
			fmt.Fprintf(out, "Packages:\n  Package [%s] (%x):\n    versionCode=%d minSdk=24 targetSdk=34\n    versionName=%s\n    firstInstallTime=%s\n",
				p.name, p.hash&0xfffffff, p.versionCode, p.version, p.installed.UTC().Format("2006-01-02 15:04:05"))
			return 0
		}
	default:
		fmt.Fprintf(errw, "Can't find service: %s\n", args[0])
		return 0
	}
	return 0
}

// screencap writes a small valid PNG (1/8 of the model's screen) with a per-device colour.
func (d *Device) screencap(args []string, out, errw io.Writer) int {
	w, h := d.inst.Model.ScreenSize()
	w, h = max(1, w/8), max(1, h/8)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	c := color.RGBA{uint8(40 + d.inst.Index*37%200), uint8(90 + d.inst.Index*17%150), 200, 255}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if y < h/12 {
				img.Set(x, y, color.RGBA{20, 20, 20, 255}) // status bar
			} else {
				img.Set(x, y, c)
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		fmt.Fprintf(errw, "screencap: %v\n", err)
		return 1
	}
	path := ""
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			path = a
		}
	}
	if path != "" {
		d.storeFile(path, buf.Bytes(), 0o100644)
		return 0
	}
	_, _ = out.Write(buf.Bytes())
	return 0
}

// expandGlobs expands shell globs against the /sys CPU files and pushed files, as sh would.
func (d *Device) expandGlobs(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.ContainsAny(a, "*?[") {
			out = append(out, a)
			continue
		}
		var cands []string
		for i := 0; i < d.inst.Model.CPUCores; i++ {
			cands = append(cands, fmt.Sprintf("/sys/devices/system/cpu/cpu%d/cpufreq/cpuinfo_max_freq", i))
		}
		d.mu.Lock()
		for p := range d.files {
			cands = append(cands, p)
		}
		d.mu.Unlock()
		var hits []string
		for _, c := range cands {
			if ok, _ := path.Match(a, c); ok {
				hits = append(hits, c)
			}
		}
		if len(hits) == 0 {
			hits = []string{a} // sh passes an unmatched glob through literally
		}
		sort.Slice(hits, func(i, j int) bool {
			return len(hits[i]) < len(hits[j]) || len(hits[i]) == len(hits[j]) && hits[i] < hits[j]
		})
		out = append(out, hits...)
	}
	return out
}
