package adbd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// raw is a bare adb transport client speaking packets directly to a device.
type raw struct {
	t  *testing.T
	c  net.Conn
	r  *bufio.Reader
	hb []byte
}

func dialRaw(t *testing.T, d *Device) *raw {
	t.Helper()
	c, err := net.Dial("tcp", d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, c: c, r: bufio.NewReader(c), hb: make([]byte, headerSize)}
}

func (r *raw) send(cmd, a0, a1 uint32, p []byte) {
	r.t.Helper()
	if _, err := r.c.Write(encodePacket(cmd, a0, a1, p)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) recv() (header, []byte, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return readPacket(r.r, r.hb, defaultMaxData)
}

func (r *raw) connect() {
	r.t.Helper()
	r.send(cmdCNXN, protocolVersion, defaultMaxData, []byte("host::features=shell_v2\x00"))
	h, p, err := r.recv()
	if err != nil || h.cmd != cmdCNXN {
		r.t.Fatalf("handshake: %s %q %v", cmdName(h.cmd), p, err)
	}
}

// alive checks the device still completes a handshake and runs a shell on a fresh transport.
func alive(t *testing.T, d *Device) {
	t.Helper()
	r := dialRaw(t, d)
	r.connect()
	r.send(cmdOPEN, 77, 0, []byte("shell:echo up\x00"))
	var out []byte
	for {
		h, p, err := r.recv()
		if err != nil {
			t.Fatalf("after bad input the device is not serving: %v", err)
		}
		switch h.cmd {
		case cmdWRTE:
			out = append(out, p...)
			r.send(cmdOKAY, 77, h.arg0, nil)
		case cmdCLSE:
			if string(out) != "up\n" {
				t.Fatalf("shell output %q", out)
			}
			return
		}
	}
}

func TestBadInput(t *testing.T) {
	f, err := NewFleet(Config{Count: 1, TimeScale: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Shutdown(context.Background()) })
	d := f.Devices()[0]

	dropped := func(t *testing.T, r *raw) {
		t.Helper()
		_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(r.r); err != nil {
			t.Fatalf("expected the device to close the transport, got %v", err)
		}
	}
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"garbage bytes", func(t *testing.T) {
			r := dialRaw(t, d)
			r.c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			dropped(t, r)
		}},
		{"truncated header", func(t *testing.T) {
			r := dialRaw(t, d)
			r.c.Write(encodePacket(cmdCNXN, protocolVersion, defaultMaxData, nil)[:10])
			r.c.(*net.TCPConn).CloseWrite()
			dropped(t, r)
		}},
		{"truncated payload", func(t *testing.T) {
			r := dialRaw(t, d)
			p := encodePacket(cmdCNXN, protocolVersion, defaultMaxData, []byte("host::\x00"))
			r.c.Write(p[:len(p)-3])
			r.c.(*net.TCPConn).CloseWrite()
			dropped(t, r)
		}},
		{"payload above maxdata", func(t *testing.T) {
			r := dialRaw(t, d)
			r.connect()
			hdr := encodePacket(cmdWRTE, 1, 1, nil)
			binary.LittleEndian.PutUint32(hdr[12:], defaultMaxData+1)
			r.c.Write(hdr)
			dropped(t, r)
		}},
		{"open before connect is ignored", func(t *testing.T) {
			r := dialRaw(t, d)
			r.send(cmdOPEN, 5, 0, []byte("shell:id\x00"))
			r.connect()
		}},
		{"unknown service gets CLSE", func(t *testing.T) {
			r := dialRaw(t, d)
			r.connect()
			for _, svc := range []string{"jdwp:1234", "framebuffer:", "nonsense", "tcp:1", "localabstract:chrome_devtools_remote"} {
				r.send(cmdOPEN, 9, 0, []byte(svc+"\x00"))
				h, _, err := r.recv()
				if err != nil || h.cmd != cmdCLSE || h.arg1 != 9 {
					t.Fatalf("OPEN %s: got %s arg1=%d err=%v", svc, cmdName(h.cmd), h.arg1, err)
				}
			}
		}},
		{"write to unknown stream gets CLSE", func(t *testing.T) {
			r := dialRaw(t, d)
			r.connect()
			r.send(cmdWRTE, 4, 999, []byte("x"))
			h, _, err := r.recv()
			if err != nil || h.cmd != cmdCLSE || h.arg1 != 4 {
				t.Fatalf("got %s %v", cmdName(h.cmd), err)
			}
		}},
		{"interactive shell v2", func(t *testing.T) {
			r := dialRaw(t, d)
			r.connect()
			r.send(cmdOPEN, 21, 0, []byte("shell,v2,TERM=xterm-256color,pty:\x00"))
			h, _, _ := r.recv()
			if h.cmd != cmdOKAY {
				t.Fatalf("open: %s", cmdName(h.cmd))
			}
			local := h.arg0
			stdin := func(s string) {
				p := append([]byte{v2Stdin, byte(len(s)), 0, 0, 0}, s...)
				r.send(cmdWRTE, 21, local, p)
			}
			var out []byte
			exit := -1
			read := func(until func() bool) {
				for !until() {
					h, p, err := r.recv()
					if err != nil {
						t.Fatalf("reading: %v (so far %q)", err, out)
					}
					switch h.cmd {
					case cmdWRTE:
						for len(p) >= 5 {
							n := int(binary.LittleEndian.Uint32(p[1:]))
							if p[0] == v2Exit {
								exit = int(p[5])
							} else {
								out = append(out, p[5:5+n]...)
							}
							p = p[5+n:]
						}
						r.send(cmdOKAY, 21, local, nil)
					case cmdCLSE:
						return
					}
				}
			}
			read(func() bool { return bytes.Contains(out, []byte(":/ $ ")) })
			stdin("getprop ro.build.version.sdk\r")
			read(func() bool { return bytes.Contains(out, []byte("34\r\n")) && bytes.Count(out, []byte(":/ $ ")) == 2 })
			stdin("false\rexit\r")
			read(func() bool { return exit >= 0 })
			if exit != 1 {
				t.Fatalf("exit status %d after false; output %q", exit, out)
			}
		}},
		{"bad sync request", func(t *testing.T) {
			r := dialRaw(t, d)
			r.connect()
			r.send(cmdOPEN, 3, 0, []byte("sync:\x00"))
			h, _, _ := r.recv()
			if h.cmd != cmdOKAY {
				t.Fatalf("sync open: %s", cmdName(h.cmd))
			}
			local := h.arg0
			r.send(cmdWRTE, 3, local, []byte("ZZZZ\x04\x00\x00\x00abcd"))
			var sawFail, sawClose bool
			for !sawClose {
				h, p, err := r.recv()
				if err != nil {
					t.Fatal(err)
				}
				if h.cmd == cmdWRTE {
					sawFail = sawFail || string(p[:4]) == "FAIL"
					r.send(cmdOKAY, 3, local, nil)
				}
				sawClose = h.cmd == cmdCLSE
			}
			if !sawFail {
				t.Fatal("no FAIL for an unknown sync request")
			}
		}},
		{"1100 streams: 1024 open, the rest refused", func(t *testing.T) {
			r := dialRaw(t, d)
			r.connect()
			go func() {
				for i := 1; i <= 1100; i++ {
					r.send(cmdOPEN, uint32(i), 0, []byte("sync:\x00"))
				}
			}()
			okay, clse := 0, 0
			for okay+clse < 1100 {
				h, _, err := r.recv()
				if err != nil {
					t.Fatal(err)
				}
				switch h.cmd {
				case cmdOKAY:
					okay++
				case cmdCLSE:
					clse++
				}
			}
			if okay != maxStreams || clse != 1100-maxStreams {
				t.Fatalf("okay %d clse %d", okay, clse)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t)
			alive(t, d)
		})
	}
}
