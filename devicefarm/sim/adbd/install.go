package adbd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// pmInstall implements `pm install [-r] [-t] [-d] [-g] PATH` and the streamed
// `cmd package install -S SIZE` that adb >= 24 uses (stdin carries the APK).
func (d *Device) pmInstall(args []string, stdin io.Reader, out io.Writer) int {
	size := int64(-1)
	apkPath := ""
	downgrade := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-S" && i+1 < len(args):
			i++
			n, err := strconv.ParseInt(args[i], 10, 64)
			if err != nil || n < 0 {
				fmt.Fprintf(out, "Error: invalid size %q\n", args[i])
				return 1
			}
			size = n
		case a == "-d":
			downgrade = true
		case a == "-i" || a == "--user" || a == "--install-location" || a == "--abi" || a == "-p":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			apkPath = a
		}
	}
	var sink *blobSink
	var label string
	switch {
	case size >= 0:
		if stdin == nil {
			fmt.Fprintln(out, "Failure [INSTALL_FAILED_INVALID_APK: no stdin]")
			return 1
		}
		d.mu.Lock()
		free := d.freeKB << 10
		d.mu.Unlock()
		sink = d.newBlobSink(context.Background())
		n, err := io.CopyN(sink, stdin, size)
		if err != nil {
			d.log.Warn("adbd: install stream ended early", "want", size, "got", n, "err", err)
			fmt.Fprintf(out, "Failure [INSTALL_FAILED_INVALID_APK: Failed to read stream: %d of %d bytes]\n", n, size)
			return 1
		}
		if size > free {
			fmt.Fprintln(out, "Failure [INSTALL_FAILED_INSUFFICIENT_STORAGE]")
			return 1
		}
		label = "stdin"
	case apkPath != "":
		d.mu.Lock()
		f, ok := d.files[apkPath]
		d.mu.Unlock()
		if !ok {
			fmt.Fprintf(out, "Error: Unable to open file: %s\nConsider using a file under /data/local/tmp/\nError: Can't open file: %s\n", apkPath, apkPath)
			return 1
		}
		return d.finishInstall(f.manifest, f.size, f.hash, apkPath, downgrade, out)
	default:
		fmt.Fprintln(out, "Error: APK content must be streamed")
		return 1
	}
	if len(sink.head) < 4 || string(sink.head[:4]) != "PK\x03\x04" {
		fmt.Fprintln(out, "Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse /data/app/vmdl.tmp/base.apk: Failed to load asset path /data/app/vmdl.tmp/base.apk]")
		return 1
	}
	return d.finishInstall(sniffManifest(sink.head, label), sink.n, sink.h.Sum64(), label, downgrade, out)
}

func (d *Device) finishInstall(m *Manifest, size int64, hash uint64, from string, downgrade bool, out io.Writer) int {
	name := ""
	if m != nil {
		name = m.Package
	} else if name = packageFromPath(from); name == "" {
		// No manifest we can read: real pm would fail to parse; say so.
		fmt.Fprintln(out, "Failure [INSTALL_PARSE_FAILED_NO_CERTIFICATES: No fleetlens manifest entry "+ManifestEntry+" in APK]")
		return 1
	}
	sdk, _ := strconv.Atoi(d.props["ro.build.version.sdk"])
	if m != nil && m.MinSDK > sdk {
		fmt.Fprintf(out, "Failure [INSTALL_FAILED_OLDER_SDK: Failed parse during installPackageLI: /data/app/vmdl.tmp/base.apk (at Binary XML file line #7): Requires newer sdk version #%d (current version is #%d)]\n", m.MinSDK, sdk)
		return 1
	}
	p := &pkg{name: name, size: size, hash: hash, manifest: m, installed: time.Now(), version: "1.0", versionCode: 1}
	if m != nil {
		if m.VersionName != "" {
			p.version = m.VersionName
		}
		if m.VersionCode > 0 {
			p.versionCode = m.VersionCode
		}
	}
	d.mu.Lock()
	if old, ok := d.packages[name]; ok && old.versionCode > p.versionCode && !downgrade {
		d.mu.Unlock()
		fmt.Fprintf(out, "Failure [INSTALL_FAILED_VERSION_DOWNGRADE: Downgrade detected: Update version code %d is older than current %d]\n", p.versionCode, old.versionCode)
		return 1
	}
	d.packages[name] = p
	d.freeKB -= size >> 10
	d.mu.Unlock()
	d.logf("main", 'I', "PackageManager", "Package %s codePath changed from null to /data/app/%s-1; Retaining data and using new", name, name)
	fmt.Fprintln(out, "Success")
	return 0
}

// serveReverse answers the reverse: services the way adbd's reverse handler does: the
// protocol status (OKAY or FAIL+hex length) written on the stream itself.
func (d *Device) serveReverse(s *stream, req string) {
	// The reply is rendered under d.mu and written after: see settingsCmd for why no
	// stream write may happen under d.mu.
	var b bytes.Buffer
	d.reverseLocked(&b, req)
	_, _ = s.Write(b.Bytes())
}

func (d *Device) reverseLocked(s io.Writer, req string) {
	okay := func() { _, _ = io.WriteString(s, "OKAY") }
	fail := func(msg string) { _, _ = io.WriteString(s, fmt.Sprintf("FAIL%04x%s", len(msg), msg)) }
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case req == "list-forward":
		var b strings.Builder
		for local, remote := range d.reverses {
			fmt.Fprintf(&b, "UsbFfs %s %s\n", local, remote)
		}
		// Device side: the protocol string only; the host adds the OKAY.
		_, _ = io.WriteString(s, fmt.Sprintf("%04x%s", b.Len(), b.String()))
	case req == "killforward-all":
		d.reverses = map[string]string{}
		okay()
	case strings.HasPrefix(req, "killforward:"):
		local := strings.TrimPrefix(req, "killforward:")
		if _, ok := d.reverses[local]; !ok {
			fail(fmt.Sprintf("listener '%s' not found", local))
			return
		}
		delete(d.reverses, local)
		okay()
	case strings.HasPrefix(req, "forward:"):
		spec := strings.TrimPrefix(req, "forward:")
		norebind := strings.HasPrefix(spec, "norebind:")
		spec = strings.TrimPrefix(spec, "norebind:")
		local, remote, ok := strings.Cut(spec, ";")
		if !ok || !strings.HasPrefix(local, "tcp:") || !strings.HasPrefix(remote, "tcp:") {
			fail("cannot parse reverse spec " + spec)
			return
		}
		if _, exists := d.reverses[local]; exists && norebind {
			fail("cannot rebind existing socket")
			return
		}
		d.reverses[local] = remote
		// On the device side only one OKAY (the status); the host's transport supplies the
		// connect OKAY (adb/adb_listeners handle_forward_request).
		okay()
	default:
		fail("unknown reverse request " + req)
	}
}
