package android

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fleetlens/fleetlens/devicefarm/driver"
	"github.com/fleetlens/fleetlens/internal/adbserver"
)

// apkManifestEntry is where fleetlens-built APKs (devicefarm/sim/adbd.BuildAPK) carry
// their package name and version as JSON.
const apkManifestEntry = "assets/fleetlens-manifest.json"

// apkIdentity reads package and version from an APK: the JSON entry of a fleetlens-built
// APK, else the compiled AndroidManifest.xml of a real one.
func apkIdentity(path string) (driver.App, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return driver.App{}, fmt.Errorf("android: %s is not an APK (zip): %w", path, err)
	}
	defer zr.Close()
	var binaryManifest *zip.File
	for _, f := range zr.File {
		if f.Name == "AndroidManifest.xml" {
			binaryManifest = f
		}
		if f.Name != apkManifestEntry {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return driver.App{}, err
		}
		defer rc.Close()
		var m struct {
			Package     string `json:"package"`
			VersionName string `json:"version_name"`
		}
		if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&m); err != nil || m.Package == "" {
			return driver.App{}, fmt.Errorf("android: %s: bad %s: %v", path, apkManifestEntry, err)
		}
		return driver.App{ID: m.Package, Version: m.VersionName}, nil
	}
	if binaryManifest == nil {
		return driver.App{}, fmt.Errorf("android: %s has no AndroidManifest.xml", path)
	}
	rc, err := binaryManifest.Open()
	if err != nil {
		return driver.App{}, fmt.Errorf("android: %s: %w", path, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestXMLBytes))
	if err != nil {
		return driver.App{}, fmt.Errorf("android: %s: AndroidManifest.xml: %w", path, err)
	}
	mi, err := parseAXMLManifest(b)
	if err != nil {
		return driver.App{}, fmt.Errorf("android: %s: %w", path, err)
	}
	return driver.App{ID: mi.Package, Version: mi.VersionName}, nil
}

var failureCode = regexp.MustCompile(`Failure \[([A-Z_]+)[^\]]*\]`)

// Install streams the APK with `exec:cmd package install -S SIZE` (what adb install does on
// Android 7+), replacing an existing install and allowing test-only packages.
func (d *Driver) Install(ctx context.Context, serial, path string) (driver.App, error) {
	app, err := apkIdentity(path)
	if err != nil {
		return app, err
	}
	f, err := os.Open(path)
	if err != nil {
		return app, fmt.Errorf("android: install %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return app, err
	}
	c, err := d.exec(ctx, serial, "cmd package 'install' -r -t -S "+strconv.FormatInt(st.Size(), 10))
	if err != nil {
		return app, err
	}
	defer c.Close()
	if _, err := io.Copy(c, f); err != nil {
		return app, deviceError(serial, "install "+path, err)
	}
	out, err := io.ReadAll(io.LimitReader(c, 64<<10))
	if err != nil && ctx.Err() != nil {
		return app, deviceError(serial, "install "+path, ctx.Err())
	}
	s := strings.TrimSpace(string(out))
	if strings.HasPrefix(s, "Success") {
		return app, nil
	}
	if s == "" {
		if d.gone(serial) {
			return app, fmt.Errorf("android %s: install %s: no answer: %w", serial, path, driver.ErrDeviceGone)
		}
		return app, fmt.Errorf("android %s: install %s: empty answer: %w", serial, path, driver.ErrInstallFailed)
	}
	code := s
	if g := failureCode.FindStringSubmatch(s); g != nil {
		code = g[1]
	}
	return app, fmt.Errorf("android %s: install %s (%s): %s: %w", serial, path, app.ID, code, driver.ErrInstallFailed)
}

// Uninstall removes a package.
func (d *Driver) Uninstall(ctx context.Context, serial, appID string) error {
	res, err := d.Shell(ctx, serial, "pm uninstall "+shellQuote(appID))
	if err != nil {
		return err
	}
	if out := strings.TrimSpace(string(res.Stdout)); out != "Success" {
		return fmt.Errorf("android %s: uninstall %s: %s", serial, appID, firstLine(out+string(res.Stderr)))
	}
	return nil
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// Screenshot returns a PNG from `screencap -p` over exec: (raw bytes, no shell framing).
func (d *Driver) Screenshot(ctx context.Context, serial string) ([]byte, error) {
	c, err := d.exec(ctx, serial, "screencap -p")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	b, err := io.ReadAll(io.LimitReader(c, 64<<20))
	if err != nil && ctx.Err() != nil {
		return nil, deviceError(serial, "screencap", ctx.Err())
	}
	if !bytes.HasPrefix(b, pngMagic) {
		if len(b) == 0 && d.gone(serial) {
			return nil, fmt.Errorf("android %s: screencap: %w", serial, driver.ErrDeviceGone)
		}
		return nil, fmt.Errorf("android %s: screencap returned %d bytes that are not a PNG: %.60q", serial, len(b), b)
	}
	return b, nil
}

// reverse sends a reverse: request; the device answers OKAY or FAIL on the stream.
func (d *Driver) reverse(ctx context.Context, serial, req string) error {
	c, err := d.openService(ctx, serial, "reverse:"+req)
	if err != nil {
		return err
	}
	defer c.Close()
	var st [4]byte
	if _, err := io.ReadFull(c, st[:]); err != nil {
		return deviceError(serial, "reverse "+req, err)
	}
	if string(st[:]) == "OKAY" {
		return nil
	}
	msg, _ := readHex(c)
	return fmt.Errorf("android %s: reverse %s: %s", serial, req, msg)
}

func readHex(c net.Conn) (string, error) {
	var l [4]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return "", err
	}
	n, err := strconv.ParseUint(string(l[:]), 16, 16)
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	_, err = io.ReadFull(c, b)
	return string(b), err
}

// ApplyNetworkProfile routes the device's HTTP traffic through a proxy on the agent host:
// `adb reverse tcp:P tcp:P` makes the host's port P reachable as the device's localhost:P,
// and the global http_proxy points apps at it. restore puts back the previous proxy setting
// and removes the reverse.
func (d *Driver) ApplyNetworkProfile(ctx context.Context, serial, hostProxyAddr string) (func(context.Context) error, error) {
	_, port, err := net.SplitHostPort(hostProxyAddr)
	if err != nil {
		return nil, fmt.Errorf("android %s: proxy address %q: %w", serial, hostProxyAddr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return nil, fmt.Errorf("android %s: proxy address %q: bad port", serial, hostProxyAddr)
	}
	prev, err := d.run(ctx, serial, "settings get global http_proxy")
	if err != nil {
		return nil, err
	}
	prev = strings.TrimSpace(prev)
	spec := "tcp:" + port
	if err := d.reverse(ctx, serial, "forward:"+spec+";"+spec); err != nil {
		return nil, err
	}
	if _, err := d.run(ctx, serial, "settings put global http_proxy 127.0.0.1:"+port); err != nil {
		_ = d.reverse(ctx, serial, "killforward:"+spec)
		return nil, err
	}
	restore := func(ctx context.Context) error {
		cmd := "settings put global http_proxy " + shellQuote(prev)
		if prev == "null" || prev == "" {
			// ":0" is how Android clears a global proxy without a reboot.
			cmd = "settings put global http_proxy :0; settings delete global http_proxy"
		}
		_, err1 := d.run(ctx, serial, cmd)
		err2 := d.reverse(ctx, serial, "killforward:"+spec)
		if err1 != nil {
			return err1
		}
		return err2
	}
	return restore, nil
}

// Reboot restarts the device (`adb reboot`) and waits until it is back and has finished
// booting (sys.boot_completed=1), or ctx ends.
func (d *Driver) Reboot(ctx context.Context, serial string) error {
	c, err := d.openService(ctx, serial, "reboot:")
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, c)
	c.Close()
	d.forgetFeatures(serial)
	// Give the device a moment to leave, then wait for it to answer as booted.
	select {
	case <-ctx.Done():
		return deviceError(serial, "reboot", ctx.Err())
	case <-time.After(200 * time.Millisecond):
	}
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		res, err := d.Shell(sctx, serial, "getprop sys.boot_completed")
		cancel()
		if err == nil && strings.TrimSpace(string(res.Stdout)) == "1" {
			return nil
		}
		d.forgetFeatures(serial)
		// A network device listens again before the adb server's reconnect backoff notices;
		// re-connect it as soon as its port answers.
		if _, _, perr := net.SplitHostPort(serial); perr == nil {
			if nc, derr := (&net.Dialer{Timeout: 200 * time.Millisecond}).DialContext(ctx, "tcp", serial); derr == nil {
				nc.Close()
				_, _ = adbserver.Query(ctx, d.addr, "host:disconnect:"+serial)
				_ = d.Connect(ctx, serial)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("android %s: waiting for reboot: %w", serial, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
