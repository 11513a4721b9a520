package usbmux

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AFC opcodes and status codes (Apple File Conduit, as go-ios and libimobiledevice number them).
const (
	afcMagic          = 0x4141504c36414643 // "CFA6LPAA"
	afcHeaderSize     = 40
	afcOpStatus       = 0x01
	afcOpData         = 0x02
	afcOpReadDir      = 0x03
	afcOpWrite        = 0x05
	afcOpRemove       = 0x08
	afcOpMakeDir      = 0x09
	afcOpFileInfo     = 0x0A
	afcOpDeviceInfo   = 0x0B
	afcOpFileOpen     = 0x0D
	afcOpFileOpenRes  = 0x0E
	afcOpFileRead     = 0x0F
	afcOpFileWrite    = 0x10
	afcOpFileClose    = 0x14
	afcOpRemoveAll    = 0x22
	afcErrSuccess     = 0
	afcErrInvalidArg  = 7
	afcErrNotFound    = 8
	afcErrPermDenied  = 10
	afcErrUnsupported = 15
)

// serveCrashMover moves freshly written reports into the copy directory and says "ping".
func (d *Device) serveCrashMover(c net.Conn) {
	d.mu.Lock()
	for _, cl := range d.pending {
		d.crashes[cl.Name] = cl
	}
	d.pending = nil
	d.mu.Unlock()
	_, _ = c.Write([]byte("ping"))
}

type afcPacket struct {
	op     uint64
	num    uint64
	header []byte
	body   []byte
}

func readAFC(r io.Reader) (afcPacket, error) {
	var h [afcHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return afcPacket{}, err
	}
	if binary.LittleEndian.Uint64(h[0:]) != afcMagic {
		return afcPacket{}, fmt.Errorf("afc: bad magic")
	}
	entire, this := binary.LittleEndian.Uint64(h[8:]), binary.LittleEndian.Uint64(h[16:])
	if this < afcHeaderSize || entire < this || entire > 64<<20 {
		return afcPacket{}, fmt.Errorf("afc: bad lengths %d/%d", entire, this)
	}
	p := afcPacket{num: binary.LittleEndian.Uint64(h[24:]), op: binary.LittleEndian.Uint64(h[32:])}
	p.header = make([]byte, this-afcHeaderSize)
	p.body = make([]byte, entire-this)
	if _, err := io.ReadFull(r, p.header); err != nil {
		return p, err
	}
	_, err := io.ReadFull(r, p.body)
	return p, err
}

func writeAFC(w io.Writer, num, op uint64, header, body []byte) error {
	buf := make([]byte, afcHeaderSize, afcHeaderSize+len(header)+len(body))
	binary.LittleEndian.PutUint64(buf[0:], afcMagic)
	binary.LittleEndian.PutUint64(buf[8:], uint64(afcHeaderSize+len(header)+len(body)))
	binary.LittleEndian.PutUint64(buf[16:], uint64(afcHeaderSize+len(header)))
	binary.LittleEndian.PutUint64(buf[24:], num)
	binary.LittleEndian.PutUint64(buf[32:], op)
	buf = append(append(buf, header...), body...)
	_, err := w.Write(buf)
	return err
}

func afcStatus(w io.Writer, num uint64, code uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], code)
	return writeAFC(w, num, afcOpStatus, b[:], nil)
}

// afcPath normalises a request path ("./x", "/x", "x\x00") to a crash file name; "" is the root.
func afcPath(b []byte) string {
	p := strings.TrimRight(string(b), "\x00")
	p = strings.TrimPrefix(p, "/")
	for strings.HasPrefix(p, "./") {
		p = p[2:]
	}
	if p == "." {
		return ""
	}
	return strings.TrimSuffix(p, "/")
}

// serveAFC exposes the crash report directory (crashreportcopymobile) over AFC: list, stat,
// read and remove. Writes are refused, as they are on a real device's crash directory.
func (d *Device) serveAFC(c net.Conn) {
	type handle struct {
		data []byte
		off  int
	}
	handles := map[uint64]*handle{}
	nextFD := uint64(1)
	for {
		p, err := readAFC(c)
		if err != nil {
			return
		}
		lookup := func(name string) (*CrashLog, bool) {
			d.mu.Lock()
			defer d.mu.Unlock()
			cl, ok := d.crashes[name]
			return cl, ok
		}
		switch p.op {
		case afcOpReadDir:
			name := afcPath(p.header)
			if name != "" {
				if _, ok := lookup(name); ok {
					err = afcStatus(c, p.num, afcErrInvalidArg)
				} else {
					err = afcStatus(c, p.num, afcErrNotFound)
				}
				break
			}
			d.mu.Lock()
			names := make([]string, 0, len(d.crashes))
			for n := range d.crashes {
				names = append(names, n)
			}
			d.mu.Unlock()
			sort.Strings(names)
			var out bytes.Buffer
			for _, n := range append([]string{".", ".."}, names...) {
				out.WriteString(n)
				out.WriteByte(0)
			}
			err = writeAFC(c, p.num, afcOpData, nil, out.Bytes())
		case afcOpFileInfo:
			name := afcPath(p.header)
			kv := func(pairs ...string) []byte {
				return []byte(strings.Join(pairs, "\x00") + "\x00")
			}
			if name == "" {
				err = writeAFC(c, p.num, afcOpData, nil, kv("st_size", "128", "st_blocks", "0", "st_nlink", "2", "st_ifmt", "S_IFDIR", "st_mode", "40775"))
				break
			}
			cl, ok := lookup(name)
			if !ok {
				err = afcStatus(c, p.num, afcErrNotFound)
				break
			}
			ns := strconv.FormatInt(cl.ModTime.UnixNano(), 10)
			err = writeAFC(c, p.num, afcOpData, nil, kv("st_size", strconv.Itoa(len(cl.Data)), "st_blocks", strconv.Itoa((len(cl.Data)+511)/512),
				"st_nlink", "1", "st_ifmt", "S_IFREG", "st_mode", "100644", "st_mtime", ns, "st_birthtime", ns))
		case afcOpFileOpen:
			if len(p.header) < 8 {
				err = afcStatus(c, p.num, afcErrInvalidArg)
				break
			}
			if mode := binary.LittleEndian.Uint64(p.header); mode != 1 {
				err = afcStatus(c, p.num, afcErrPermDenied)
				break
			}
			cl, ok := lookup(afcPath(p.header[8:]))
			if !ok {
				err = afcStatus(c, p.num, afcErrNotFound)
				break
			}
			fd := nextFD
			nextFD++
			handles[fd] = &handle{data: cl.Data}
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], fd)
			err = writeAFC(c, p.num, afcOpFileOpenRes, b[:], nil)
		case afcOpFileRead:
			if len(p.header) < 16 {
				err = afcStatus(c, p.num, afcErrInvalidArg)
				break
			}
			h, ok := handles[binary.LittleEndian.Uint64(p.header)]
			if !ok {
				err = afcStatus(c, p.num, afcErrInvalidArg)
				break
			}
			n := min(int(min(binary.LittleEndian.Uint64(p.header[8:]), 1<<20)), len(h.data)-h.off)
			err = writeAFC(c, p.num, afcOpData, nil, h.data[h.off:h.off+n])
			h.off += n
		case afcOpFileClose:
			if len(p.header) >= 8 {
				delete(handles, binary.LittleEndian.Uint64(p.header))
			}
			err = afcStatus(c, p.num, afcErrSuccess)
		case afcOpRemove, afcOpRemoveAll:
			name := afcPath(p.header)
			if name == "" {
				err = afcStatus(c, p.num, afcErrPermDenied)
				break
			}
			d.mu.Lock()
			_, ok := d.crashes[name]
			delete(d.crashes, name)
			d.mu.Unlock()
			if !ok {
				err = afcStatus(c, p.num, afcErrNotFound)
				break
			}
			err = afcStatus(c, p.num, afcErrSuccess)
		case afcOpDeviceInfo:
			info := fmt.Sprintf("Model\x00%s\x00FSTotalBytes\x00%d\x00FSFreeBytes\x00%d\x00FSBlockSize\x004096\x00", d.productType, d.storage, d.freeBytes())
			err = writeAFC(c, p.num, afcOpData, nil, []byte(info))
		case afcOpMakeDir, afcOpFileWrite, afcOpWrite:
			err = afcStatus(c, p.num, afcErrPermDenied)
		default:
			err = afcStatus(c, p.num, afcErrUnsupported)
		}
		if err != nil {
			return
		}
	}
}

// crashReportLocked renders a crash report in the .ips format of iOS 15 and later: a one-line
// JSON header (bug_type 309) followed by the JSON crash body. d.mu must be held.
func (d *Device) crashReportLocked(process string, app *App, excType, signal string, pid int, t time.Time) *CrashLog {
	bundleID, version, build := "com.apple."+process, d.inst.OSVersion, d.build
	if app != nil {
		bundleID, version, build = app.BundleID, app.Version, app.Build
	}
	osv := fmt.Sprintf("iPhone OS %s (%s)", d.inst.OSVersion, d.build)
	incident := newUUID()
	header := map[string]any{
		"app_name": process, "timestamp": t.UTC().Format("2006-01-02 15:04:05.00 -0700"),
		"app_version": version, "slice_uuid": strings.ToLower(newUUID()), "adam_id": "0",
		"build_version": build, "bundleID": bundleID, "share_with_app_devs": 0, "is_first_party": 0,
		"bug_type": "309", "os_version": osv, "roots_installed": 0, "incident_id": incident, "name": process,
	}
	body := map[string]any{
		"uptime": 86400 + int(d.ecid%100000), "procRole": "Foreground", "version": 2, "userID": 501,
		"deployVersion": 210, "modelCode": d.productType, "coalitionID": 1234,
		"osVersion":      map[string]any{"isEmbedded": true, "train": "iPhone OS " + d.inst.OSVersion, "releaseType": "User", "build": d.build},
		"captureTime":    t.UTC().Format("2006-01-02 15:04:05.0000 -0700"),
		"incident":       incident,
		"pid":            pid,
		"procLaunch":     t.Add(-1500 * time.Millisecond).UTC().Format("2006-01-02 15:04:05.0000 -0700"),
		"procName":       process,
		"procPath":       "/private/var/containers/Bundle/Application/" + incident + "/" + process + ".app/" + process,
		"bundleInfo":     map[string]any{"CFBundleShortVersionString": version, "CFBundleVersion": build, "CFBundleIdentifier": bundleID},
		"cpuType":        "ARM-64",
		"exception":      map[string]any{"codes": "0x0000000000000001, 0x0000000000000000", "rawCodes": []int{1, 0}, "type": excType, "signal": signal, "subtype": "KERN_INVALID_ADDRESS at 0x0000000000000000"},
		"termination":    map[string]any{"flags": 0, "code": 11, "namespace": "SIGNAL", "indicator": "Segmentation fault: 11", "byProc": "exc handler", "byPid": pid},
		"vmregioninfo":   "0 is not in any region.",
		"faultingThread": 0,
		"threads": []any{map[string]any{"triggered": true, "id": 1000 + pid, "queue": "com.apple.main-thread",
			"frames": []any{map[string]any{"imageOffset": 17236, "imageIndex": 0}, map[string]any{"imageOffset": 91544, "imageIndex": 1}}}},
		"usedImages": []any{map[string]any{"source": "P", "arch": "arm64", "base": 4338008064, "size": 65536, "name": process},
			map[string]any{"source": "P", "arch": "arm64e", "base": 6811811840, "size": 528384, "name": "UIKitCore"}},
	}
	hb, _ := json.Marshal(header)
	bb, _ := json.MarshalIndent(body, "", "  ")
	name := fmt.Sprintf("%s-%s.ips", process, t.Format("2006-01-02-150405"))
	taken := func(n string) bool {
		for _, c := range d.pending {
			if c.Name == n {
				return true
			}
		}
		return d.crashes[n] != nil
	}
	for i := 1; taken(name); i++ {
		name = fmt.Sprintf("%s-%s-%d.ips", process, t.Format("2006-01-02-150405"), i)
	}
	return &CrashLog{Name: name, Data: append(append(hb, '\n'), bb...), ModTime: t}
}
