package adbd

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/sim/catalog"
)

// buildIDs are real AOSP build ids per release (source.android.com "Codenames, tags, and
// build numbers"), so fingerprints look like the ones tools parse.
var buildIDs = map[string]string{
	"9": "PQ3A.190801.002", "10": "QQ3A.200805.001", "11": "RQ3A.211001.001",
	"12": "SQ3A.220705.004", "13": "TQ3A.230901.001", "14": "UQ1A.240205.004", "15": "AP3A.241105.007",
}

var securityPatch = map[string]string{
	"9": "2019-08-01", "10": "2020-08-05", "11": "2021-10-01", "12": "2022-07-05",
	"13": "2023-09-01", "14": "2024-02-05", "15": "2024-11-05",
}

func buildProps(inst catalog.Instance) map[string]string {
	m := inst.Model
	rel := inst.OSVersion
	sdk := catalog.AndroidAPILevel(rel)
	id := buildIDs[rel]
	abilist := m.ABI
	if m.ABI == "arm64-v8a" {
		abilist = "arm64-v8a,armeabi-v7a,armeabi"
	} else if m.ABI == "armeabi-v7a" {
		abilist = "armeabi-v7a,armeabi"
	}
	incr := fmt.Sprintf("%d", 7000000+inst.Index%1000000)
	fp := fmt.Sprintf("%s/%s/%s:%s/%s/%s:user/release-keys", m.Brand, m.Product, m.Device, rel, id, incr)
	board := strings.ToLower(strings.Fields(m.SoC + " x")[0])
	p := map[string]string{
		"ro.product.model":                m.ModelCode,
		"ro.product.manufacturer":         m.Manufacturer,
		"ro.product.brand":                m.Brand,
		"ro.product.name":                 m.Product,
		"ro.product.device":               m.Device,
		"ro.product.board":                m.Device,
		"ro.product.marketname":           m.Name,
		"ro.product.cpu.abi":              m.ABI,
		"ro.product.cpu.abilist":          abilist,
		"ro.product.locale":               "en-US",
		"ro.product.vendor.model":         m.ModelCode,
		"ro.product.vendor.manufacturer":  m.Manufacturer,
		"ro.build.version.release":        rel,
		"ro.build.version.sdk":            strconv.Itoa(sdk),
		"ro.build.version.security_patch": securityPatch[rel],
		"ro.build.version.incremental":    incr,
		"ro.build.id":                     id,
		"ro.build.display.id":             id,
		"ro.build.type":                   "user",
		"ro.build.tags":                   "release-keys",
		"ro.build.fingerprint":            fp,
		"ro.build.characteristics":        "default",
		"ro.hardware":                     m.Device,
		"ro.board.platform":               board,
		"ro.soc.model":                    m.SoC,
		"ro.serialno":                     inst.Serial,
		"ro.boot.serialno":                inst.Serial,
		"ro.sf.lcd_density":               strconv.Itoa(m.DPI),
		"ro.secure":                       "1",
		"ro.debuggable":                   "0",
		"ro.adb.secure":                   "1",
		"ro.crypto.state":                 "encrypted",
		"sys.boot_completed":              "1",
		"dev.bootcomplete":                "1",
		"init.svc.adbd":                   "running",
		"persist.sys.timezone":            "Etc/UTC",
		"persist.sys.usb.config":          "adb",
		"gsm.operator.alpha":              "T-Mobile",
		"gsm.network.type":                "LTE",
		"net.bt.name":                     "Android",
		"dalvik.vm.heapsize":              heapSize(m.RAMMB),
		"ro.config.low_ram":               strconv.FormatBool(m.RAMMB <= 1024),
		"ro.fleetlens.simulated":          "1", // honest marker for humans; tools ignore it
	}
	return p
}

func heapSize(ramMB int) string {
	switch {
	case ramMB <= 2048:
		return "256m"
	case ramMB <= 4096:
		return "384m"
	}
	return "512m"
}

// getpropAll renders `getprop` with no arguments: "[key]: [value]" sorted by key.
func getpropAll(p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "[%s]: [%s]\n", k, p[k])
	}
	return b.String()
}

// virtualFile returns the contents of a few /proc and /sys files tools read for hardware facts.
func (d *Device) virtualFile(path string) (string, bool) {
	m := d.inst.Model
	switch {
	case path == "/proc/meminfo":
		total := int64(m.RAMMB) * 1024 * 94 / 100 // the kernel reserves a few percent
		return fmt.Sprintf("MemTotal:       %d kB\nMemFree:        %d kB\nMemAvailable:   %d kB\nBuffers:          %d kB\nCached:          %d kB\nSwapTotal:      %d kB\nSwapFree:       %d kB\n",
			total, total/5, total*2/5, total/100, total/4, total/2, total/3), true
	case path == "/sys/devices/system/cpu/possible", path == "/sys/devices/system/cpu/present", path == "/sys/devices/system/cpu/online":
		return fmt.Sprintf("0-%d\n", m.CPUCores-1), true
	case strings.HasPrefix(path, "/sys/devices/system/cpu/cpu") && strings.HasSuffix(path, "/cpufreq/cpuinfo_max_freq"):
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(path, "/sys/devices/system/cpu/cpu"), "/cpufreq/cpuinfo_max_freq"))
		if err != nil || n < 0 || n >= m.CPUCores {
			return "", false
		}
		mhz := m.CPUMaxMHz
		if n < m.CPUCores/2 {
			mhz = m.CPUMaxMHz * 2 / 3 // little cores of a big.LITTLE SoC
		}
		return fmt.Sprintf("%d\n", mhz*1000), true
	case path == "/proc/version":
		return "Linux version 4.19.191 (android-build@abfarm) #1 SMP PREEMPT\n", true
	case path == "/proc/uptime":
		up := time.Since(d.start).Seconds() + 3600
		return fmt.Sprintf("%.2f %.2f\n", up, up*1.7), true
	}
	return "", false
}
