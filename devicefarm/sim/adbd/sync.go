package adbd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

const (
	syncDataMax = 64 << 10 // SYNC_DATA_MAX
	maxPathLen  = 1024
	// keepContentMax: files up to this size keep their bytes (sidecars, small configs);
	// larger ones keep only size and hash, so 500 devices can each take a 2 GB push.
	keepContentMax = 64 << 10
	sniffMax       = 64 << 10
)

type file struct {
	size     int64
	mode     uint32
	mtime    uint32
	hash     uint64
	content  []byte
	manifest *Manifest
}

func knownDir(p string) bool {
	switch strings.TrimSuffix(p, "/") {
	case "", "/data", "/data/local", "/data/local/tmp", "/sdcard", "/storage/emulated/0", "/sdcard/Download", "/system", "/proc", "/sys":
		return true
	}
	return false
}

func (d *Device) storeFile(path string, data []byte, mode uint32) {
	f := &file{size: int64(len(data)), mode: mode, mtime: uint32(time.Now().Unix()), hash: xxhash.Sum64(data)}
	if len(data) <= keepContentMax {
		f.content = append([]byte(nil), data...)
	}
	f.manifest = sniffManifest(data, path)
	d.mu.Lock()
	d.files[path] = f
	d.mu.Unlock()
}

// blobSink hashes a byte stream, keeps its head for manifest sniffing and the whole of it only
// when small.
type blobSink struct {
	h    *xxhash.Digest
	head []byte
	n    int64
	// slow storage: bytes per second the flash accepts (0: unlimited) and the device to
	// sleep on
	rate int64
	dev  *Device
	ctx  context.Context
}

func (d *Device) newBlobSink(ctx context.Context) *blobSink {
	d.mu.Lock()
	rate := d.storageBps
	d.mu.Unlock()
	return &blobSink{h: xxhash.New(), rate: rate, dev: d, ctx: ctx}
}

func (b *blobSink) Write(p []byte) (int, error) {
	if b.rate > 0 {
		if err := b.dev.sleep(b.ctx, time.Duration(int64(len(p))*int64(time.Second)/b.rate)); err != nil {
			return 0, err
		}
	}
	_, _ = b.h.Write(p)
	if len(b.head) < sniffMax {
		b.head = append(b.head, p[:min(len(p), sniffMax-len(b.head))]...)
	}
	b.n += int64(len(p))
	return len(p), nil
}

func (d *Device) serveSync(ctx context.Context, s *stream) {
	r := bufio.NewReaderSize(s, 8<<10)
	var hdr [8]byte
	fail := func(msg string) {
		var b bytes.Buffer
		b.WriteString("FAIL")
		_ = binary.Write(&b, binary.LittleEndian, uint32(len(msg)))
		b.WriteString(msg)
		_, _ = s.Write(b.Bytes())
	}
	for ctx.Err() == nil {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err != io.EOF {
				d.log.Warn("adbd: sync: truncated request", "err", err)
			}
			return
		}
		id := string(hdr[:4])
		n := binary.LittleEndian.Uint32(hdr[4:])
		if id == "QUIT" {
			return
		}
		if n > maxPathLen {
			d.log.Warn("adbd: sync: path too long", "id", id, "len", n)
			fail("path too long")
			return
		}
		pb := make([]byte, n)
		if _, err := io.ReadFull(r, pb); err != nil {
			d.log.Warn("adbd: sync: truncated path", "err", err)
			return
		}
		path := string(pb)
		switch id {
		case "STAT":
			mode, size, mtime := d.stat(path)
			var b [16]byte
			copy(b[:], "STAT")
			binary.LittleEndian.PutUint32(b[4:], mode)
			binary.LittleEndian.PutUint32(b[8:], size)
			binary.LittleEndian.PutUint32(b[12:], mtime)
			if _, err := s.Write(b[:]); err != nil {
				return
			}
		case "LIST":
			if _, err := s.Write(d.listDir(path)); err != nil {
				return
			}
		case "RECV":
			if !d.sendFile(s, path, fail) {
				return
			}
		case "SEND":
			if !d.recvFile(r, s, path, fail) {
				return
			}
		default:
			d.log.Warn("adbd: sync: unknown request", "id", fmt.Sprintf("%q", id))
			fail("unknown command")
			return
		}
	}
}

func (d *Device) stat(path string) (mode, size, mtime uint32) {
	if knownDir(path) {
		return 0o40771, 4096, uint32(d.start.Unix())
	}
	if s, ok := d.virtualFile(path); ok {
		return 0o100444, uint32(len(s)), uint32(time.Now().Unix())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if f, ok := d.files[path]; ok {
		return f.mode, uint32(f.size), f.mtime
	}
	for p := range d.files {
		if strings.HasPrefix(p, strings.TrimSuffix(path, "/")+"/") {
			return 0o40771, 4096, uint32(d.start.Unix())
		}
	}
	return 0, 0, 0
}

func (d *Device) listDir(dir string) []byte {
	dir = strings.TrimSuffix(dir, "/")
	type ent struct {
		name              string
		mode, size, mtime uint32
	}
	ents := []ent{{".", 0o40771, 4096, uint32(d.start.Unix())}, {"..", 0o40771, 4096, uint32(d.start.Unix())}}
	d.mu.Lock()
	for p, f := range d.files {
		if strings.HasPrefix(p, dir+"/") && !strings.Contains(p[len(dir)+1:], "/") {
			ents = append(ents, ent{p[len(dir)+1:], f.mode, uint32(f.size), f.mtime})
		}
	}
	d.mu.Unlock()
	sort.Slice(ents[2:], func(i, j int) bool { return ents[2+i].name < ents[2+j].name })
	var b bytes.Buffer
	for _, e := range ents {
		b.WriteString("DENT")
		_ = binary.Write(&b, binary.LittleEndian, [4]uint32{e.mode, e.size, e.mtime, uint32(len(e.name))})
		b.WriteString(e.name)
	}
	b.WriteString("DONE")
	b.Write(make([]byte, 16))
	return b.Bytes()
}

func (d *Device) sendFile(s *stream, path string, fail func(string)) bool {
	var data []byte
	if v, ok := d.virtualFile(path); ok {
		data = []byte(v)
	} else {
		d.mu.Lock()
		f, ok := d.files[path]
		d.mu.Unlock()
		switch {
		case !ok:
			fail("No such file or directory")
			return true
		case f.content == nil:
			// Only size and hash were kept: say so instead of inventing bytes.
			fail(fmt.Sprintf("simulator keeps only size and hash of %s (%d bytes)", path, f.size))
			return true
		}
		data = f.content
	}
	var b bytes.Buffer
	for len(data) > 0 {
		n := min(len(data), syncDataMax)
		b.WriteString("DATA")
		_ = binary.Write(&b, binary.LittleEndian, uint32(n))
		b.Write(data[:n])
		data = data[n:]
	}
	b.WriteString("DONE")
	b.Write(make([]byte, 4))
	_, err := s.Write(b.Bytes())
	return err == nil
}

func (d *Device) recvFile(r io.Reader, s *stream, spec string, fail func(string)) bool {
	path, modeStr, _ := strings.Cut(spec, ",")
	mode := uint32(0o100644)
	if m, err := parseUint(modeStr); err == nil && m != 0 {
		mode = m
	}
	d.mu.Lock()
	free := d.freeKB << 10
	d.mu.Unlock()
	sink := d.newBlobSink(context.Background())
	var keep []byte
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			d.log.Warn("adbd: sync: push of "+path+" truncated", "err", err, "bytes", sink.n)
			return false
		}
		id := string(hdr[:4])
		n := binary.LittleEndian.Uint32(hdr[4:])
		switch id {
		case "DATA":
			if n > syncDataMax {
				d.log.Warn("adbd: sync: oversized DATA", "len", n)
				fail("invalid data message: too long")
				return false
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(r, buf); err != nil {
				d.log.Warn("adbd: sync: truncated DATA", "err", err)
				return false
			}
			_, _ = sink.Write(buf)
			if sink.n <= keepContentMax {
				keep = append(keep, buf...)
			} else {
				keep = nil
			}
			if sink.n > free {
				fail("write failed: No space left on device")
				return false
			}
		case "DONE":
			f := &file{size: sink.n, mode: mode, mtime: n, hash: sink.h.Sum64(), manifest: sniffManifest(sink.head, path)}
			if sink.n <= keepContentMax {
				f.content = keep
				if f.content == nil {
					f.content = []byte{}
				}
			}
			d.mu.Lock()
			d.files[path] = f
			d.freeKB -= sink.n >> 10
			d.mu.Unlock()
			_, err := s.Write([]byte("OKAY\x00\x00\x00\x00"))
			return err == nil
		default:
			d.log.Warn("adbd: sync: unexpected request during SEND", "id", fmt.Sprintf("%q", id))
			fail("invalid data message")
			return false
		}
	}
}

func parseUint(s string) (uint32, error) {
	var v uint32
	_, err := fmt.Sscanf(s, "%d", &v)
	return v, err
}
