package usbmux

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"howett.net/plist"

	"github.com/fleetlens/fleetlens/devicefarm/sim/catalog"
)

// usbmuxd result codes (usbmuxd's RESULT_* values, as libusbmuxd decodes them).
const (
	ResultOK          = 0
	ResultBadCommand  = 1
	ResultBadDevice   = 2
	ResultConnRefused = 3
	ResultBadVersion  = 6
)

const (
	lockdownPort   = 62078
	maxMuxMessage  = 1 << 20
	muxHeaderSize  = 16
	muxTypePlist   = 8
	muxVersionPlst = 1
)

// Config configures a simulated usbmuxd and its fleet.
type Config struct {
	// SocketPath is the Unix socket clients reach via USBMUXD_SOCKET_ADDRESS=UNIX://PATH.
	SocketPath string
	// Count devices are drawn from catalog.Fleet(catalog.IOS, Count, Seed).
	Count int
	Seed  string
	// CrashOnOSVersion, if set, makes apps installed on devices running that ProductVersion
	// leave a crash report right after installation (Faults.CrashAfterInstall).
	CrashOnOSVersion string
	// CrashApp limits CrashOnOSVersion to one bundle id; empty means every app.
	CrashApp string
	// HandshakeTimeout bounds a TLS handshake; a client that stalls is cut after it. Default 10s.
	HandshakeTimeout time.Duration
	// RestartDelay is how long a device restarted through diagnostics_relay stays away. Default 2s.
	RestartDelay time.Duration
	// PKI lets several servers share one certificate set; nil generates one.
	PKI    *PKI
	Logger *slog.Logger
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	switch {
	case c.SocketPath == "":
		return errors.New("usbmux: SocketPath is required")
	case c.Count < 0 || c.Count > 10000:
		return fmt.Errorf("usbmux: Count %d out of range 0..10000", c.Count)
	case c.HandshakeTimeout < 0 || c.RestartDelay < 0:
		return errors.New("usbmux: negative timeout")
	}
	return nil
}

// Server is a simulated usbmuxd with the devices behind it.
type Server struct {
	cfg    Config
	log    *slog.Logger
	pki    *PKI
	buid   string
	hostID string

	mu       sync.Mutex
	ln       net.Listener
	devices  []*Device
	watchers map[chan muxEvent]struct{}
	clients  map[net.Conn]struct{}
	done     chan struct{}
	wg       sync.WaitGroup
}

type muxEvent struct {
	d        *Device
	attached bool
}

// NewServer builds the fleet (devices attached) without listening yet.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.RestartDelay == 0 {
		cfg.RestartDelay = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p := cfg.PKI
	if p == nil {
		var err error
		if p, err = NewPKI(); err != nil {
			return nil, err
		}
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, pki: p,
		buid: newUUID(), hostID: newUUID(),
		watchers: map[chan muxEvent]struct{}{},
		clients:  map[net.Conn]struct{}{},
		done:     make(chan struct{}),
	}
	for i, inst := range catalog.Fleet(catalog.IOS, cfg.Count, cfg.Seed) {
		s.devices = append(s.devices, newDevice(s, i+1, inst))
	}
	return s, nil
}

// PKI returns the certificate set behind the pair records.
func (s *Server) PKI() *PKI { return s.pki }

// SocketAddress is the value for USBMUXD_SOCKET_ADDRESS.
func (s *Server) SocketAddress() string { return "UNIX://" + s.cfg.SocketPath }

// Devices returns every device, attached or not, in DeviceID order.
func (s *Server) Devices() []*Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Device(nil), s.devices...)
}

// Device finds a device by UDID.
func (s *Server) Device(udid string) (*Device, bool) {
	for _, d := range s.Devices() {
		if d.UDID() == udid {
			return d, true
		}
	}
	return nil, false
}

func (s *Server) deviceByID(id int) *Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || id > len(s.devices) {
		return nil
	}
	return s.devices[id-1]
}

// Start listens on the socket (replacing a stale socket file) and serves until Shutdown.
func (s *Server) Start(ctx context.Context) error {
	if fi, err := os.Lstat(s.cfg.SocketPath); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.Dial("unix", s.cfg.SocketPath); err == nil {
			c.Close()
			return fmt.Errorf("usbmux: %s is in use by a running usbmuxd", s.cfg.SocketPath)
		}
		_ = os.Remove(s.cfg.SocketPath)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", s.cfg.SocketPath)
	if err != nil {
		return fmt.Errorf("usbmux: listen on %s: %w", s.cfg.SocketPath, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.trackClient(c) {
				c.Close()
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveClient(c)
			}()
		}
	}()
	s.log.Info("usbmuxd simulator listening", "socket", s.cfg.SocketPath, "devices", len(s.devices))
	return nil
}

func (s *Server) trackClient(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return false
	default:
	}
	s.clients[c] = struct{}{}
	return true
}

func (s *Server) untrackClient(c net.Conn) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
}

// Shutdown stops listening, cuts every connection and waits for handlers (or ctx).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.clients {
		c.Close()
	}
	s.mu.Unlock()
	for _, d := range s.Devices() {
		d.mu.Lock()
		for c := range d.conns {
			c.Close()
		}
		d.mu.Unlock()
	}
	ch := make(chan struct{})
	go func() { s.wg.Wait(); close(ch) }()
	select {
	case <-ch:
		_ = os.Remove(s.cfg.SocketPath)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("usbmux: shutdown: %w", ctx.Err())
	}
}

func (s *Server) broadcast(d *Device, attached bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.watchers {
		select {
		case ch <- muxEvent{d, attached}:
		default:
			// A listener that stopped reading loses its subscription, not the server.
			delete(s.watchers, ch)
			close(ch)
		}
	}
}

// serveClient speaks the usbmuxd plist protocol until the client leaves, listens, or
// connects through to a device (then the socket belongs to that device service).
func (s *Server) serveClient(c net.Conn) {
	handedOff := false
	defer func() {
		if !handedOff {
			s.untrackClient(c)
			c.Close()
		}
	}()
	var hdr [muxHeaderSize]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		length := binary.LittleEndian.Uint32(hdr[0:])
		version := binary.LittleEndian.Uint32(hdr[4:])
		msgType := binary.LittleEndian.Uint32(hdr[8:])
		tag := binary.LittleEndian.Uint32(hdr[12:])
		if length < muxHeaderSize || length > maxMuxMessage {
			// The stream cannot be re-synchronised: real usbmuxd drops such a client.
			s.log.Warn("usbmux: bad header length, dropping client", "length", length)
			return
		}
		body := make([]byte, length-muxHeaderSize)
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		if version != muxVersionPlst || msgType != muxTypePlist {
			if writeResult(c, tag, ResultBadVersion) != nil {
				return
			}
			continue
		}
		req, err := decodePlist(body)
		if err != nil {
			s.log.Warn("usbmux: payload is not a plist, dropping client", "err", err)
			_ = writeResult(c, tag, ResultBadCommand)
			return
		}
		mt, _ := req["MessageType"].(string)
		switch mt {
		case "ListDevices":
			err = writeMux(c, tag, map[string]any{"DeviceList": s.deviceList()})
		case "ReadBUID":
			err = writeMux(c, tag, map[string]any{"BUID": s.buid})
		case "ReadPairRecord":
			id, _ := req["PairRecordID"].(string)
			d, ok := s.Device(id)
			if !ok {
				err = writeResult(c, tag, ResultBadDevice)
				break
			}
			err = writeMux(c, tag, map[string]any{"PairRecordData": s.pairRecord(d)})
		case "SavePairRecord", "DeletePairRecord":
			err = writeResult(c, tag, ResultOK)
		case "Listen":
			if writeResult(c, tag, ResultOK) == nil {
				s.listen(c)
			}
			return
		case "Connect":
			id := toInt(req["DeviceID"])
			port := uint16(toInt(req["PortNumber"]))
			port = port>>8 | port<<8 // the client sends it in network byte order
			d := s.deviceByID(id)
			if d == nil || !d.Attached() {
				err = writeResult(c, tag, ResultBadDevice)
				break
			}
			service := "lockdownd"
			if port != lockdownPort {
				var ok bool
				if service, ok = d.takeService(port); !ok {
					err = writeResult(c, tag, ResultConnRefused)
					break
				}
			}
			if !d.track(c) {
				err = writeResult(c, tag, ResultBadDevice)
				break
			}
			if err = writeResult(c, tag, ResultOK); err != nil {
				d.untrack(c)
				return
			}
			handedOff = true
			s.untrackClient(c)
			d.serve(c, service)
			return
		default:
			err = writeResult(c, tag, ResultBadCommand)
		}
		if err != nil {
			return
		}
	}
}

func (s *Server) listen(c net.Conn) {
	ch := make(chan muxEvent, 1024)
	s.mu.Lock()
	s.watchers[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if _, ok := s.watchers[ch]; ok {
			delete(s.watchers, ch)
			close(ch)
		}
		s.mu.Unlock()
	}()
	for _, d := range s.Devices() {
		if d.Attached() {
			if writeMux(c, 0, attachedMsg(d)) != nil {
				return
			}
		}
	}
	gone := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, c); close(gone) }()
	for {
		select {
		case <-gone:
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			msg := attachedMsg(ev.d)
			if !ev.attached {
				msg = map[string]any{"MessageType": "Detached", "DeviceID": ev.d.id}
			}
			if writeMux(c, 0, msg) != nil {
				return
			}
		}
	}
}

func attachedMsg(d *Device) map[string]any {
	return map[string]any{
		"MessageType": "Attached",
		"DeviceID":    d.id,
		"Properties": map[string]any{
			"ConnectionSpeed": 480000000,
			"ConnectionType":  "USB",
			"DeviceID":        d.id,
			"LocationID":      0x01100000 + d.id,
			"ProductID":       productID(d),
			"SerialNumber":    d.UDID(),
			"USBSerialNumber": strings.ReplaceAll(d.UDID(), "-", ""),
		},
	}
}

// productID is the USB product id Apple uses: 0x12a8 for iPhones, 0x12ab for iPads.
func productID(d *Device) int {
	if strings.HasPrefix(d.productType, "iPad") {
		return 0x12ab
	}
	return 0x12a8
}

func (s *Server) deviceList() []any {
	list := []any{}
	for _, d := range s.Devices() {
		if d.Attached() {
			list = append(list, attachedMsg(d))
		}
	}
	return list
}

func (s *Server) pairRecord(d *Device) []byte {
	rec := map[string]any{
		"DeviceCertificate": s.pki.DeviceCertPEM,
		"HostCertificate":   s.pki.HostCertPEM,
		"HostPrivateKey":    s.pki.HostKeyPEM,
		"RootCertificate":   s.pki.RootCertPEM,
		"RootPrivateKey":    s.pki.RootKeyPEM,
		"HostID":            s.hostID,
		"SystemBUID":        s.buid,
		"WiFiMACAddress":    d.wifiMAC,
		"EscrowBag":         escrowBag(d),
	}
	b, _ := plist.Marshal(rec, plist.XMLFormat)
	return b
}

func escrowBag(d *Device) []byte {
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b, d.ecid)
	return b
}

func writeResult(w io.Writer, tag uint32, n int) error {
	return writeMux(w, tag, map[string]any{"MessageType": "Result", "Number": n})
}

func writeMux(w io.Writer, tag uint32, v any) error {
	body, err := plist.Marshal(v, plist.XMLFormat)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	var hdr [muxHeaderSize]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(muxHeaderSize+len(body)))
	binary.LittleEndian.PutUint32(hdr[4:], muxVersionPlst)
	binary.LittleEndian.PutUint32(hdr[8:], muxTypePlist)
	binary.LittleEndian.PutUint32(hdr[12:], tag)
	buf.Write(hdr[:])
	buf.Write(body)
	_, err = w.Write(buf.Bytes())
	return err
}

func toInt(v any) int {
	switch n := v.(type) {
	case uint64:
		return int(n)
	case int64:
		return int(n)
	case float64:
		return int(n)
	}
	return -1
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]))
}
