package adbd

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"path"
	"strconv"
	"strings"
)

// ManifestEntry is the zip entry of a simulated APK that carries its Manifest. It is written
// first and stored (not deflated) so the device can read it from the head of an install
// stream while keeping only a hash of the rest.
const ManifestEntry = "assets/fleetlens-manifest.json"

// SidecarSuffix names a test manifest pushed beside a test APK
// (e.g. /data/local/tmp/com.example.app.test.fleetlens-tests.json); it overrides the one
// embedded in the APK, so a demo can script behaviours without rebuilding APKs.
const SidecarSuffix = ".fleetlens-tests.json"

// Manifest describes a simulated APK: what AndroidManifest.xml and the test runner would tell.
type Manifest struct {
	Package     string `json:"package"`
	VersionName string `json:"version_name,omitempty"`
	VersionCode int    `json:"version_code,omitempty"`
	MinSDK      int    `json:"min_sdk,omitempty"`
	// Instrumentation is set on test APKs.
	Instrumentation *Instrumentation `json:"instrumentation,omitempty"`
}

// Instrumentation is a test APK's <instrumentation> element plus its test list.
type Instrumentation struct {
	TargetPackage string     `json:"target_package"`
	Runner        string     `json:"runner,omitempty"` // default androidx.test.runner.AndroidJUnitRunner
	Tests         []TestSpec `json:"tests"`
}

// TestSpec is one test method and how it behaves on which devices.
type TestSpec struct {
	Class      string      `json:"class"`
	Method     string      `json:"method"`
	DurationMS int         `json:"duration_ms,omitempty"` // typical duration, jittered ±20 %
	Behaviours []Behaviour `json:"behaviours,omitempty"`  // first match wins; none: pass
}

// Outcomes a Behaviour can script.
const (
	OutcomePass       = "pass"
	OutcomeFail       = "fail"       // assertion failure (status -2)
	OutcomeError      = "error"      // exception outside an assertion (status -1)
	OutcomeIgnored    = "ignored"    // @Ignore (status -3)
	OutcomeAssumption = "assumption" // assumption failure (status -4)
	OutcomeFlaky      = "flaky"      // fails with Probability, else passes
	OutcomeCrash      = "crash"      // the app process dies: FATAL EXCEPTION, "Process crashed."
	OutcomeANR        = "anr"        // the app stops responding: "ANR in", process killed
	OutcomeDrop       = "drop"       // the device falls off the bus during the test
)

// Behaviour scripts a test's outcome on matching devices.
type Behaviour struct {
	When        Match   `json:"when,omitempty"`
	Outcome     string  `json:"outcome"`
	Message     string  `json:"message,omitempty"`
	Exception   string  `json:"exception,omitempty"` // e.g. java.lang.NullPointerException
	Probability float64 `json:"probability,omitempty"`
	DurationMS  int     `json:"duration_ms,omitempty"`
}

// Match selects devices by catalog model id, OS release, SDK range or manufacturer; empty
// fields match everything.
type Match struct {
	Models        []string `json:"models,omitempty" yaml:"models,omitempty"`
	OS            []string `json:"os,omitempty" yaml:"os,omitempty"`
	MinSDK        int      `json:"min_sdk,omitempty" yaml:"min_sdk,omitempty"`
	MaxSDK        int      `json:"max_sdk,omitempty" yaml:"max_sdk,omitempty"`
	Manufacturers []string `json:"manufacturers,omitempty" yaml:"manufacturers,omitempty"`
	Serials       []string `json:"serials,omitempty" yaml:"serials,omitempty"` // ro.serialno
}

func (m Match) matches(d *Device) bool {
	sdk, _ := strconv.Atoi(d.props["ro.build.version.sdk"])
	in := func(list []string, v string) bool {
		if len(list) == 0 {
			return true
		}
		for _, x := range list {
			if strings.EqualFold(x, v) {
				return true
			}
		}
		return false
	}
	return in(m.Models, d.inst.Model.ID) && in(m.OS, d.inst.OSVersion) && in(m.Manufacturers, d.inst.Model.Manufacturer) &&
		in(m.Serials, d.inst.Serial) && (m.MinSDK == 0 || sdk >= m.MinSDK) && (m.MaxSDK == 0 || sdk <= m.MaxSDK)
}

// Validate reports the first problem in a manifest, naming the field.
func (m *Manifest) Validate() error {
	if m.Package == "" || strings.ContainsAny(m.Package, " /'\"") {
		return fmt.Errorf("manifest: package %q is not a package name", m.Package)
	}
	if in := m.Instrumentation; in != nil {
		for i, t := range in.Tests {
			if t.Class == "" || t.Method == "" {
				return fmt.Errorf("manifest %s: tests[%d]: class and method are required", m.Package, i)
			}
			for j, b := range t.Behaviours {
				switch b.Outcome {
				case OutcomePass, OutcomeFail, OutcomeError, OutcomeIgnored, OutcomeAssumption, OutcomeFlaky, OutcomeCrash, OutcomeANR, OutcomeDrop:
				default:
					return fmt.Errorf("manifest %s: tests[%d].behaviours[%d]: unknown outcome %q", m.Package, i, j, b.Outcome)
				}
			}
		}
	}
	return nil
}

// ParseManifest decodes and validates a manifest (the sidecar format).
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// BuildAPK writes a zip that real tools accept as an APK-shaped file: the manifest entry
// first (stored), an AndroidManifest.xml placeholder and a classes.dex padded so the whole
// file is about size bytes (for install benchmarks).
func BuildAPK(w io.Writer, m Manifest, size int64) error {
	if err := m.Validate(); err != nil {
		return err
	}
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	hw, err := zw.CreateRaw(&zip.FileHeader{Name: ManifestEntry, Method: zip.Store, CRC32: crc32.ChecksumIEEE(js),
		CompressedSize64: uint64(len(js)), UncompressedSize64: uint64(len(js))})
	if err != nil {
		return fmt.Errorf("build apk %s: %w", m.Package, err)
	}
	if _, err := hw.Write(js); err != nil {
		return err
	}
	mw, err := zw.Create("AndroidManifest.xml")
	if err != nil {
		return err
	}
	fmt.Fprintf(mw, "<manifest package=%q android:versionCode=\"%d\" android:versionName=%q/>\n", m.Package, m.VersionCode, m.VersionName)
	dw, err := zw.CreateHeader(&zip.FileHeader{Name: "classes.dex", Method: zip.Store})
	if err != nil {
		return err
	}
	pad := size - int64(len(js)) - 400
	rng := rand.New(rand.NewPCG(uint64(len(m.Package)), 42))
	buf := make([]byte, 32<<10)
	copy(buf, "dex\n035\x00")
	for pad > 0 {
		n := min(pad, int64(len(buf)))
		if _, err := dw.Write(buf[:n]); err != nil {
			return err
		}
		pad -= n
		for i := 0; i < len(buf); i += 8 {
			binary.LittleEndian.PutUint64(buf[i:], rng.Uint64())
		}
	}
	return zw.Close()
}

// sniffManifest finds the manifest entry at the head of an APK, or parses a sidecar file.
func sniffManifest(head []byte, name string) *Manifest {
	if strings.HasSuffix(name, SidecarSuffix) {
		m, err := ParseManifest(head)
		if err != nil {
			return nil
		}
		return m
	}
	// Local file header: signature, version, flags, method, time, date, crc, csize, usize,
	// name length, extra length (APPNOTE.TXT 4.3.7).
	if len(head) < 30 || !bytes.Equal(head[:4], []byte("PK\x03\x04")) {
		return nil
	}
	method := binary.LittleEndian.Uint16(head[8:])
	csize := binary.LittleEndian.Uint32(head[18:])
	nlen := int(binary.LittleEndian.Uint16(head[26:]))
	elen := int(binary.LittleEndian.Uint16(head[28:]))
	if method != 0 || 30+nlen+elen+int(csize) > len(head) || string(head[30:30+nlen]) != ManifestEntry {
		return nil
	}
	body := head[30+nlen+elen : 30+nlen+elen+int(csize)]
	m, err := ParseManifest(body)
	if err != nil {
		return nil
	}
	return m
}

// packageFromPath guesses a package name from an APK file name when it carries no manifest,
// the way a human would read "com.example.app-release.apk".
func packageFromPath(p string) string {
	base := strings.TrimSuffix(path.Base(p), ".apk")
	base, _, _ = strings.Cut(base, "-")
	if strings.Count(base, ".") >= 1 {
		return base
	}
	return ""
}
