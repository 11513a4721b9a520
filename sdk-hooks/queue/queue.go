// Package queue owns the SDK's offline-first disk buffer: a directory of record files, one
// per export batch, bounded in bytes and age (SPEC §4 offline buffering norms: on by
// default, 10 MiB default bound, data older than 18 h dropped, then oldest first).
//
// Crash safety comes from never modifying a file in place: a record is written to a
// temporary file, fsynced, and renamed into its final name, so a kill -9 at any moment
// leaves either a complete record or a *.tmp file that Open deletes. Every record carries a
// CRC-32C over its header and payload; a truncated or garbage file is discarded and counted,
// never returned. Dropped data is counted by reason in a small sidecar file so the counts
// survive restarts and can be reported upstream.
package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults (SPEC §4 offline buffering norms, OTel-Android / Datadog).
const (
	DefaultMaxBytes       = 10 << 20
	DefaultMaxAge         = 18 * time.Hour
	DefaultMaxRecordBytes = 4 << 20
)

// Drop reasons.
const (
	DropExpired  = "expired"   // older than MaxAge
	DropOverflow = "overflow"  // evicted oldest-first to stay under MaxBytes
	DropCorrupt  = "corrupt"   // truncated or garbage record file
	DropDiskFull = "disk_full" // could not be written
	DropTooLarge = "too_large" // a single record larger than MaxRecordBytes
	DropRejected = "rejected"  // the backend refused it permanently (set by the uploader)
)

// Config configures a Queue.
type Config struct {
	Dir            string
	MaxBytes       int64         // total bytes on disk; default 10 MiB
	MaxAge         time.Duration // default 18 h
	MaxRecordBytes int64         // default 4 MB; larger records are refused
	// NoSync skips fsync; only for benchmarks that measure encoding cost.
	NoSync bool
	// Now is the wall clock; tests replace it to jump time.
	Now func() time.Time
}

// Validate reports a configuration error.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return errors.New("queue: Dir is empty")
	}
	if c.MaxBytes < 0 || c.MaxAge < 0 || c.MaxRecordBytes < 0 {
		return fmt.Errorf("queue: negative bound (MaxBytes %d, MaxAge %v, MaxRecordBytes %d)", c.MaxBytes, c.MaxAge, c.MaxRecordBytes)
	}
	return nil
}

func (c *Config) withDefaults() {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.MaxRecordBytes > c.MaxBytes {
		c.MaxRecordBytes = c.MaxBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Record is one queued batch.
type Record struct {
	Seq     uint64
	Kind    string // "traces" or "logs"
	Created time.Time
	Payload []byte
}

type entry struct {
	seq     uint64
	kind    string
	created int64 // unix nanos
	size    int64 // bytes on disk
}

// Queue is a bounded on-disk FIFO. Safe for concurrent use.
type Queue struct {
	cfg Config

	mu      sync.Mutex
	entries []entry // ascending seq
	bytes   int64
	nextSeq uint64
	drops   dropCounts
	notify  chan struct{}
}

// Stats is a snapshot of the queue.
type Stats struct {
	Records int
	Bytes   int64
	// Dropped counts what was discarded, by reason, since the queue directory was created.
	Dropped map[string]int64
	// Unreported is the part of Dropped not yet handed out by TakeUnreported.
	Unreported map[string]int64
}

const (
	recExt  = ".rec"
	tmpExt  = ".tmp"
	magic   = "FLQ1"
	hdrSize = 4 + 1 + 1 + 8 + 4 + 4 // magic, version, kind len, created, payload len, crc
	version = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Open opens (creating if needed) the queue in cfg.Dir, deleting leftovers of interrupted
// writes and records that fail their header check, and applying the age and byte bounds.
func Open(cfg Config) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: create %s: %w", cfg.Dir, err)
	}
	q := &Queue{cfg: cfg, nextSeq: 1, notify: make(chan struct{}, 1)}
	q.drops.load(filepath.Join(cfg.Dir, dropFile))
	des, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("queue: list %s: %w", cfg.Dir, err)
	}
	corrupt := int64(0)
	for _, de := range des {
		name := de.Name()
		p := filepath.Join(cfg.Dir, name)
		switch {
		case strings.HasSuffix(name, tmpExt):
			_ = os.Remove(p) // an interrupted write: never acknowledged, so nothing is lost
		case strings.HasSuffix(name, recExt):
			seq, err := strconv.ParseUint(strings.TrimSuffix(name, recExt), 10, 64)
			if err != nil {
				_ = os.Remove(p)
				corrupt++
				continue
			}
			e, err := readHeader(p, seq)
			if err != nil {
				_ = os.Remove(p)
				corrupt++
				continue
			}
			q.entries = append(q.entries, e)
			q.bytes += e.size
			if seq >= q.nextSeq {
				q.nextSeq = seq + 1
			}
		}
	}
	sort.Slice(q.entries, func(i, j int) bool { return q.entries[i].seq < q.entries[j].seq })
	q.mu.Lock()
	if corrupt > 0 {
		q.drops.add(DropCorrupt, corrupt)
		q.saveDropsLocked()
	}
	q.enforceLocked(0) // saves the counts itself when it drops anything
	q.mu.Unlock()
	if len(q.entries) > 0 {
		q.signal()
	}
	return q, nil
}

func recName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, recExt) }

func readHeader(path string, seq uint64) (entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return entry{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return entry{}, err
	}
	var h [hdrSize + 255]byte
	n, _ := f.Read(h[:])
	kind, created, plen, _, err := parseHeader(h[:n])
	if err != nil {
		return entry{}, err
	}
	if want := int64(hdrSize + len(kind) + int(plen)); st.Size() != want {
		return entry{}, fmt.Errorf("size %d, header says %d", st.Size(), want)
	}
	return entry{seq: seq, kind: kind, created: created, size: st.Size()}, nil
}

func parseHeader(b []byte) (kind string, created int64, plen uint32, crc uint32, err error) {
	if len(b) < hdrSize || string(b[:4]) != magic || b[4] != version {
		return "", 0, 0, 0, errors.New("bad magic or version")
	}
	kl := int(b[5])
	if len(b) < hdrSize+kl || kl == 0 {
		return "", 0, 0, 0, errors.New("short header")
	}
	created = int64(binary.LittleEndian.Uint64(b[6:14]))
	plen = binary.LittleEndian.Uint32(b[14:18])
	crc = binary.LittleEndian.Uint32(b[18:22])
	kind = string(b[hdrSize : hdrSize+kl])
	return kind, created, plen, crc, nil
}

// Append durably stores payload as a record of kind. When it returns nil the record is on
// disk (fsynced) and will survive a crash. Making room may evict the oldest records.
func (q *Queue) Append(kind string, payload []byte) (uint64, error) {
	if kind == "" || len(kind) > 255 {
		return 0, fmt.Errorf("queue: bad record kind %q", kind)
	}
	size := int64(hdrSize + len(kind) + len(payload))
	if size > q.cfg.MaxRecordBytes {
		q.mu.Lock()
		q.drops.add(DropTooLarge, 1)
		q.saveDropsLocked()
		q.mu.Unlock()
		return 0, fmt.Errorf("queue: record of %d bytes exceeds limit %d", size, q.cfg.MaxRecordBytes)
	}
	now := q.cfg.Now().UnixNano()
	q.mu.Lock()
	seq := q.nextSeq
	q.nextSeq++
	// Make room before writing so the directory never exceeds MaxBytes by more than one record.
	q.enforceLocked(size)
	q.mu.Unlock()

	buf := make([]byte, size)
	copy(buf, magic)
	buf[4] = version
	buf[5] = byte(len(kind))
	binary.LittleEndian.PutUint64(buf[6:14], uint64(now))
	binary.LittleEndian.PutUint32(buf[14:18], uint32(len(payload)))
	copy(buf[hdrSize:], kind)
	copy(buf[hdrSize+len(kind):], payload)
	crc := crc32.Update(crc32.Checksum(buf[:18], castagnoli), castagnoli, buf[hdrSize:])
	binary.LittleEndian.PutUint32(buf[18:22], crc)

	err := q.writeFile(seq, buf)
	if err != nil && errors.Is(err, syscall.ENOSPC) {
		// Disk full: give back our own oldest bytes and try once more.
		q.mu.Lock()
		q.evictOldestLocked(size, DropOverflow)
		q.mu.Unlock()
		err = q.writeFile(seq, buf)
	}
	if err != nil {
		q.mu.Lock()
		q.drops.add(DropDiskFull, 1)
		q.saveDropsLocked()
		q.mu.Unlock()
		return 0, fmt.Errorf("queue: write record %d in %s: %w", seq, q.cfg.Dir, err)
	}
	q.mu.Lock()
	q.entries = append(q.entries, entry{seq: seq, kind: kind, created: now, size: size})
	if n := len(q.entries); n > 1 && q.entries[n-2].seq > seq {
		sort.Slice(q.entries, func(i, j int) bool { return q.entries[i].seq < q.entries[j].seq })
	}
	q.bytes += size
	q.mu.Unlock()
	q.signal()
	return seq, nil
}

func (q *Queue) writeFile(seq uint64, buf []byte) error {
	final := filepath.Join(q.cfg.Dir, recName(seq))
	tmp := final + tmpExt
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(buf)
	if err == nil && !q.cfg.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if !q.cfg.NoSync {
		syncDir(q.cfg.Dir)
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// Peek returns the oldest readable record without removing it. Unreadable records found on
// the way are deleted and counted as corrupt. ok is false when the queue is empty.
func (q *Queue) Peek() (rec Record, ok bool, err error) {
	for {
		q.mu.Lock()
		q.enforceLocked(0)
		if len(q.entries) == 0 {
			q.mu.Unlock()
			return Record{}, false, nil
		}
		e := q.entries[0]
		q.mu.Unlock()
		rec, err := q.read(e)
		if err == nil {
			return rec, true, nil
		}
		if errors.Is(err, fs.ErrNotExist) && !q.has(e.seq) {
			continue // removed concurrently
		}
		q.discard(e.seq, DropCorrupt)
	}
}

func (q *Queue) has(seq uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.index(seq) >= 0
}

func (q *Queue) read(e entry) (Record, error) {
	b, err := os.ReadFile(filepath.Join(q.cfg.Dir, recName(e.seq)))
	if err != nil {
		return Record{}, err
	}
	kind, created, plen, crc, err := parseHeader(b)
	if err != nil {
		return Record{}, err
	}
	if len(b) != hdrSize+len(kind)+int(plen) {
		return Record{}, errors.New("truncated")
	}
	if crc32.Update(crc32.Checksum(b[:18], castagnoli), castagnoli, b[hdrSize:]) != crc {
		return Record{}, errors.New("checksum mismatch")
	}
	return Record{Seq: e.seq, Kind: kind, Created: time.Unix(0, created), Payload: b[hdrSize+len(kind):]}, nil
}

// Remove deletes a record after its successful upload.
func (q *Queue) Remove(seq uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.removeLocked(seq)
}

// Discard deletes a record that will never be delivered and counts it under reason.
func (q *Queue) Discard(seq uint64, reason string) { q.discard(seq, reason) }

func (q *Queue) discard(seq uint64, reason string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.removeLocked(seq) == nil {
		q.drops.add(reason, 1)
		q.saveDropsLocked()
	}
}

func (q *Queue) index(seq uint64) int {
	i := sort.Search(len(q.entries), func(i int) bool { return q.entries[i].seq >= seq })
	if i < len(q.entries) && q.entries[i].seq == seq {
		return i
	}
	return -1
}

func (q *Queue) removeLocked(seq uint64) error {
	i := q.index(seq)
	if i < 0 {
		return fmt.Errorf("queue: record %d not found", seq)
	}
	e := q.entries[i]
	q.entries = append(q.entries[:i], q.entries[i+1:]...)
	q.bytes -= e.size
	if err := os.Remove(filepath.Join(q.cfg.Dir, recName(seq))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("queue: remove record %d: %w", seq, err)
	}
	return nil
}

// enforceLocked drops expired records, then the oldest ones until incoming more bytes fit.
func (q *Queue) enforceLocked(incoming int64) {
	now := q.cfg.Now().UnixNano()
	maxAge := int64(q.cfg.MaxAge)
	changed := false
	for len(q.entries) > 0 {
		// A record "from the future" means the clock jumped backwards; its age counts as 0
		// so the jump never deletes data, and the byte bound still caps it.
		age := now - q.entries[0].created
		if age <= maxAge {
			break
		}
		_ = q.removeLocked(q.entries[0].seq)
		q.drops.add(DropExpired, 1)
		changed = true
	}
	if q.evictOldestLocked(incoming, DropOverflow) {
		changed = true
	}
	if changed {
		q.saveDropsLocked()
	}
}

func (q *Queue) evictOldestLocked(incoming int64, reason string) bool {
	changed := false
	for len(q.entries) > 0 && q.bytes+incoming > q.cfg.MaxBytes {
		_ = q.removeLocked(q.entries[0].seq)
		q.drops.add(reason, 1)
		changed = true
	}
	return changed
}

// Notify returns a channel that receives a value whenever a record is appended.
func (q *Queue) Notify() <-chan struct{} { return q.notify }

func (q *Queue) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// Len returns the number of queued records.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries)
}

// Stats returns a snapshot.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Stats{Records: len(q.entries), Bytes: q.bytes, Dropped: clone(q.drops.Total), Unreported: q.drops.unreported()}
}

// TakeUnreported returns the drop counts not handed out before and marks them reported,
// so the SDK can emit each dropped count upstream exactly once.
func (q *Queue) TakeUnreported() map[string]int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.drops.unreported()
	if len(u) == 0 {
		return nil
	}
	q.drops.Reported = clone(q.drops.Total)
	q.saveDropsLocked()
	return u
}

// CountDrop counts n items discarded by a caller (the uploader, the exporter) under reason.
func (q *Queue) CountDrop(reason string, n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.drops.add(reason, n)
	q.saveDropsLocked()
}

func (q *Queue) saveDropsLocked() {
	_ = q.drops.save(filepath.Join(q.cfg.Dir, dropFile), !q.cfg.NoSync)
}
