package adbd

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
)

// maxStreams bounds the streams one host may hold open on a device. adbd has no explicit
// limit but runs out of fds long before this; past it we refuse OPENs with CLSE as adbd does
// when a service cannot start.
const maxStreams = 1024

// conn is one adb transport (one TCP connection from an adb server) to a device.
type conn struct {
	dev *Device
	nc  net.Conn
	log *slog.Logger

	wmu sync.Mutex // one packet written at a time

	mu      sync.Mutex
	streams map[uint32]*stream
	nextID  uint32
	online  bool
	maxData uint32
	closed  bool

	ctx    context.Context
	cancel context.CancelFunc
}

func newConn(ctx context.Context, d *Device, nc net.Conn) *conn {
	c := &conn{dev: d, nc: nc, streams: map[uint32]*stream{}, maxData: defaultMaxData,
		log: d.log.With("remote", nc.RemoteAddr().String())}
	c.ctx, c.cancel = context.WithCancel(ctx)
	return c
}

func (c *conn) send(cmd, arg0, arg1 uint32, payload []byte) error {
	buf := encodePacket(cmd, arg0, arg1, payload)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(buf)
	return err
}

func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	streams := c.streams
	c.streams = map[uint32]*stream{}
	c.mu.Unlock()
	c.cancel()
	_ = c.nc.Close()
	for _, s := range streams {
		s.finish()
	}
}

// serve reads packets until the connection ends. It is the only goroutine per idle device
// connection; streams get a goroutine only while a service runs.
func (c *conn) serve() {
	defer c.close()
	r := bufio.NewReaderSize(c.nc, 4096)
	hdr := make([]byte, headerSize)
	for {
		h, payload, err := readPacket(r, hdr, c.maxData)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && c.ctx.Err() == nil {
				// adbd drops the transport on a bad header or short read; so do we.
				c.log.Warn("adbd: dropping transport", "err", err)
			}
			return
		}
		if err := c.handle(h, payload); err != nil {
			c.log.Debug("adbd: write failed", "err", err)
			return
		}
	}
}

func (c *conn) handle(h header, payload []byte) error {
	switch h.cmd {
	case cmdCNXN:
		return c.onConnect(h, payload)
	case cmdAUTH:
		return c.onAuth(h, payload)
	}
	c.mu.Lock()
	online := c.online
	c.mu.Unlock()
	if !online {
		c.log.Debug("adbd: packet before connection", "cmd", cmdName(h.cmd))
		return nil
	}
	switch h.cmd {
	case cmdOPEN:
		return c.onOpen(h, payload)
	case cmdOKAY:
		if s := c.stream(h.arg1); s != nil {
			if s.remoteID == 0 {
				s.remoteID = h.arg0
			}
			select {
			case s.acked <- struct{}{}:
			default:
			}
		}
	case cmdWRTE:
		s := c.stream(h.arg1)
		if s == nil {
			// adbd answers a write to an unknown stream by closing it.
			return c.send(cmdCLSE, 0, h.arg0, nil)
		}
		if !s.wantsInput || len(payload) == 0 {
			return c.send(cmdOKAY, s.localID, s.remoteID, nil)
		}
		select {
		case s.in <- payload:
		default:
			c.log.Warn("adbd: host sent a second WRTE before our OKAY", "stream", s.localID)
			s.finishAndClose()
		}
	case cmdCLSE:
		if s := c.stream(h.arg1); s != nil {
			s.closedByHost.Store(true)
			s.finish()
		}
	case cmdSYNC, cmdSTLS:
		c.log.Debug("adbd: ignoring", "cmd", cmdName(h.cmd))
	default:
		c.log.Warn("adbd: unknown command", "cmd", cmdName(h.cmd))
	}
	return nil
}

func (c *conn) onConnect(h header, payload []byte) error {
	if h.arg1 != 0 && h.arg1 < c.maxData {
		c.maxData = h.arg1
	}
	if h.arg1 < 4096 && h.arg1 != 0 {
		c.maxData = 4096
	}
	c.log.Debug("adbd: CNXN", "version", h.arg0, "maxdata", h.arg1, "banner", strings.TrimRight(string(payload), "\x00"))
	switch c.dev.connectMode() {
	case modeOffline:
		// Never answer: the adb server lists the device as offline.
		return nil
	case modeUnauthorized, modeAuth:
		return c.sendAuthToken()
	}
	return c.goOnline()
}

func (c *conn) sendAuthToken() error {
	tok := make([]byte, 20)
	_, _ = rand.Read(tok)
	return c.send(cmdAUTH, authToken, 0, tok)
}

func (c *conn) onAuth(h header, _ []byte) error {
	switch c.dev.connectMode() {
	case modeAuth:
		// Accept any key: the simulator does not model the user's allow dialog.
		if h.arg0 == authSignature || h.arg0 == authRSAPublicKey {
			return c.goOnline()
		}
	case modeUnauthorized:
		if h.arg0 == authSignature {
			// A signature from an unknown key: ask again, the host then offers its public key
			// and waits for a user who never taps "Allow".
			return c.sendAuthToken()
		}
	}
	return nil
}

func (c *conn) goOnline() error {
	c.mu.Lock()
	c.online = true
	c.mu.Unlock()
	return c.send(cmdCNXN, protocolVersion, defaultMaxData, []byte(c.dev.banner()))
}

func (c *conn) stream(id uint32) *stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[id]
}

func (c *conn) onOpen(h header, payload []byte) error {
	svc := strings.TrimRight(string(payload), "\x00")
	if h.arg0 == 0 {
		c.log.Warn("adbd: OPEN with remote id 0", "service", svc)
		return nil
	}
	handler, wantsInput, ok := c.dev.lookupService(svc)
	if !ok {
		c.log.Info("adbd: unknown service", "service", svc)
		return c.send(cmdCLSE, 0, h.arg0, nil)
	}
	c.mu.Lock()
	if len(c.streams) >= maxStreams {
		c.mu.Unlock()
		c.log.Warn("adbd: too many streams, refusing", "service", svc, "open", maxStreams)
		return c.send(cmdCLSE, 0, h.arg0, nil)
	}
	c.nextID++
	s := &stream{c: c, localID: c.nextID, remoteID: h.arg0, wantsInput: wantsInput,
		in: make(chan []byte, 1), acked: make(chan struct{}, 1), done: make(chan struct{})}
	c.streams[s.localID] = s
	c.mu.Unlock()
	if err := c.send(cmdOKAY, s.localID, s.remoteID, nil); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.ctx)
	go func() {
		defer cancel()
		go func() {
			select {
			case <-s.done:
			case <-ctx.Done():
			}
			cancel()
		}()
		handler(ctx, s)
		s.finishAndClose()
	}()
	return nil
}

// stream is one adb stream between a host socket and a device service. Reads consume the
// host's WRTE payloads and acknowledge each once fully consumed; writes wait for the host's
// OKAY after every WRTE, so at most one WRTE is outstanding per direction.
type stream struct {
	c                 *conn
	localID, remoteID uint32
	wantsInput        bool
	in                chan []byte
	cur               []byte
	acked             chan struct{}
	done              chan struct{}
	once              sync.Once
	closedByHost      atomic.Bool
}

func (s *stream) Read(p []byte) (int, error) {
	if len(s.cur) == 0 {
		select {
		case b := <-s.in:
			s.cur = b
		case <-s.done:
			// Drain a payload that raced with the close.
			select {
			case b := <-s.in:
				s.cur = b
			default:
				return 0, io.EOF
			}
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	if len(s.cur) == 0 {
		if err := s.c.send(cmdOKAY, s.localID, s.remoteID, nil); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (s *stream) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), int(s.c.maxData))
		select {
		case <-s.done:
			return written, io.ErrClosedPipe
		default:
		}
		if err := s.c.send(cmdWRTE, s.localID, s.remoteID, p[:n]); err != nil {
			return written, err
		}
		select {
		case <-s.acked:
		case <-s.done:
			return written, io.ErrClosedPipe
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// finish marks the stream ended without telling the host (it closed, or the link died).
func (s *stream) finish() {
	s.once.Do(func() {
		s.c.mu.Lock()
		delete(s.c.streams, s.localID)
		s.c.mu.Unlock()
		close(s.done)
	})
}

// finishAndClose ends the stream and sends CLSE unless the host closed it first.
func (s *stream) finishAndClose() {
	first := false
	s.once.Do(func() {
		first = true
		s.c.mu.Lock()
		delete(s.c.streams, s.localID)
		s.c.mu.Unlock()
		close(s.done)
	})
	if first && !s.closedByHost.Load() {
		_ = s.c.send(cmdCLSE, s.localID, s.remoteID, nil)
	}
}
