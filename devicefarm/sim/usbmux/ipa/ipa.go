// Package ipa builds minimal but well-formed iOS app archives (.ipa: a zip with
// Payload/NAME.app/Info.plist and an executable) for the simulator, the driver tests, the
// benchmarks and the demo, so nothing needs a real signed app to exercise installs.
package ipa

import (
	"archive/zip"
	"fmt"
	"math/rand/v2"
	"os"

	"howett.net/plist"
)

// Spec describes the app to build.
type Spec struct {
	BundleID   string // required, e.g. "com.example.shop"
	Name       string // CFBundleName / executable name; default "App"
	Version    string // CFBundleShortVersionString; default "1.0"
	Build      string // CFBundleVersion; default "1"
	MinOS      string // MinimumOSVersion; default "15.0"
	Size       int    // executable size in bytes (random, incompressible); default 64 KiB
	DeviceFams []int  // UIDeviceFamily; default [1, 2]
}

// Write builds the archive at path.
func Write(path string, s Spec) error {
	if s.BundleID == "" {
		return fmt.Errorf("ipa: %s: BundleID is required", path)
	}
	if s.Name == "" {
		s.Name = "App"
	}
	if s.Version == "" {
		s.Version = "1.0"
	}
	if s.Build == "" {
		s.Build = "1"
	}
	if s.MinOS == "" {
		s.MinOS = "15.0"
	}
	if s.Size <= 0 {
		s.Size = 64 << 10
	}
	if len(s.DeviceFams) == 0 {
		s.DeviceFams = []int{1, 2}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("ipa: %w", err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	app := "Payload/" + s.Name + ".app/"
	info, err := plist.Marshal(map[string]any{
		"CFBundleIdentifier":         s.BundleID,
		"CFBundleName":               s.Name,
		"CFBundleDisplayName":        s.Name,
		"CFBundleExecutable":         s.Name,
		"CFBundleShortVersionString": s.Version,
		"CFBundleVersion":            s.Build,
		"CFBundlePackageType":        "APPL",
		"CFBundleSupportedPlatforms": []string{"iPhoneOS"},
		"MinimumOSVersion":           s.MinOS,
		"UIDeviceFamily":             s.DeviceFams,
	}, plist.BinaryFormat)
	if err != nil {
		return fmt.Errorf("ipa: Info.plist: %w", err)
	}
	if _, err := zw.Create("Payload/"); err != nil {
		return fmt.Errorf("ipa: %w", err)
	}
	if _, err := zw.Create(app); err != nil {
		return fmt.Errorf("ipa: %w", err)
	}
	w, err := zw.Create(app + "Info.plist")
	if err != nil {
		return fmt.Errorf("ipa: %w", err)
	}
	if _, err := w.Write(info); err != nil {
		return fmt.Errorf("ipa: %w", err)
	}
	w, err = zw.CreateHeader(&zip.FileHeader{Name: app + s.Name, Method: zip.Store})
	if err != nil {
		return fmt.Errorf("ipa: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(s.Size), 42))
	buf := make([]byte, 32<<10)
	for left := s.Size; left > 0; left -= len(buf) {
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if _, err := w.Write(buf[:min(left, len(buf))]); err != nil {
			return fmt.Errorf("ipa: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("ipa: %w", err)
	}
	return f.Close()
}
