package android

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

// FuzzParseAXMLManifest: arbitrary bytes never panic the manifest parser.
func FuzzParseAXMLManifest(f *testing.F) {
	f.Add(encodeAXML(true, []axmlAttr{{name: "package", raw: "a.b"}}, nil, "manifest"))
	f.Add(encodeAXML(false, []axmlAttr{{name: "versionCode", dtype: typeIntDec, data: 3}}, []uint32{attrVersionCodeID}, "manifest"))
	f.Add([]byte{3, 0, 8, 0, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseAXMLManifest(b) })
}

// FuzzInstrParser: arbitrary instrumentation output never panics the parser, and every
// reported result names a status the driver knows.
func FuzzInstrParser(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := newInstrParser(func(r driver.TestResult) {
			switch r.Status {
			case driver.TestPassed, driver.TestFailed, driver.TestError, driver.TestIgnored, driver.TestAssumptionFailure:
			default:
				t.Fatalf("unknown status %q", r.Status)
			}
		})
		p.Write(b)
		p.finish("end")
	})
}
