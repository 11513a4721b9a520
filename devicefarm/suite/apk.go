package suite

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// APKManifestEntry is where fleetlens-built (and simulator) APKs carry their manifest and
// test list as JSON; a farm cannot parse binary AndroidManifest.xml/dex without the SDK, so
// real APKs without it need app.id / app.test_id / tests.list in the suite.
const APKManifestEntry = "assets/fleetlens-manifest.json"

// APKInfo is what an APK tells about itself.
type APKInfo struct {
	Package       string
	TargetPackage string // test APKs: the app they instrument
	Runner        string
	Tests         []TestCase
}

// ReadAPK opens an APK (a zip) and reads its fleetlens manifest if it has one.
func ReadAPK(path string) (APKInfo, error) {
	var info APKInfo
	zr, err := zip.OpenReader(path)
	if err != nil {
		return info, fmt.Errorf("%s: not an APK (zip): %w", path, err)
	}
	defer zr.Close()
	f, err := zr.Open(APKManifestEntry)
	if errors.Is(err, fs.ErrNotExist) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("%s: %s: %w", path, APKManifestEntry, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return info, fmt.Errorf("%s: %s: %w", path, APKManifestEntry, err)
	}
	var m struct {
		Package         string `json:"package"`
		Instrumentation *struct {
			TargetPackage string `json:"target_package"`
			Runner        string `json:"runner"`
			Tests         []struct {
				Class       string   `json:"class"`
				Method      string   `json:"method"`
				Annotations []string `json:"annotations"`
			} `json:"tests"`
		} `json:"instrumentation"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return info, fmt.Errorf("%s: %s: %w", path, APKManifestEntry, err)
	}
	info.Package = m.Package
	if in := m.Instrumentation; in != nil {
		info.TargetPackage, info.Runner = in.TargetPackage, in.Runner
		for _, t := range in.Tests {
			info.Tests = append(info.Tests, TestCase{Class: t.Class, Method: t.Method, Annotations: t.Annotations})
		}
	}
	return info, nil
}
