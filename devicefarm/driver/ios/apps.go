package ios

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/danielpaulus/go-ios/ios/installationproxy"
	"github.com/danielpaulus/go-ios/ios/zipconduit"
	"howett.net/plist"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
)

// AppInfo is what an .ipa's Payload/NAME.app/Info.plist declares.
type AppInfo struct {
	BundleID, Name, Executable, Version, Build, MinOS string
}

// ReadIPA reads the app's Info.plist out of an .ipa without unpacking it.
func ReadIPA(p string) (AppInfo, error) {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return AppInfo{}, fmt.Errorf("ios: %s is not an .ipa (zip): %w", p, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		n := f.Name
		if path.Base(n) != "Info.plist" || !strings.HasPrefix(n, "Payload/") || strings.Count(n, "/") != 2 || !strings.HasSuffix(path.Dir(n), ".app") {
			continue
		}
		if f.UncompressedSize64 > 4<<20 {
			return AppInfo{}, fmt.Errorf("ios: %s: %s is implausibly large", p, n)
		}
		rc, err := f.Open()
		if err != nil {
			return AppInfo{}, fmt.Errorf("ios: %s: open %s: %w", p, n, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return AppInfo{}, fmt.Errorf("ios: %s: read %s: %w", p, n, err)
		}
		var m map[string]any
		if _, err := plist.Unmarshal(b, &m); err != nil {
			return AppInfo{}, fmt.Errorf("ios: %s: %s is not a plist: %w", p, n, err)
		}
		s := func(k string) string { v, _ := m[k].(string); return v }
		a := AppInfo{BundleID: s("CFBundleIdentifier"), Name: s("CFBundleName"), Executable: s("CFBundleExecutable"),
			Version: s("CFBundleShortVersionString"), Build: s("CFBundleVersion"), MinOS: s("MinimumOSVersion")}
		if a.BundleID == "" {
			return AppInfo{}, fmt.Errorf("ios: %s: %s has no CFBundleIdentifier", p, n)
		}
		if a.Executable == "" {
			a.Executable = strings.TrimSuffix(path.Base(path.Dir(n)), ".app")
		}
		return a, nil
	}
	return AppInfo{}, fmt.Errorf("ios: %s has no Payload/*.app/Info.plist", p)
}

// Install streams the .ipa through streaming_zip_conduit.
func (d *Driver) Install(ctx context.Context, serial, p string) (driver.App, error) {
	info, err := ReadIPA(p)
	if err != nil {
		return driver.App{}, fmt.Errorf("%w: %w", driver.ErrInstallFailed, err)
	}
	return call(ctx, d, "install "+info.BundleID, serial, func(reg func(io.Closer)) (driver.App, error) {
		e, err := d.entry(serial)
		if err != nil {
			return driver.App{}, err
		}
		conn, err := zipconduit.New(e)
		if err != nil {
			return driver.App{}, fmt.Errorf("start streaming_zip_conduit: %w", err)
		}
		reg(conn)
		defer conn.Close()
		if err := conn.SendFile(p); err != nil {
			if !d.present(serial) {
				return driver.App{}, fmt.Errorf("%w: transfer cut: %w", driver.ErrDeviceGone, err)
			}
			return driver.App{}, fmt.Errorf("%w: %w", driver.ErrInstallFailed, err)
		}
		version := info.Version
		if version == "" {
			version = info.Build
		}
		return driver.App{ID: info.BundleID, Version: version}, nil
	})
}

// Uninstall removes an app through installation_proxy.
func (d *Driver) Uninstall(ctx context.Context, serial, appID string) error {
	if appID == "" {
		return errors.New("ios: uninstall: empty bundle id")
	}
	_, err := call(ctx, d, "uninstall "+appID, serial, func(reg func(io.Closer)) (struct{}, error) {
		e, err := d.entry(serial)
		if err != nil {
			return struct{}{}, err
		}
		ip, err := installationproxy.New(e)
		if err != nil {
			return struct{}{}, fmt.Errorf("start installation_proxy: %w", err)
		}
		reg(closerFunc(func() error { ip.Close(); return nil }))
		defer ip.Close()
		return struct{}{}, ip.Uninstall(appID)
	})
	return err
}

// installedApps lists user apps by bundle id.
func (d *Driver) installedApps(ctx context.Context, serial string) (map[string]installationproxy.AppInfo, error) {
	return call(ctx, d, "browse apps", serial, func(reg func(io.Closer)) (map[string]installationproxy.AppInfo, error) {
		e, err := d.entry(serial)
		if err != nil {
			return nil, err
		}
		ip, err := installationproxy.New(e)
		if err != nil {
			return nil, fmt.Errorf("start installation_proxy: %w", err)
		}
		reg(closerFunc(func() error { ip.Close(); return nil }))
		defer ip.Close()
		apps, err := ip.BrowseUserApps()
		if err != nil {
			return nil, err
		}
		out := map[string]installationproxy.AppInfo{}
		for _, a := range apps {
			out[a.CFBundleIdentifier()] = a
		}
		return out, nil
	})
}
