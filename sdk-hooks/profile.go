package sdkhooks

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/fleetlens/fleetlens/sdk-hooks/device"
)

// detectProfile fills what the platform did not pass from the OS. On Android (linux) the
// kernel exposes RAM and the fastest core's clock; iOS apps must pass them (sysctl
// hw.memsize / hw.machine are read by the Swift side). It reads a few small files once.
func detectProfile(p device.Profile) device.Profile {
	if p.Platform == "" {
		switch runtime.GOOS {
		case "android", "linux":
			p.Platform = device.Android
		case "ios", "darwin":
			p.Platform = device.IOS
		}
	}
	if p.CPUCores <= 0 {
		p.CPUCores = runtime.NumCPU()
	}
	if runtime.GOOS != "linux" && runtime.GOOS != "android" {
		return p
	}
	if p.RAMMB <= 0 {
		p.RAMMB = memTotalMB("/proc/meminfo")
	}
	if p.CPUMaxMHz <= 0 {
		p.CPUMaxMHz = maxCPUMHz("/sys/devices/system/cpu")
	}
	return p
}

func memTotalMB(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return int(kb / 1024)
		}
	}
	return 0
}

func maxCPUMHz(dir string) int {
	paths, _ := filepath.Glob(filepath.Join(dir, "cpu[0-9]*", "cpufreq", "cpuinfo_max_freq"))
	best := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		khz, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && khz/1000 > best {
			best = khz / 1000
		}
	}
	return best
}

// installID is a random id kept next to the queue: stable per install, never a hardware id.
func installID(dir string) string {
	p := filepath.Join(dir, "install-id")
	if b, err := os.ReadFile(p); err == nil {
		if id := strings.TrimSpace(string(b)); len(id) == 32 {
			return id
		}
	}
	id := randomHex(16)
	_ = os.MkdirAll(dir, 0o700)
	_ = os.WriteFile(p, []byte(id), 0o600)
	return id
}
