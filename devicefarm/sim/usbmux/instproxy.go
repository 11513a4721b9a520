package usbmux

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"howett.net/plist"
)

var systemApps = []map[string]any{
	{"CFBundleIdentifier": "com.apple.mobilesafari", "CFBundleDisplayName": "Safari", "CFBundleExecutable": "MobileSafari"},
	{"CFBundleIdentifier": "com.apple.Preferences", "CFBundleDisplayName": "Settings", "CFBundleExecutable": "Preferences"},
	{"CFBundleIdentifier": "com.apple.mobileslideshow", "CFBundleDisplayName": "Photos", "CFBundleExecutable": "MobileSlideShow"},
	{"CFBundleIdentifier": "com.apple.camera", "CFBundleDisplayName": "Camera", "CFBundleExecutable": "Camera"},
	{"CFBundleIdentifier": "com.apple.MobileSMS", "CFBundleDisplayName": "Messages", "CFBundleExecutable": "MobileSMS"},
}

func (d *Device) appInfo(a *App) map[string]any {
	return map[string]any{
		"ApplicationType":            "User",
		"CFBundleIdentifier":         a.BundleID,
		"CFBundleDisplayName":        a.Name,
		"CFBundleName":               a.Name,
		"CFBundleExecutable":         a.Executable,
		"CFBundleShortVersionString": a.Version,
		"CFBundleVersion":            a.Build,
		"CFBundleSupportedPlatforms": []string{"iPhoneOS"},
		"MinimumOSVersion":           a.MinOS,
		"Path":                       "/private/var/containers/Bundle/Application/" + strings.ToUpper(a.SHA256[:8]+"-"+a.SHA256[8:12]+"-"+a.SHA256[12:16]+"-"+a.SHA256[16:20]+"-"+a.SHA256[20:32]) + "/" + a.Executable + ".app",
		"StaticDiskUsage":            uint64(a.Bytes),
		"DynamicDiskUsage":           uint64(16384),
		"UIDeviceFamily":             []int{1, 2},
		"UIFileSharingEnabled":       false,
		"Entitlements":               map[string]any{"application-identifier": "ABCDE12345." + a.BundleID},
	}
}

func (d *Device) systemAppInfo(m map[string]any) map[string]any {
	out := map[string]any{
		"ApplicationType":            "System",
		"CFBundleShortVersionString": d.inst.OSVersion,
		"CFBundleVersion":            "8620." + d.build,
		"Path":                       "/Applications/" + m["CFBundleExecutable"].(string) + ".app",
	}
	for k, v := range m {
		out[k] = v
	}
	out["CFBundleName"] = m["CFBundleDisplayName"]
	return out
}

// filterAttrs keeps only ReturnAttributes, as installd does.
func filterAttrs(info map[string]any, opts map[string]any) map[string]any {
	attrs, _ := opts["ReturnAttributes"].([]any)
	if len(attrs) == 0 {
		return info
	}
	out := map[string]any{}
	for _, a := range attrs {
		if k, ok := a.(string); ok {
			if v, ok := info[k]; ok {
				out[k] = v
			}
		}
	}
	return out
}

func (d *Device) serveInstallationProxy(c net.Conn) {
	for {
		req, err := readMsg(c)
		if err == errNotPlist {
			if writeMsg(c, map[string]any{"Error": "InvalidRequest"}) != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		opts, _ := req["ClientOptions"].(map[string]any)
		cmd, _ := req["Command"].(string)
		switch cmd {
		case "Browse":
			typ, _ := opts["ApplicationType"].(string)
			var list []any
			if typ == "" || typ == "User" || typ == "Any" {
				for _, a := range d.Apps() {
					list = append(list, filterAttrs(d.appInfo(&a), opts))
				}
			}
			if typ == "" || typ == "System" || typ == "Any" {
				for _, m := range systemApps {
					list = append(list, filterAttrs(d.systemAppInfo(m), opts))
				}
			}
			if len(list) > 0 {
				if writeMsg(c, map[string]any{"Status": "BrowsingApplications", "CurrentIndex": 0, "CurrentAmount": len(list), "Total": len(list), "CurrentList": list}) != nil {
					return
				}
			}
			err = writeMsg(c, map[string]any{"Status": "Complete"})
		case "Lookup":
			ids, _ := opts["BundleIDs"].([]any)
			res := map[string]any{}
			d.mu.Lock()
			for _, a := range d.apps {
				for _, id := range ids {
					if id == a.BundleID {
						res[a.BundleID] = filterAttrs(d.appInfo(a), opts)
					}
				}
				if len(ids) == 0 {
					res[a.BundleID] = filterAttrs(d.appInfo(a), opts)
				}
			}
			d.mu.Unlock()
			err = writeMsg(c, map[string]any{"LookupResult": res, "Status": "Complete"})
		case "Uninstall":
			id, _ := req["ApplicationIdentifier"].(string)
			if id == "" {
				err = writeMsg(c, map[string]any{"Error": "MissingApplicationIdentifier"})
				break
			}
			if writeMsg(c, map[string]any{"Status": "RemovingApplication", "PercentComplete": 50}) != nil {
				return
			}
			d.mu.Lock()
			_, had := d.apps[id]
			delete(d.apps, id)
			d.mu.Unlock()
			if had {
				d.Log("installd", "Notice", fmt.Sprintf("0x16f7a3000 -[MIUninstaller uninstallIdentifiers:]: Uninstalling identifier %s", id))
			}
			err = writeMsg(c, map[string]any{"Status": "Complete"})
		case "Install", "Upgrade":
			// Packages pushed through AFC to PublicStaging are not simulated; zip conduit is.
			err = writeMsg(c, map[string]any{"Error": "PackageExtractionFailed", "ErrorDescription": "Could not open package at " + fmt.Sprint(req["PackagePath"])})
		default:
			err = writeMsg(c, map[string]any{"Error": "UnknownCommand", "ErrorDescription": "Unknown command " + cmd})
		}
		if err != nil {
			return
		}
	}
}

// serveZipConduit receives an app the way Xcode and go-ios send it: an InitTransfer plist,
// then a stream of stored (uncompressed) zip local file entries ending at the first central
// directory signature. Only size and SHA-256 of the file data are kept.
func (d *Device) serveZipConduit(c net.Conn) {
	fail := func(code, desc string) {
		d.Log("installd", "Error", fmt.Sprintf("-[MIInstaller performInstallationWithError:]: Install failed: %s: %s", code, desc))
		_ = writeMsg(c, map[string]any{"InstallProgressDict": map[string]any{"Error": code, "ErrorDescription": desc}})
	}
	init, err := readMsg(c)
	if err != nil {
		if err == errNotPlist {
			fail("InvalidRequest", "InitTransfer is not a plist")
		}
		return
	}
	if _, ok := init["MediaSubdir"].(string); !ok {
		fail("InvalidRequest", "InitTransfer lacks MediaSubdir")
		return
	}
	r := bufio.NewReaderSize(c, 64<<10)
	sum := sha256.New()
	var (
		total, got int64
		info       map[string]any
		hdr        [26]byte
		detached   bool
	)
	for {
		var sig [4]byte
		if _, err := io.ReadFull(r, sig[:]); err != nil {
			return
		}
		s := binary.LittleEndian.Uint32(sig[:])
		if s == 0x02014b50 { // central directory: the stream is complete
			break
		}
		if s != 0x04034b50 {
			fail("PackageExtractionFailed", fmt.Sprintf("unexpected zip record signature %#x", s))
			return
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		flags := binary.LittleEndian.Uint16(hdr[2:])
		method := binary.LittleEndian.Uint16(hdr[4:])
		size := int64(binary.LittleEndian.Uint32(hdr[14:]))
		nameLen := int(binary.LittleEndian.Uint16(hdr[22:]))
		extraLen := int64(binary.LittleEndian.Uint16(hdr[24:]))
		if method != 0 || flags&0x8 != 0 {
			fail("PackageExtractionFailed", "zip entries must be stored without data descriptors")
			return
		}
		name := make([]byte, nameLen)
		if _, err := io.ReadFull(r, name); err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, r, extraLen); err != nil {
			return
		}
		var keep []byte
		n := string(name)
		isMeta := n == "META-INF/com.apple.ZipMetadata.plist"
		isInfo := path.Base(n) == "Info.plist" && strings.HasPrefix(n, "Payload/") && strings.Count(n, "/") == 2 && strings.HasSuffix(path.Dir(n), ".app")
		var w io.Writer = sum
		var buf strings.Builder
		if (isMeta || isInfo) && size < 1<<20 {
			w = io.MultiWriter(sum, &buf)
		}
		if err := copyWithFault(d, w, r, size, &got, total, &detached); err != nil {
			return
		}
		keep = []byte(buf.String())
		if isMeta {
			var meta struct{ TotalUncompressedBytes int64 }
			if _, err := plist.Unmarshal(keep, &meta); err == nil {
				total = meta.TotalUncompressedBytes
			}
		}
		if isInfo {
			if _, err := plist.Unmarshal(keep, &info); err != nil {
				fail("PackageInspectionFailed", "Info.plist of "+path.Dir(n)+" is not a property list")
				return
			}
		}
	}
	d.finishInstall(c, info, got, sum, fail)
}

func copyWithFault(d *Device, w io.Writer, r io.Reader, size int64, got *int64, total int64, detached *bool) error {
	if d.Faults().DetachMidInstall && total > 0 && !*detached {
		half := total/2 - *got
		if half >= 0 && half < size {
			if _, err := io.CopyN(w, r, half); err != nil {
				return err
			}
			*detached = true
			d.faultDetach()
			return fmt.Errorf("detached mid-install")
		}
	}
	n, err := io.CopyN(w, r, size)
	*got += n
	return err
}

// faultDetach drops the device as a flaky cable would, bringing it back if so configured.
func (d *Device) faultDetach() {
	d.Detach()
	if after := d.Faults().ReattachAfter; after > 0 {
		time.AfterFunc(after, func() {
			select {
			case <-d.srv.done:
			default:
				d.Attach()
			}
		})
	}
}

func (d *Device) finishInstall(c net.Conn, info map[string]any, got int64, sum hash.Hash, fail func(code, desc string)) {
	str := func(k string) string { s, _ := info[k].(string); return s }
	bid := str("CFBundleIdentifier")
	if info == nil || bid == "" {
		fail("PackageInspectionFailed", "Failed to get the identifier for the app to be installed.")
		return
	}
	if minOS := str("MinimumOSVersion"); minOS != "" && versionLess(d.inst.OSVersion, minOS) {
		fail("DeviceOSVersionTooLow", fmt.Sprintf("The system version is lower than the minimum OS version specified for bundle at path %s (%s < %s)", bid, d.inst.OSVersion, minOS))
		return
	}
	if fam, ok := info["UIDeviceFamily"].([]any); ok && len(fam) > 0 && !strings.HasPrefix(d.productType, "iPad") {
		phone := false
		for _, f := range fam {
			if toInt(f) == 1 {
				phone = true
			}
		}
		if !phone {
			fail("DeviceFamilyNotSupported", "This application does not support this device's family.")
			return
		}
	}
	a := &App{
		BundleID: bid, Name: str("CFBundleDisplayName"), Executable: str("CFBundleExecutable"),
		Version: str("CFBundleShortVersionString"), Build: str("CFBundleVersion"), MinOS: str("MinimumOSVersion"),
		Bytes: got, SHA256: hex.EncodeToString(sum.Sum(nil)), InstalledAt: time.Now(),
	}
	if a.Name == "" {
		a.Name = str("CFBundleName")
	}
	if a.Executable == "" {
		a.Executable = bid[strings.LastIndex(bid, ".")+1:]
	}
	steps := []string{"CreatingStagingDirectory", "ExtractingPackage", "InspectingPackage", "TakingInstallLock", "PreflightingApplication", "InstallingEmbeddedProfile", "VerifyingApplication", "CreatingContainer", "InstallingApplication", "PostflightingApplication", "SandboxingApplication", "GeneratingApplicationMap"}
	for i, st := range steps {
		pct := 5 + i*90/len(steps)
		if writeMsg(c, map[string]any{"InstallProgressDict": map[string]any{"PercentComplete": pct, "Status": st}}) != nil {
			return
		}
	}
	d.mu.Lock()
	d.apps[bid] = a
	crash := d.faults.CrashAfterInstall && (d.faults.CrashApp == "" || d.faults.CrashApp == bid)
	d.mu.Unlock()
	d.Log("installd", "Notice", fmt.Sprintf("0x16f7a3000 -[MIClientConnection _doBackgroundInstallationForPath:withOptions:completion:]: Install Successful for (Placeholder:%s); Staging: /var/mobile/Media/PublicStaging; Final: /private/var/containers/Bundle/Application", bid))
	d.Log("SpringBoard", "Notice", fmt.Sprintf("[%s] Application installed: version %s (%s)", bid, a.Version, a.Build))
	d.Log(a.Executable, "Notice", fmt.Sprintf("[%s] registered for background refresh; bundle size %d bytes", bid, a.Bytes))
	if crash {
		d.Log(a.Executable, "Error", "*** Terminating app due to uncaught signal SIGSEGV at first scene connection")
		d.InjectCrash(a.Executable, "EXC_BAD_ACCESS", "SIGSEGV")
	}
	_ = writeMsg(c, map[string]any{"InstallProgressDict": map[string]any{"PercentComplete": 100, "Status": "Complete"}})
	_ = writeMsg(c, map[string]any{"Status": "DataComplete"})
}

// versionLess compares dotted versions numerically ("9.3" < "15.0").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func (d *Device) serveNotificationProxy(c net.Conn) {
	for {
		req, err := readMsg(c)
		if err != nil {
			return
		}
		if cmd, _ := req["Command"].(string); cmd == "Shutdown" {
			_ = writeMsg(c, map[string]any{"Command": "ProxyDeath"})
			return
		}
	}
}
